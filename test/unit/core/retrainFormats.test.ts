/**
 * Condense–retrain in every format, from the CLI with only the data flags (short rounds, and a wide
 * tolerance: these fixtures are small and barely trained, so what is checked is the mechanics): Keras
 * .h5 and .keras, ONNX exported by PyTorch (a GELU MLP, and a CNN classifier with BatchNormalization,
 * pooling and a channel-major Flatten), PyTorch .safetensors and .pt. The written file loads in its
 * own runtime (onnxruntime for ONNX, the project's readers otherwise), has fewer parameters, and its
 * validation metric — recomputed there — is the one the report gives for the written round. Then the
 * trainer's refusals and the data checks: one line naming the file and the problem, exit 2.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as Ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../../src/core/analyze';
import { loadOnnxRuntime } from '../../../src/core/compute/engines';
import { GraphEvaluator, isUnsupported } from '../../../src/core/compute/evaluator';
import { uniformSamples } from '../../../src/core/data/random';
import { keptUnits } from '../../../src/core/estimate';
import { CondenseReport } from '../../../src/core/reduction/report';
import { buildTrainable } from '../../../src/core/train/network';
import { graphParams } from '../../../src/core/train/rounds';
import { thresholdRemoving } from '../../../src/core/train/schedule';
import { runCliText } from '../../helpers/cli';
import { writeRetrainData } from '../../fixtures/retrain/data';
import { tempDir } from '../../helpers/models';
import { readJson, useCpu } from '../../helpers/tfjs';

const FIXTURES = path.resolve(__dirname, '..', '..', 'fixtures');

const mse = (y: ArrayLike<number>, t: number[]): number => t.reduce((s, v, i) => s + (y[i] - v) ** 2, 0) / t.length;

/** The first output of an ONNX file run by onnxruntime itself, one row at a time (exports often fix the batch at 1). */
async function runOnnx(file: string, rows: number[][], sampleShape: number[]): Promise<number[]> {
  const ort: typeof Ort = loadOnnxRuntime();
  const session = await ort.InferenceSession.create(file);
  const out: number[] = [];
  for (const row of rows) {
    const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(row), [1, ...sampleShape]) });
    out.push(...(result[session.outputNames[0]].data as Float32Array));
  }
  await session.release();
  return out;
}

/** The first output by the project's reader and float64 evaluator (rows channels-last). */
async function runEngine(file: string, rows: number[][], sampleShape: number[], activation?: string): Promise<Float64Array> {
  const { graph } = (await loadModel(file, { activation })).source;
  const y = await new GraphEvaluator(graph, { shape: [rows.length, ...sampleShape], data: Float64Array.from(rows.flat()) }).output(graph.outputs[0]);
  if (isUnsupported(y)) throw new Error(y.unsupported);
  return y.data;
}

interface Case {
  name: string;
  model: string;
  /** The written file's name in the output folder. */
  written: string;
  run: (file: string, rows: number[][]) => Promise<ArrayLike<number>>;
  extra?: string[];
}

const flat = (width: number): number[] => [width];
const CASES: Case[] = [
  { name: 'Keras .h5 (Keras 2.0.6)', model: 'keras/combustion-keras2.0.6.h5', written: 'combustion-keras2.0.6.h5', run: (f, x) => runEngine(f, x, flat(3)) },
  { name: 'Keras .keras (Keras 3, with Dropout)', model: 'keras/mlp-keras3.keras', written: 'mlp-keras3.keras', run: (f, x) => runEngine(f, x, flat(6)) },
  { name: 'ONNX exported by PyTorch (ReLU, GELU in erf form)', model: 'onnx/mlp.onnx', written: 'mlp.onnx', run: (f, x) => runOnnx(f, x, flat(6)) },
  { name: 'PyTorch .safetensors', model: 'torch/mlp.safetensors', written: 'mlp.safetensors', run: (f, x) => runEngine(f, x, flat(6), 'relu'), extra: ['--activation', 'relu'] },
  { name: 'PyTorch .pt (written as .safetensors)', model: 'torch/mlp.pt', written: 'mlp.safetensors', run: (f, x) => runEngine(f, x, flat(6), 'relu'), extra: ['--activation', 'relu'] },
];

describe('condense–retrain in every format (CLI, only the data flags)', function () {
  let dir: string;
  before(async () => {
    await useCpu();
    dir = await tempDir();
  });

  for (const c of CASES) {
    it(`${c.name}: the written file is smaller and its validation MSE, recomputed in its runtime, is the one reported`, async () => {
      const model = path.join(FIXTURES, c.model);
      const data = await writeRetrainData(await fs.mkdtemp(path.join(dir, 'data-')), model, { train: 96, val: 64 });
      const out = path.join(dir, `out-${path.basename(c.model)}`);
      const r = await runCliText(
        'reduce', model, '--out', out, '--train-inputs', data.train.inputs, '--train-targets', data.train.targets,
        '--val-inputs', data.val.inputs, '--val-targets', data.val.targets, '--tolerance', '10', '--rounds', '2', '--epochs', '3', '--backend', 'cpu',
        ...(c.extra ?? []),
      );
      assert.strictEqual(r.code, 0, r.out + r.err);
      assert.match(r.out, /Learning rate .* \(range test; validation loss after one epoch at /);
      assert.match(r.out, /Calibration: the training inputs/);
      assert.match(r.out, /Stopped: /);
      const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
      const retrain = report.retrain!;
      const chosen = retrain.rounds.find((x) => x.round === retrain.chosen)!;
      const written = path.join(out, c.written);
      const before = graphParams((await loadModel(model, { activation: 'relu' })).source.graph);
      const after = graphParams((await loadModel(written, { activation: 'relu' })).source.graph);
      assert.ok(after < before, `parameters ${before} → ${after}`);
      assert.strictEqual(after, chosen.params);
      const y = await c.run(written, data.val.x);
      const measured = mse(y, data.val.y.flat());
      assert.ok(Math.abs(measured - chosen.metric) <= 1e-4 * chosen.metric, `reported ${chosen.metric}, measured in the runtime ${measured}`);
      assert.ok(chosen.meets && chosen.change <= 10);
      // The original is untouched and nothing was left beside it.
      const original = await runEngine(model, data.val.x, [data.val.x[0].length], 'relu');
      assert.ok(Math.abs(mse(original, data.val.y.flat()) - retrain.baseline) <= 1e-4 * retrain.baseline);
    });
  }

  it('ONNX CNN classifier (Conv, BatchNormalization, MaxPool, LeakyReLU, channel-major Flatten, softmax): accuracy recomputed by onnxruntime is the one reported', async () => {
    const model = path.join(FIXTURES, 'onnx', 'cnn.onnx');
    const { graph } = (await loadModel(model)).source;
    // Images channels-last for the evaluator, written channels-first as the ONNX file takes them.
    const sets = await Promise.all([[160, 41], [96, 42]].map(async ([rows, seed]) => {
      const u = uniformSamples(rows * 144, 0, 1, seed);
      const y = await new GraphEvaluator(graph, { shape: [rows, 12, 12, 1], data: Float64Array.from(u) }).output(graph.outputs[0]);
      if (isUnsupported(y)) throw new Error(y.unsupported);
      const x = Array.from({ length: rows }, (_, r) => Array.from(u.subarray(r * 144, (r + 1) * 144)));
      // Labels: the original's classes, every fifth one moved on, so the original is not perfect.
      const labels = x.map((_, r) => {
        const scores = Array.from(y.data.subarray(r * 4, (r + 1) * 4));
        const best = scores.indexOf(Math.max(...scores));
        return r % 5 === 0 ? (best + 1) % 4 : best;
      });
      return { x, labels };
    }));
    const files: string[] = [];
    for (const [i, set] of sets.entries()) {
      const xs = path.join(dir, `cnn-x-${i}.json`);
      const ys = path.join(dir, `cnn-y-${i}.json`);
      // One channel: channels-first rows of 12 are the channels-last pixels in the same order.
      await fs.writeFile(xs, JSON.stringify(set.x.map((row) => [Array.from({ length: 12 }, (_, i) => row.slice(12 * i, 12 * i + 12))])));
      await fs.writeFile(ys, JSON.stringify(set.labels));
      files.push(xs, ys);
    }
    const out = path.join(dir, 'out-cnn');
    const r = await runCliText(
      'reduce', model, '--out', out, '--train-inputs', files[0], '--train-targets', files[1], '--val-inputs', files[2], '--val-targets', files[3],
      '--tolerance', '0.5', '--rounds', '2', '--epochs', '2', '--learning-rate', '0.0003', '--backend', 'cpu',
    );
    assert.strictEqual(r.code, 0, r.out + r.err);
    const retrain = (await readJson<CondenseReport>(path.join(out, 'condense-report.json'))).retrain!;
    assert.strictEqual(retrain.metric, 'accuracy');
    assert.deepStrictEqual(retrain.learningRate, { value: 0.0003, chosenBy: 'given' });
    const chosen = retrain.rounds.find((x) => x.round === retrain.chosen)!;
    assert.ok(graphParams((await loadModel(path.join(out, 'cnn.onnx'))).source.graph) < graphParams(graph));
    const y = await runOnnx(path.join(out, 'cnn.onnx'), sets[1].x.map((row) => row), [1, 12, 12]);
    const correct = sets[1].labels.filter((label, r) => {
      const scores = y.slice(r * 4, (r + 1) * 4);
      return scores.indexOf(Math.max(...scores)) === label;
    }).length;
    assert.strictEqual(correct / sets[1].labels.length, chosen.metric);
  });

  it('refuses a graph the trainer cannot build, naming the op and the node (exit 2)', async () => {
    // The engine reads a Subtract (as ONNX Sub), but the trainer has no entry for it.
    const model = path.join(FIXTURES, 'onnx', 'mlp.onnx');
    const loaded = await loadModel(model);
    const graph = loaded.source.graph;
    const node = graph.layers.find((l) => l.className === 'Activation')!;
    const renamed = { ...graph, layers: graph.layers.map((l) => (l === node ? { ...l, className: 'Subtract' } : l)) };
    assert.throws(() => buildTrainable(tf, renamed, model, [6]), (e: Error) => e.name === 'InputError' && e.message.includes(`Subtract "${node.name}"`) && e.message.startsWith(model));
  });

  it('bad data exits 2 with one line naming the file and the problem, before training', async () => {
    const model = path.join(FIXTURES, 'onnx', 'mlp.onnx');
    const data = await writeRetrainData(await fs.mkdtemp(path.join(dir, 'bad-')), model, { train: 32, val: 16 });
    const write = async (name: string, value: unknown): Promise<string> => {
      const file = path.join(dir, name);
      await fs.writeFile(file, typeof value === 'string' ? value : JSON.stringify(value));
      return file;
    };
    const run = (trainTargets: string, trainInputs = data.train.inputs) =>
      runCliText('reduce', model, '--out', path.join(dir, 'never'), '--train-inputs', trainInputs, '--train-targets', trainTargets,
        '--val-inputs', data.val.inputs, '--val-targets', data.val.targets, '--tolerance', '0.1', '--backend', 'cpu');
    const cases: [string, () => Promise<{ code: number; err: string }>, RegExp][] = [
      ['rows that differ', async () => run(await write('short.json', data.train.y.slice(1))), /short\.json: has 31 rows, but .*train-x\.json has 32/],
      ['a width that does not fit', async () => run(await write('wide.json', data.train.y.map((row) => [...row, 0]))), /wide\.json: has 4 values per row/],
      ['NaN', async () => run(await write('nan.csv', data.train.y.map((row, i) => (i === 3 ? ['nan', ...row.slice(1)] : row).join(',')).join('\n'))), /nan\.csv: row 4, column 1 is not a number/],
      ['an empty file', async () => run(data.train.targets, await write('empty.json', [])), /empty\.json: /],
    ];
    for (const [what, attempt, message] of cases) {
      const { code, err } = await attempt();
      assert.strictEqual(code, 2, `${what}: ${err}`);
      assert.match(err, message, what);
      assert.strictEqual(err.trim().split('\n').length, 1, `${what}: one line`);
    }
    await assert.rejects(fs.stat(path.join(dir, 'never')));
  });

  it("each round's threshold removes the chosen fraction of the units left, cut from the trees", async () => {
    const model = await loadModel(path.join(FIXTURES, 'onnx', 'mlp.onnx'));
    const analysis = await analyzeModel(model);
    const cut = thresholdRemoving(analysis.summary, 0.12);
    assert.ok(cut.gamma !== null && cut.gamma > 0 && cut.gamma < 1, String(cut.gamma));
    const gamma = cut.gamma;
    const leads = analysis.summary.layers.filter((l) => l.reducible && l.dendrogram);
    const removed = (g: number): number => leads.reduce((s, l) => s + l.units! - keptUnits(l, g), 0);
    const wanted = Math.ceil(0.12 * cut.units);
    assert.ok(removed(gamma) >= wanted, `removes ${removed(gamma)} of ${cut.units}`);
    assert.strictEqual(removed(gamma), cut.removed);
    // Any higher cut removes fewer than wanted.
    assert.ok(removed(gamma + 1e-9) < wanted);
  });
});
