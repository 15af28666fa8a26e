/**
 * The command line as a new user meets it: the built `bin/condense.js` run as a child process (stdout,
 * stderr and exit code as a shell sees them), on the shipped examples and fixtures. Needs `npm run build`.
 */
import * as assert from 'assert';
import { execFile } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import * as tf from '@tensorflow/tfjs';
import { main } from '../../../src/cli/main';
import { Progress } from '../../../src/cli/progress';
import { tempDir } from '../../helpers/models';
import { loadFolderWithTfjs, readJson, useCpu } from '../../helpers/tfjs';
import { version } from '../../../package.json';
import type { AutoResult, CondenseReport } from '../../../src/core/reduction/report';
import type { AnalysisJson } from '../../../src/cli/format';

const ROOT = path.resolve(__dirname, '../../..');
const BIN = path.join(ROOT, 'bin/condense.js');
const COMBUSTION = path.join(ROOT, 'examples/combustion-mlp');
const CNN = path.join(ROOT, 'examples/small-cnn');
const TORCH_MLP = path.join(ROOT, 'test/fixtures/torch/mlp.pt');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function condense(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: ROOT, maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw e;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Exit 2 with one line on stderr (no stack) matching `problem`, after any progress lines. */
function assertRefused(run: Run, problem: RegExp): void {
  assert.strictEqual(run.code, 2, `exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  assert.strictEqual(run.stdout, '');
  const lines = run.stderr.trim().split('\n').filter((line) => line.startsWith('condense:'));
  assert.strictEqual(lines.length, 1, `one line expected:\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /internal error|\n\s+at /);
  assert.match(lines[0], problem);
}

/** A minimal .npy (float32, C order). */
function npy(shape: number[], values: ArrayLike<number>): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(Float32Array.from(values).buffer)]);
}

describe('the command line, run as a user runs it', function () {
  let root: string;
  let cnnRows: string;

  before(async function () {
    if (!existsSync(path.join(ROOT, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run `npm run build` first');
    root = await tempDir();
    // The CNN's probe images without their channel of 1: [N, 12, 12] for a model taking [12, 12, 1].
    const images = await readJson<number[][][][]>(path.join(CNN, 'probe-inputs.json'));
    cnnRows = path.join(root, 'cnn-rows.json');
    await fs.writeFile(cnnRows, JSON.stringify(images.map((image) => image.map((row) => row.map((pixel) => pixel[0])))));
  });

  describe('data files: one rule for every flag', () => {
    it('verify --data refuses rows of the wrong width and a 1-D file, as --calibration does', async () => {
      const wide = path.join(root, 'wide.npy');
      await fs.writeFile(wide, npy([40, 3], new Float32Array(120)));
      const flat = path.join(root, 'flat.npy');
      await fs.writeFile(flat, npy([60], new Float32Array(60)));
      const model = path.join(COMBUSTION, 'model.json');
      assertRefused(await condense('verify', model, model, '--data', wide), /wide\.npy: has samples of shape \[3\], but the model takes \[6\]/);
      assertRefused(await condense('verify', model, model, '--data', flat), /flat\.npy: holds a 1-D array of 60 values; give one row per sample, each of shape \[6\]/);
      assertRefused(await condense('analyze', model, '--calibration', wide), /wide\.npy: has samples of shape \[3\], but the model takes \[6\]/);
    });

    it('rows without their channel of 1 are accepted by verify, --calibration and --auto alike', async () => {
      const verified = await condense('verify', CNN, CNN, '--data', cnnRows, '--quiet');
      assert.strictEqual(verified.code, 0, verified.stderr);
      assert.match(verified.stdout, /Inputs:\s+32 rows of/);
      const calibrated = await condense('analyze', CNN, '--calibration', cnnRows, '--json', '--quiet');
      assert.strictEqual(calibrated.code, 0, calibrated.stderr);
      assert.strictEqual((JSON.parse(calibrated.stdout) as AnalysisJson).calibration, `32 rows of ${cnnRows}`);
      const labels = path.join(root, 'labels.json');
      await fs.writeFile(labels, JSON.stringify(Array.from({ length: 32 }, (_, i) => i % 4)));
      const searched = await condense('analyze', CNN, '--auto', '--tolerance', '0.5', '--val-inputs', cnnRows, '--val-targets', labels, '--json', '--quiet');
      assert.strictEqual(searched.code, 0, searched.stderr);
      assert.strictEqual((JSON.parse(searched.stdout) as AutoResult).validation, `32 rows of ${cnnRows}`);
    });

    it('a value that is not finite is named by row and column', async () => {
      const values = new Float32Array(24);
      values[3 * 6 + 4] = NaN;
      const file = path.join(root, 'nan.npy');
      await fs.writeFile(file, npy([4, 6], values));
      assertRefused(await condense('verify', COMBUSTION, COMBUSTION, '--data', file), /nan\.npy: row 4, column 5 is not a finite number/);
    });
  });

  describe('reduce checks what it wrote', () => {
    it('prints the deviation from the original, records it in the report, and warns past the tolerance', async () => {
      const out = path.join(root, 'combustion');
      const run = await condense('reduce', COMBUSTION, '--out', out, '--quiet');
      assert.strictEqual(run.code, 0, run.stderr);
      assert.match(run.stdout, /Against the original on 128 standard-normal samples: max relative deviation \d\.\d\de[-+]\d+, mean .* \(beyond the tolerance 0\.001\)\./);
      assert.match(run.stderr, /^condense: warning: the reduced model's outputs deviate from the original's by up to/m);
      const { check } = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
      assert.ok(check, 'the report has the check');
      assert.strictEqual(check.inputs, '128 standard-normal samples');
      assert.ok(check.maxRel > 1e-3 && check.withinTolerance === false, JSON.stringify(check));
      assert.strictEqual(check.top1Agreement, null, 'a regression model has no top-1');
    });

    it('for a classifier, prints top-1 agreement and says plainly when the reduction wrecked it', async () => {
      const out = path.join(root, 'wrecked');
      const run = await condense('reduce', CNN, '--out', out, '--threshold', '0.3', '--calibration', cnnRows, '--quiet');
      assert.strictEqual(run.code, 0, run.stderr);
      const { check } = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
      const agreement = check?.top1Agreement;
      assert.ok(typeof agreement === 'number' && agreement < 0.99, JSON.stringify(check));
      assert.match(run.stdout, new RegExp(`top-1 agreement ${(100 * agreement).toFixed(1)} %`));
      assert.match(run.stderr, /warning: the reduced model's top-1 class agrees with the original's on only [\d.]+ % of 32 rows of .*: it no longer classifies like the original/);
    });

    it('a calibration range capped by the memory budget says how many rows were used, why, in MiB, and how to change it', async () => {
      const run = await condense('analyze', CNN, '--calibration-range', '0,1', '--calibration-samples', '64', '--memory-mb', '0.1', '--json', '--quiet');
      assert.strictEqual(run.code, 0, run.stderr);
      assert.match((JSON.parse(run.stdout) as AnalysisJson).calibration ?? '',
        /^16 uniform samples in \[0, 1\] \(64 asked for: the evaluation's memory budget of 0\.1 MiB holds \d+ rows of this model \([\d.]+ MiB each\); --memory-mb N changes it/);
      // The refit's advice stays within the cap.
      const reduced = await condense('reduce', COMBUSTION, '--out', path.join(root, 'capped'), '--calibration-range', '-2,2', '--memory-mb', '0.01', '--quiet');
      assert.strictEqual(reduced.code, 0, reduced.stderr);
      assert.match(reduced.stdout, /too few to fit \(it needs \d+ samples, more than the 16 this model's evaluation takes\)/);
      assert.doesNotMatch(reduced.stdout, /give at least/);
    });
  });

  it('--backend tensorflow without tfjs-node is bad input: exit 2, one line', async function () {
    try {
      require.resolve('@tensorflow/tfjs-node');
      this.skip(); // installed here: the backend loads
    } catch {
      // not installed: the case under test
    }
    assertRefused(await condense('verify', COMBUSTION, COMBUSTION, '--backend', 'tensorflow'), /^condense: --backend tensorflow: the tensorflow backend \(tfjs-node\) is not available: .*try --backend auto$/);
  });

  describe('help, version and paths', () => {
    it('--help lists every format and flag; each command has its own page; --version prints the version', async () => {
      const help = await condense('--help');
      assert.strictEqual(help.code, 0);
      for (const text of ['.h5', '.keras', '.onnx', '.safetensors', '--seed', '--quiet', '--memory-mb', '--labels', 'Exit codes', '3 internal error']) {
        assert.ok(help.stdout.includes(text), `--help lacks ${text}`);
      }
      const reduce = await condense('reduce', '--help');
      assert.strictEqual(reduce.code, 0);
      assert.match(reduce.stdout, /^condense reduce MODEL --out DIR/);
      assert.match(reduce.stdout, /--force/);
      const versionRun = await condense('--version');
      assert.strictEqual(versionRun.stdout.trim(), version);
    });

    it('a folder as MODEL stands for the one model inside it, or lists the candidates', async () => {
      const run = await condense('analyze', COMBUSTION, '--json', '--quiet');
      assert.strictEqual(run.code, 0, run.stderr);
      assert.strictEqual((JSON.parse(run.stdout) as AnalysisJson).model, path.join(COMBUSTION, 'model.json'));
      const two = path.join(root, 'two');
      await fs.mkdir(two);
      await fs.copyFile(TORCH_MLP, path.join(two, 'a.pt'));
      await fs.copyFile(TORCH_MLP, path.join(two, 'b.pt'));
      assertRefused(await condense('analyze', two), /two: is a folder with 2 model files: name one \(.*a\.pt, .*b\.pt\)/);
    });

    it('an existing output folder is refused before any work, naming --force', async () => {
      const out = path.join(root, 'exists');
      await fs.mkdir(out);
      assertRefused(await condense('reduce', COMBUSTION, '--out', out), /exists: the output folder already exists: choose another --out, or add --force to replace it/);
    });
  });

  describe('progress', () => {
    it('off a terminal: one plain line per phase on stderr, stdout the result alone; --quiet silences it', async () => {
      const run = await condense('analyze', COMBUSTION, '--json');
      assert.strictEqual(run.code, 0, run.stderr);
      JSON.parse(run.stdout);
      assert.deepStrictEqual(run.stderr.trim().split('\n'), ['analysing']);
      const quiet = await condense('analyze', COMBUSTION, '--json', '--quiet');
      assert.strictEqual(quiet.stderr, '');
    });

    it('on a terminal: one line redrawn in place, with step n of m, elapsed and ETA', () => {
      let written = '';
      let clock = 0;
      const progress = new Progress({ write: (text) => (written += text), isTTY: true, columns: 200 }, () => clock);
      progress.begin('searching thresholds');
      clock = 10_000;
      progress.step(1, 4, 'candidate');
      progress.end();
      assert.ok(!written.includes('\n'), 'no new lines on a terminal');
      // The terminal's own escape sequences are what this asserts.
      // eslint-disable-next-line no-control-regex
      assert.match(written, /\r\x1b\[Ksearching thresholds: 1 of 4 \(candidate\), 10 s elapsed ETA 30 s\r\x1b\[K$/);
    });
  });

  describe('weights-only files and formats that store activations', () => {
    it('the assumed activation is printed and reported; --activation for a TF.js model is ignored with a warning', async () => {
      const out = path.join(root, 'torch');
      const run = await condense('reduce', TORCH_MLP, '--out', out, '--quiet');
      assert.strictEqual(run.code, 0, run.stderr);
      assert.match(run.stdout, /Activation between layers: relu \(assumed: the file holds weights only; --activation NAME sets it\)/);
      assert.deepStrictEqual((await readJson<CondenseReport>(path.join(out, 'condense-report.json'))).activation, { name: 'relu', assumed: true });
      const ignored = await condense('analyze', COMBUSTION, '--activation', 'tanh', '--json', '--quiet');
      assert.strictEqual(ignored.code, 0);
      assert.match(ignored.stderr, /^condense: warning: --activation is ignored: tfjs-layers files store their own activations$/m);
    });
  });

  it('reduce --auto whose choice keeps every parameter says why and writes nothing without --force', async () => {
    await useCpu();
    const rows = await readJson<number[][]>(path.join(COMBUSTION, 'probe-inputs.json'));
    const model = await loadFolderWithTfjs(COMBUSTION);
    const outputs = model.predict(tf.tensor2d(rows)) as tf.Tensor;
    const targets = path.join(root, 'own-outputs.json');
    await fs.writeFile(targets, JSON.stringify(await outputs.array()));
    model.dispose();
    outputs.dispose();
    const out = path.join(root, 'unreduced');
    const args = ['reduce', COMBUSTION, '--out', out, '--auto', '--tolerance', '0', '--val-inputs', path.join(COMBUSTION, 'probe-inputs.json'), '--val-targets', targets, '--quiet'];
    const run = await condense(...args);
    assert.strictEqual(run.code, 1, run.stderr);
    assert.match(run.stderr, /the choice keeps 100 % of the parameters: none of the \d+ smaller candidates met the tolerance 0\. Nothing written \(--force writes the unreduced copy\)/);
    assert.ok(!existsSync(out));
    const forced = await condense(...args, '--force');
    assert.strictEqual(forced.code, 0, forced.stderr);
    assert.ok(existsSync(path.join(out, 'model.json')));
  });

  it('verify: top-1 for logits with --classifier, both accuracies with --labels, and the runtime that ran', async () => {
    const labels = path.join(root, 'cnn-labels.json');
    await fs.writeFile(labels, JSON.stringify(Array.from({ length: 32 }, (_, i) => i % 4)));
    const run = await condense('verify', CNN, CNN, '--data', cnnRows, '--labels', labels, '--quiet');
    assert.strictEqual(run.code, 0, run.stderr);
    assert.match(run.stdout, /Accuracy:\s+([\d.]+) % original, \1 % reduced/);
    const mlp = path.join(ROOT, 'test/fixtures/onnx/mlp.onnx');
    const onnx = await condense('verify', mlp, mlp, '--classifier', '--quiet');
    assert.strictEqual(onnx.code, 0, onnx.stderr);
    assert.match(onnx.stdout, /^Backend:\s+onnxruntime$/m);
    assert.match(onnx.stdout, /Argmax agreement:\s+100\.00 % \(top-1 of the class scores\)/);
  });

  it('a layer name that would act on a terminal is printed escaped; --json keeps it exact', async () => {
    const hostile = path.join(root, 'terminal-name');
    await fs.cp(COMBUSTION, hostile, { recursive: true });
    const name = 'hidden1\u001b[2J\u001b[31mred\u202e\u0007';
    const manifest = path.join(hostile, 'model.json');
    // The name stands in the topology and in the weight names ("hidden1/kernel"): both are renamed.
    await fs.writeFile(manifest, (await fs.readFile(manifest, 'utf8')).replace(/"hidden1(["/])/g, (_, end: string) => `${JSON.stringify(name).slice(0, -1)}${end}`));
    const run = await condense('analyze', hostile, '--threshold', '0.99');
    assert.strictEqual(run.code, 0, run.stderr);
    // eslint-disable-next-line no-control-regex -- looking for control characters is the point
    assert.ok(!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/.test(run.stdout + run.stderr), JSON.stringify(run.stdout));
    assert.match(run.stdout, /^hidden1\\u001b\[2J\\u001b\[31mred\\u202e\\u0007 +Dense /m);
    const lines = run.stdout.split('\n');
    const [header, row] = [lines.find((l) => l.startsWith('layer '))!, lines.find((l) => l.startsWith('hidden1'))!];
    assert.strictEqual(row.indexOf(' Dense '), header.indexOf(' type '), 'the escaped name keeps its row aligned with the header');
    const json = await condense('analyze', hostile, '--threshold', '0.99', '--json', '--quiet');
    assert.strictEqual((JSON.parse(json.stdout) as AnalysisJson).layers[0].name, name);
  });

  it('verify --labels judges by the accuracy drop, not by how far the scores moved', async () => {
    // A condensed CNN whose scores move; labels = the original's own answers, so the original scores 100 %.
    const reduced = path.join(root, 'cnn-loose');
    const made = await condense('reduce', CNN, '--out', reduced, '--threshold', '0.1', '--force', '--quiet');
    assert.strictEqual(made.code, 0, made.stderr);
    await useCpu();
    const rows = await readJson<number[][][]>(cnnRows);
    const model = await loadFolderWithTfjs(CNN);
    const answers = tf.tidy(() => (model.predict(tf.tensor(rows).expandDims(-1)) as tf.Tensor).argMax(-1).arraySync() as number[]);
    model.dispose();
    const labels = path.join(root, 'cnn-own-answers.json');
    await fs.writeFile(labels, JSON.stringify(answers));
    const scores = await condense('verify', CNN, reduced, '--data', cnnRows, '--quiet');
    assert.strictEqual(scores.code, 1, 'the scores moved beyond 1e-3');
    const agreement = Number(/Argmax agreement:\s+([\d.]+) %/.exec(scores.stdout)![1]);
    assert.ok(agreement < 100, `the reduced CNN gives some other answers (${agreement} %)`);
    const lenient = await condense('verify', CNN, reduced, '--data', cnnRows, '--labels', labels, '--tolerance', '1', '--quiet');
    assert.strictEqual(lenient.code, 0, lenient.stdout);
    assert.match(lenient.stdout, /^Accuracy:\s+100\.00 % original, ([\d.]+) % reduced/m);
    assert.match(lenient.stdout, /^OK: accuracy drops [\d.]+ points?, within 1 \(100\.00 points\)$/m);
    const strict = await condense('verify', CNN, reduced, '--data', cnnRows, '--labels', labels, '--tolerance', '0', '--quiet');
    assert.strictEqual(strict.code, 1, strict.stdout);
    assert.match(strict.stdout, /^FAILED: accuracy drops [\d.]+ points?, more than 0 \(0\.00 points\)$/m);
  });

  it('retraining: proper plurals, and a format that cannot retrain is refused before the banner', async () => {
    const mlp = path.join(ROOT, 'test/fixtures/onnx/mlp.onnx');
    const data = path.join(root, 'rows.json');
    await fs.writeFile(data, '[[0, 0], [1, 1]]');
    const run = await condense('reduce', mlp, '--out', path.join(root, 'retrained'), '--train-inputs', data, '--train-targets', data, '--val-inputs', data, '--val-targets', data, '--tolerance', '0.1', '--rounds', '1', '--epochs', '1');
    assert.strictEqual(run.code, 2, run.stderr);
    assert.strictEqual(run.stdout, '', 'no banner before the refusal');
    const probes = path.join(COMBUSTION, 'probe-inputs.json');
    const targets = path.join(root, 'targets.json');
    await fs.writeFile(targets, JSON.stringify((await readJson<number[][]>(probes)).map(() => [0, 0, 0, 0, 0])));
    const once = await condense('reduce', COMBUSTION, '--out', path.join(root, 'once'), '--train-inputs', probes, '--train-targets', targets, '--val-inputs', probes, '--val-targets', targets, '--tolerance', '100', '--rounds', '1', '--epochs', '1', '--quiet');
    assert.match(once.stdout, /^Retraining \(condensing on .*, training with embedded tfjs\): up to 1 round of up to 1 epoch, /);
  });

  it("retraining in a log: a round is one line, then one line per epoch counted from the round's start", async () => {
    const probes = path.join(COMBUSTION, 'probe-inputs.json');
    const targets = path.join(root, 'targets-log.json');
    await fs.writeFile(targets, JSON.stringify((await readJson<number[][]>(probes)).map(() => [0, 0, 0, 0, 0])));
    const run = await condense('reduce', COMBUSTION, '--out', path.join(root, 'logged'), '--train-inputs', probes, '--train-targets', targets, '--val-inputs', probes, '--val-targets', targets, '--tolerance', '100', '--rounds', '1', '--epochs', '3', '--learning-rate', '1e-4');
    assert.strictEqual(run.code, 0, run.stderr);
    const lines = run.stderr.split('\n');
    assert.deepStrictEqual(lines.filter((l) => l === 'round 1'), ['round 1'], run.stderr);
    assert.deepStrictEqual(lines.filter((l) => l.startsWith('round 1: ')).map((l) => /^round 1: (\d) of 3/.exec(l)?.[1]), ['1', '2', '3'], run.stderr);
  });

  it('tables are cut to the terminal width; --json is not', async () => {
    const out: string[] = [];
    const code = await main(['analyze', CNN, '--backend', 'cpu'], (s) => out.push(s), () => {}, { columns: 60 });
    assert.strictEqual(code, 0);
    const lines = out.join('\n').split('\n');
    const table = lines.slice(lines.findIndex((l) => l.startsWith('layer')));
    assert.ok(table.some((l) => l.endsWith('…')), 'some line was cut');
    for (const line of table.filter((l) => !l.startsWith('Total'))) assert.ok(line.length <= 60, `${line.length} > 60: ${line}`);
  });

  it("the README's quick start ends in success", async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const block = /```sh\n([\s\S]*?)```/.exec(readme)![1];
    const commands = block.split('\n').filter((l) => l.startsWith('npx condense '));
    assert.ok(commands.length >= 2, 'the quick start reduces and verifies');
    for (const command of commands) {
      const run = await condense(...command.replace('npx condense ', '').split(/\s+/).filter(Boolean), '--quiet');
      assert.strictEqual(run.code, 0, `${command}\n${run.stdout}\n${run.stderr}`);
      assert.strictEqual(run.stderr, '', `${command} warns:\n${run.stderr}`);
    }
  });
});
