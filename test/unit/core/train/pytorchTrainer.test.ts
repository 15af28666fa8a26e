/**
 * The PyTorch trainer (python/condense_train.py) against the embedded tfjs trainer: the same condensed
 * model, the same start weights, one epoch of plain SGD on the rows in file order gives the same
 * weights in both; two gloo processes give what one process gives with the same global batch; the
 * environment's problems are one line and exit 2; cancelling ends the process group. Skipped, with the
 * reason, only where no interpreter can `import torch` (set CONDENSE_PYTHON to choose one).
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../../../../src/core/analyze';
import { Backend, loadBackend } from '../../../../src/core/compute/backend';
import { normalSamples, uniformSamples } from '../../../../src/core/data/random';
import { InputError } from '../../../../src/core/model/errors';
import type { ModelGraph } from '../../../../src/core/model/graph';
import type { Tensor } from '../../../../src/core/model/tensor';
import { PATIENCES_TO_STOP, PauseGate } from '../../../../src/core/train/fineTune';
import { findPython, pytorchTrainer, PythonCheck } from '../../../../src/core/train/pytorchTrainer';
import { embeddedTrainer, Trainer, TrainerData, TrainingJob } from '../../../../src/core/train/trainer';
import { tempDir } from '../../../helpers/models';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'fixtures');

/** ‖a − b‖ / ‖b‖ over every weight. */
function relativeDifference(a: Map<string, Tensor>, b: Map<string, Tensor>): number {
  let diff = 0;
  let norm = 0;
  for (const [name, t] of b) {
    const other = a.get(name);
    assert.ok(other, `no trained ${name}`);
    assert.deepStrictEqual(other.shape, t.shape, name);
    for (let i = 0; i < t.data.length; i++) {
      diff += (Number(other.data[i]) - Number(t.data[i])) ** 2;
      norm += Number(t.data[i]) ** 2;
    }
  }
  return Math.sqrt(diff / norm);
}

/** ‖trained − start‖ / ‖start‖: how far training moved the weights. */
function moved(trained: Map<string, Tensor>, graph: ModelGraph): number {
  const start = new Map<string, Tensor>();
  for (const layer of graph.layers) for (const w of layer.weights.values()) if (trained.has(w.name)) start.set(w.name, w);
  return relativeDifference(trained, start);
}

describe('the PyTorch trainer', function () {
  this.timeout(180_000);
  let found: PythonCheck;
  let backend: Backend;
  const trainers: Trainer[] = [];

  before(async function () {
    try {
      found = await findPython(process.env.CONDENSE_PYTHON, 'cpu');
    } catch (e) {
      // Only a missing torch (or Python) skips; any other failure of the check is a failure.
      if (e instanceof InputError && /has no (torch|numpy)|not found/.test(e.problem)) {
        console.log(`      skipped: ${e.message}`);
        this.skip();
      }
      throw e;
    }
    backend = await loadBackend('cpu');
  });

  // A test that failed or timed out may leave its torchrun group training: end it before the next test.
  afterEach(async function () {
    if (this.currentTest?.state !== 'passed') await Promise.all(trainers.splice(0).map((t) => t.dispose()));
  });

  after(async () => {
    await Promise.all(trainers.map((t) => t.dispose()));
  });

  async function pytorch(workers = 1): Promise<Trainer> {
    const trainer = await pytorchTrainer({ python: found.python, device: 'cpu', workers });
    trainers.push(trainer);
    return trainer;
  }

  /** Seeded rows for a model with the given per-sample input shape: inputs, and targets by `target`. */
  function rows(shape: number[], count: number, seed: number, targets: (n: number) => { data: Float32Array; shape: number[] }): { x: tf.Tensor; y: tf.Tensor } {
    const per = shape.reduce((a, b) => a * b, 1);
    const y = targets(count);
    return { x: tf.tensor(uniformSamples(count * per, -1, 1, seed), [count, ...shape]), y: tf.tensor(y.data, y.shape) };
  }

  async function mlpCase() {
    const { graph, path: file } = (await loadModel(path.join(FIXTURES, 'onnx', 'mlp.onnx'))).source;
    const width = 3;
    const targets = (seed: number) => (n: number) => ({ data: normalSamples(n * width, seed), shape: [n, width] });
    const train = rows([6], 96, 1, targets(2));
    const val = rows([6], 40, 3, targets(4));
    const data: TrainerData = { trainX: train.x, trainY: train.y, valX: val.x, valY: val.y };
    return { graph, file, data, inputShape: [6], loss: 'mse' as const };
  }

  async function cnnCase() {
    const { graph, path: file } = (await loadModel(path.join(FIXTURES, 'onnx', 'cnn.onnx'))).source;
    const labels = (seed: number) => (n: number) => ({ data: Float32Array.from(uniformSamples(n, 0, 4, seed), Math.floor), shape: [n] });
    const train = rows([12, 12, 1], 64, 5, labels(6));
    const val = rows([12, 12, 1], 32, 7, labels(8));
    const data: TrainerData = { trainX: train.x, trainY: train.y, valX: val.x, valY: val.y };
    return { graph, file, data, inputShape: [12, 12, 1], loss: 'sparseCategoricalCrossentropy' as const };
  }

  const sgdJob = (c: { graph: ModelGraph; file: string; inputShape: number[]; loss: TrainingJob['loss'] }, batchSize: number): TrainingJob => ({
    graph: c.graph, file: c.file, inputShape: c.inputShape, loss: c.loss, epochs: 1, batchSize, seed: 1,
    learningRate: 0.05, patience: 3, optimizer: 'sgd', shuffle: false,
  });

  for (const [name, make] of [['GELU MLP (ONNX)', mlpCase], ['CNN with BatchNormalization, max pooling, channel-major Flatten, softmax (ONNX)', cnnCase]] as const) {
    it(`one epoch of SGD in file order gives the embedded trainer's weights to 1e-4: ${name}`, async () => {
      const c = await make();
      const job = sgdJob(c, 16);
      const embedded = await embeddedTrainer(backend).train(job, c.data);
      const torch = await (await pytorch()).train(job, c.data);
      assert.strictEqual(torch.outcome, 'completed');
      assert.strictEqual(torch.history.length, 1);
      const change = moved(embedded.weights, c.graph);
      const difference = relativeDifference(torch.weights, embedded.weights);
      assert.ok(change > 1e-3, `training moved the weights by only ${change}`);
      assert.ok(difference < 1e-4, `relative difference ${difference} (training moved the weights by ${change})`);
      assert.ok(Math.abs(torch.history[0].loss - embedded.history[0].loss) <= 1e-4 * Math.abs(embedded.history[0].loss));
      assert.ok(Math.abs(torch.history[0].valLoss! - embedded.history[0].valLoss!) <= 1e-4 * Math.abs(embedded.history[0].valLoss!));
    });
  }

  it('the plateau back-off halves and stops where the embedded trainer does, after the steady epochs', async () => {
    const c = await mlpCase();
    // A rate too large to improve on the start every epoch: after the steady epochs the plateau halves it and ends training.
    const job: TrainingJob = { ...sgdJob(c, 16), epochs: 12, patience: 1, steadyEpochs: 2, learningRate: 1 };
    const embedded = await embeddedTrainer(backend).train(job, c.data);
    const torch = await (await pytorch()).train(job, c.data);
    assert.ok(embedded.learningRate < job.learningRate!, `the embedded trainer halved its rate (${embedded.learningRate})`);
    assert.strictEqual(embedded.history.length, 2 + PATIENCES_TO_STOP);
    assert.strictEqual(torch.history.length, embedded.history.length);
    assert.strictEqual(torch.learningRate, embedded.learningRate);
    assert.strictEqual(torch.bestEpoch, embedded.bestEpoch);
    assert.strictEqual(torch.outcome, embedded.outcome);
  });

  it('the range test and the seeded Adam epochs choose and reach what the embedded trainer does', async () => {
    const c = await mlpCase();
    const job: TrainingJob = { graph: c.graph, file: c.file, inputShape: c.inputShape, loss: c.loss, epochs: 2, batchSize: 16, seed: 3, patience: 3 };
    const embedded = await embeddedTrainer(backend).train(job, c.data);
    const torch = await (await pytorch()).train(job, c.data);
    assert.strictEqual(torch.rangeTest?.learningRate, embedded.rangeTest?.learningRate);
    assert.strictEqual(torch.history.length, embedded.history.length);
    const difference = relativeDifference(torch.weights, embedded.weights);
    assert.ok(difference < 1e-3, `relative difference ${difference}`);
  });

  it('two gloo processes give what one gives with the same global batch', async () => {
    const c = await cnnCase();
    const mlp = await mlpCase();
    for (const k of [c, mlp]) {
      const job = { ...sgdJob(k, 15), epochs: 2, optimizer: 'adam' as const, shuffle: true, learningRate: 0.003 };
      const one = await (await pytorch(1)).train(job, k.data);
      const two = await (await pytorch(2)).train(job, k.data);
      const difference = relativeDifference(two.weights, one.weights);
      // Batch normalisation takes each process's own half-batch statistics, so the CNN agrees less closely.
      const bound = k === c ? 2e-2 : 1e-5;
      assert.ok(difference < bound, `relative difference ${difference}`);
      assert.deepStrictEqual(two.history.map((e) => e.epoch), [1, 2]);
      if (k === mlp) assert.ok(Math.abs(two.history[1].loss - one.history[1].loss) <= 1e-5 * one.history[1].loss);
    }
  });

  /** This process's descendants running condense_train.py (Linux /proc): pid → state ("T" when stopped). */
  async function descendants(): Promise<Map<number, string>> {
    const parents = new Map<number, { ppid: number; state: string }>();
    for (const entry of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after its last ")".
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest.length > 1) parents.set(Number(entry), { state: rest[0], ppid: Number(rest[1]) });
    }
    const out = new Map<number, string>();
    const walk = (pid: number): void => {
      for (const [child, p] of parents) {
        if (p.ppid === pid && !out.has(child)) {
          out.set(child, p.state);
          walk(child);
        }
      }
    };
    walk(process.pid);
    for (const pid of out.keys()) {
      const command = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!command.includes('condense_train.py')) out.delete(pid);
    }
    return out;
  }

  const until = async (what: string, done: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      if (await done()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`never: ${what}`);
  };

  it('pausing stops the whole process group until resumed; cancelling ends it', async function () {
    if (process.platform !== 'linux') this.skip();
    const c = await mlpCase();
    const trainer = await pytorch(2);
    const controller = new AbortController();
    let held = 0;
    const gate = new PauseGate(() => held++);
    const epochs: number[] = [];
    const job: TrainingJob = {
      ...sgdJob(c, 4), epochs: 10_000, patience: 10_000, optimizer: 'adam', learningRate: 1e-4, signal: controller.signal, gate,
      onEpoch: (e) => {
        epochs.push(e.epoch);
        if (e.epoch === 1) gate.pause();
      },
    };
    const running = trainer.train(job, c.data);
    await until('the gate holds the run', async () => held > 0);
    // The launcher and both workers stop.
    await until('every process of the group is stopped', async () => {
      const states = [...(await descendants()).values()];
      return states.length >= 3 && states.every((s) => s === 'T');
    });
    const pausedAt = epochs.length;
    gate.resume();
    await until('training goes on after resuming', async () => epochs.length > pausedAt + 1);
    controller.abort();
    const result = await running;
    assert.strictEqual(result.outcome, 'aborted');
    assert.strictEqual(result.weights.size, 0);
    await until('every process of the group has ended', async () => [...(await descendants()).values()].every((s) => s === 'Z'));
  });

  it('dispose ends a job still training, with its whole process group', async function () {
    if (process.platform !== 'linux') this.skip();
    const c = await mlpCase();
    const trainer = await pytorchTrainer({ python: found.python, device: 'cpu', workers: 2 });
    let epochs = 0;
    const job: TrainingJob = { ...sgdJob(c, 4), epochs: 10_000, patience: 10_000, optimizer: 'adam', learningRate: 1e-4, onEpoch: () => epochs++ };
    const running = trainer.train(job, c.data).then(() => 'resolved', (e: Error) => e.message);
    await until('training has started', async () => epochs > 0);
    await trainer.dispose();
    assert.match(await running, /ended with SIGKILL/);
    await until('every process of the group has ended', async () => [...(await descendants()).values()].every((s) => s === 'Z'));
  });

  describe('refusals: one line naming the interpreter and what to install or set', () => {
    let dir: string;
    before(async () => {
      dir = await tempDir();
    });

    /** An interpreter whose `torch` is the given module source (a real Python, a stand-in torch package first on its path). */
    async function pythonWithTorch(name: string, source: string): Promise<string> {
      const fake = path.join(dir, name);
      await fs.mkdir(path.join(fake, 'torch'), { recursive: true });
      await fs.writeFile(path.join(fake, 'torch', '__init__.py'), source);
      const launcher = path.join(dir, `${name}.sh`);
      await fs.writeFile(launcher, `#!/bin/sh\nPYTHONPATH='${fake}' exec '${found.python}' "$@"\n`, { mode: 0o755 });
      return launcher;
    }

    const refused = async (python: string, device: 'cpu' | 'cuda', problem: RegExp): Promise<void> => {
      await assert.rejects(pytorchTrainer({ python, device, workers: 1 }), (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.strictEqual(e.file, python);
        assert.match(e.problem, problem);
        assert.doesNotMatch(e.message, /Traceback|\n/);
        return true;
      });
    };

    it('no such interpreter', () => refused(path.join(dir, 'no-python'), 'cpu', /not found: install Python 3 with torch and numpy.*--python PATH/));
    it('no torch', async () => refused(await pythonWithTorch('none', 'raise ImportError("No module named torch")\n'), 'cpu', /has no torch: install python3-torch .*--python PATH/));
    it('a torch too old', async () => refused(await pythonWithTorch('old', '__version__ = "1.4.0"\n'), 'cpu', /has torch 1\.4\.0, too old: Condense needs torch 1\.12 or later/));
    it('CUDA asked for but absent', async function () {
      const cuda = await findPython(found.python, 'auto');
      if (cuda.device === 'cuda') this.skip();
      await refused(found.python, 'cuda', /--device cuda was asked for but its torch .* sees no CUDA device/);
    });
  });
});
