/**
 * verify --timing: both models measured in their format's runtime, per batch size, beside the
 * multiply-add ratio; the report beside the reduced model keeps it; bad batch sizes and thread counts
 * are refused. Nothing here asserts how fast anything runs: only the structure of real measurements.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { analyzeFile } from '../../../src/core/analyze';
import { loadBackend } from '../../../src/core/compute/backend';
import { estimate } from '../../../src/core/estimate';
import { CancelledError } from '../../../src/core/model/errors';
import { reduceModel } from '../../../src/core/reduce';
import type { CondenseReport, Timing } from '../../../src/core/reduction/report';
import { MAX_TIMED_RUNS, measureTiming, MIN_TIMED_RUNS, quantile, recordTiming } from '../../../src/core/timing';
import * as tf from '@tensorflow/tfjs';
import { runCliText } from '../../helpers/cli';
import { saveLayersModel, tempDir } from '../../helpers/models';
import { readJson, useCpu } from '../../helpers/tfjs';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const ONNX_MLP = path.join(ROOT, 'test', 'fixtures', 'onnx', 'mlp.onnx');
const TORCH_CNN = path.join(ROOT, 'test', 'fixtures', 'torch', 'cnn.pth');
const TORCH_CNN_INPUT = path.join(ROOT, 'test', 'fixtures', 'torch', 'cnn-input.npy');
const SMALL_CNN = path.join(ROOT, 'examples', 'small-cnn', 'model.json');

/** Writes the model reduced at γ into `dir`; returns the folder and the estimate's multiply-add ratio. */
async function reduced(model: string, dir: string, gamma: number): Promise<{ folder: string; macRatio: number }> {
  const { analysis } = await analyzeFile(model, { allowBiasDominated: true });
  const result = await reduceModel(analysis, gamma, dir);
  const t = estimate(analysis.summary, gamma).totals;
  return { folder: result.outDir, macRatio: t.macsBefore / t.macsAfter };
}

/** What every measurement holds, whatever the runtime and the machine's speed. */
function assertMeasured(t: Timing, batches: number[]): void {
  assert.deepStrictEqual(t.batches.map((b) => b.batch), batches);
  for (const b of t.batches) {
    assert.ok(b.runs >= MIN_TIMED_RUNS && b.runs <= MAX_TIMED_RUNS, `runs ${b.runs}`);
    assert.ok(b.originalMs > 0 && b.reducedMs > 0, `${b.originalMs} / ${b.reducedMs}`);
    assert.strictEqual(b.speedup, b.originalMs / b.reducedMs);
    assert.ok(Number.isFinite(b.spread) && b.spread >= 0);
  }
  assert.ok(!Number.isNaN(Date.parse(t.measured)));
}

describe('timing (verify --timing)', function () {
  let dir: string;

  before(async () => {
    await useCpu();
    dir = await tempDir();
  });

  it('quantile: the median of odd and even counts, interpolated quartiles', () => {
    assert.strictEqual(quantile([3, 1, 2], 0.5), 2);
    assert.strictEqual(quantile([4, 1, 3, 2], 0.5), 2.5);
    assert.strictEqual(quantile([1, 2, 3, 4, 5], 0.25), 2);
    assert.strictEqual(quantile([7], 0.75), 7);
  });

  it('ONNX in onnxruntime with the threads asked for: medians per batch size, the MAC ratio of the reduction', async () => {
    const { folder, macRatio } = await reduced(ONNX_MLP, path.join(dir, 'mlp'), 0.3);
    const progress: string[] = [];
    const t = await measureTiming(await loadBackend('cpu'), ONNX_MLP, path.join(folder, 'mlp.onnx'), {
      batches: [4, 1], threads: 1, budgetMs: 30, onProgress: (done, total, what) => progress.push(`${done}/${total} ${what}`),
    });
    assertMeasured(t, [4, 1]);
    assert.match(t.runtime, /^onnxruntime \d+\.\d+\.\d+ \(CPU\)$/);
    assert.strictEqual(t.threads, '1 intra-op thread');
    assert.strictEqual(t.inputs, 'standard-normal samples (seed 1)');
    assert.deepStrictEqual(progress, ['1/2 batch 4', '2/2 batch 1']);
    // A Dense network: the multiply-adds are the kernels' sizes, as the estimate counts them.
    assert.ok(t.macs && t.macs.ratio > 1);
    assert.ok(Math.abs(t.macs.ratio - macRatio) < 1e-9 * macRatio, `${t.macs.ratio} vs ${macRatio}`);
  });

  it('TF.js in tfjs, saying which backend and that it ignores --threads', async () => {
    const { folder } = await reduced(SMALL_CNN, path.join(dir, 'cnn'), 0.5);
    const t = await measureTiming(await loadBackend('cpu'), SMALL_CNN, path.join(folder, 'model.json'), { batches: [2], threads: 2, budgetMs: 20 });
    assertMeasured(t, [2]);
    assert.match(t.runtime, /^tfjs \d+\.\d+\.\d+, the cpu backend \(tfjs-node is not installed\)$/);
    assert.match(t.threads, /--threads is ignored/);
    assert.ok(t.macs && t.macs.ratio >= 1);
  });

  it('PyTorch weights in the evaluator, on data rows repeated to fill a batch; the MAC ratio from the evaluated sizes', async () => {
    const { folder } = await reduced(TORCH_CNN, path.join(dir, 'torch'), 0.3);
    const t = await measureTiming(await loadBackend('cpu'), TORCH_CNN, path.join(folder, 'cnn.safetensors'), { batches: [40], data: TORCH_CNN_INPUT, budgetMs: 20 });
    assertMeasured(t, [40]);
    assert.match(t.runtime, /^condense's evaluator/);
    assert.match(t.inputs, /^16 rows of .*cnn-input\.npy, repeated to fill larger batches$/);
    assert.ok(t.macs && t.macs.ratio > 1, JSON.stringify(t.macs));
    // Without data the image size is unknown: one line naming the model.
    await assert.rejects(measureTiming(await loadBackend('cpu'), TORCH_CNN, path.join(folder, 'cnn.safetensors'), { batches: [1] }), /cnn\.pth: its input has an unknown size/);
  });

  it('stops between runs once cancelled: the batch sizes after it are not timed', async () => {
    const { folder } = await reduced(ONNX_MLP, path.join(dir, 'cancel'), 0.3);
    const cancel = { cancelled: false };
    const progress: string[] = [];
    await assert.rejects(
      measureTiming(await loadBackend('cpu'), ONNX_MLP, path.join(folder, 'mlp.onnx'), {
        batches: [1, 2, 3], budgetMs: 5, cancel,
        onProgress: (_done, _total, what) => {
          progress.push(what);
          cancel.cancelled = true;
        },
      }),
      CancelledError,
    );
    assert.deepStrictEqual(progress, ['batch 1']);
  });

  it('refuses mismatched models and batches too large to hold, before running', async () => {
    const backend = await loadBackend('cpu');
    await assert.rejects(measureTiming(backend, ONNX_MLP, SMALL_CNN, { batches: [1] }), /is tfjs-layers, but the original is onnx/);
    await assert.rejects(measureTiming(backend, SMALL_CNN, SMALL_CNN, { batches: [0] }), /batch sizes: must be whole numbers/);
    // 12288 inputs per sample: 65536 of them take 3 GiB.
    const wide = tf.sequential({ layers: [tf.layers.dense({ inputShape: [12288], units: 2 })] });
    const wideFile = await saveLayersModel(wide, path.join(dir, 'wide'));
    await assert.rejects(measureTiming(backend, wideFile, wideFile, { batches: [65536, 60000] }), /model\.json: a batch of 65536 of its inputs takes 3\.0 GiB/);
  });

  it('keeps the timing in the report beside the reduced model, and only in one that names it', async () => {
    const { folder } = await reduced(ONNX_MLP, path.join(dir, 'kept'), 0.3);
    const before = await readJson<CondenseReport>(path.join(folder, 'condense-report.json'));
    const t = await measureTiming(await loadBackend('cpu'), ONNX_MLP, path.join(folder, 'mlp.onnx'), { batches: [1], budgetMs: 5 });
    assert.strictEqual(await recordTiming(path.join(folder, 'mlp.onnx'), t), path.join(await fs.realpath(folder), 'condense-report.json'));
    const after = await readJson<CondenseReport>(path.join(folder, 'condense-report.json'));
    assert.deepStrictEqual(after.timing, t);
    assert.deepStrictEqual({ ...after, timing: undefined }, { ...before, timing: undefined });
    // A model whose folder's report names another file, or a folder without a report: nothing written.
    const other = path.join(dir, 'other');
    await fs.mkdir(other);
    await fs.copyFile(ONNX_MLP, path.join(other, 'copy.onnx'));
    assert.strictEqual(await recordTiming(path.join(other, 'copy.onnx'), t), null);
    await fs.writeFile(path.join(other, 'condense-report.json'), JSON.stringify(before));
    assert.strictEqual(await recordTiming(path.join(other, 'copy.onnx'), t), null);
    assert.strictEqual(await fs.readFile(path.join(other, 'condense-report.json'), 'utf8'), JSON.stringify(before));
  });

  it('CLI: verify --timing prints the table after the check and keeps it in the report', async () => {
    const { folder } = await reduced(ONNX_MLP, path.join(dir, 'cli'), 0.3);
    const run = await runCliText('verify', ONNX_MLP, folder, '--timing', '--batch', '1,3', '--threads', '1', '--tolerance', '10', '--quiet');
    assert.strictEqual(run.code, 0, run.err);
    assert.match(run.out, /OK: max relative deviation[\s\S]*Runtime: +onnxruntime [\d.]+ \(CPU\)\nThreads: +1 intra-op thread/);
    assert.match(run.out, /batch +original ms +reduced ms +speed-up +MAC ratio +runs +spread\n +1 +[\d.]+ +[\d.]+ +[\d.]+× +[\d.]+× +\d+ +\d+ %\n +3 /);
    assert.match(run.out, /Kept in .*condense-report\.json\./);
    const report = await readJson<CondenseReport>(path.join(folder, 'condense-report.json'));
    assert.deepStrictEqual(report.timing!.batches.map((b) => b.batch), [1, 3]);
  });

  it('CLI: bad --batch and --threads values, and timing flags without --timing or outside verify, exit 2 naming the flag', async () => {
    const base = ['verify', ONNX_MLP, ONNX_MLP, '--timing'];
    const cases: [string[], RegExp][] = [
      [[...base, '--batch', '0'], /--batch must be batch sizes from 1 to 65536, separated by commas \(e\.g\. 1,1024\), got "0"/],
      [[...base, '--batch', '1,,2'], /--batch must be batch sizes/],
      [[...base, '--batch', '1.5'], /--batch must be batch sizes/],
      [[...base, '--batch', 'many'], /--batch must be batch sizes/],
      [[...base, '--batch', '-1'], /--batch must be batch sizes/],
      [[...base, '--batch', '70000'], /--batch must be batch sizes/],
      [[...base, '--batch', '8,8'], /--batch names a batch size twice: "8,8"/],
      [[...base, '--threads', '0'], /--threads must be a whole number of threads from 1 to 1024, got "0"/],
      [[...base, '--threads', 'two'], /--threads must be a whole number/],
      [['verify', ONNX_MLP, ONNX_MLP, '--batch', '4'], /--batch goes with --timing/],
      [['verify', ONNX_MLP, ONNX_MLP, '--threads', '4'], /--threads goes with --timing/],
      [['analyze', ONNX_MLP, '--timing'], /--timing goes with verify/],
    ];
    for (const [argv, expected] of cases) {
      const run = await runCliText(...argv);
      assert.strictEqual(run.code, 2, `${argv.join(' ')}: ${run.err}`);
      assert.match(run.err.split('\n')[0], expected);
      assert.strictEqual(run.out, '', 'nothing is run');
    }
  });
});
