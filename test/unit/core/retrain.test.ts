/**
 * Condense–retrain cycles. From the CLI, on combustion-mlp with the original's outputs as
 * targets, the written model is smaller than the original and its validation MSE — recomputed with
 * tfjs on the written folder — meets the tolerance; then the usage errors. The run (core): reports
 * per epoch and round, keeps every round's model writable until disposed, pauses between batches,
 * and a cancel keeps the finished rounds (runRetrain) or writes nothing (retrainModel).
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../../src/core/compute/backend';
import { CancelledError } from '../../../src/core/model/errors';
import { PauseGate, RetrainEpoch, RetrainOptions, RetrainRun, retrainModel, runRetrain } from '../../../src/core/retrain';
import { writeRetrainData } from '../../fixtures/retrain/data';
import { runCliText } from '../../helpers/cli';
import { tempDir } from '../../helpers/models';
import { loadFolderWithTfjs, readJson, useCpu } from '../../helpers/tfjs';
import { CondenseReport, RetrainRound, RetrainSummary } from '../../../src/core/reduction/report';

const COMBUSTION = path.resolve(__dirname, '..', '..', '..', 'examples', 'combustion-mlp', 'model.json');

describe('condense–retrain cycles (CLI)', function () {
  let dir: string;
  const files: Record<string, string> = {};
  let valInputs: number[][];
  let valTargets: number[][];

  before(async () => {
    await useCpu();
    dir = await tempDir();
    const data = await writeRetrainData(dir, COMBUSTION);
    Object.assign(files, { 'train-x': data.train.inputs, 'train-y': data.train.targets, 'val-x': data.val.inputs, 'val-y': data.val.targets });
    valInputs = data.val.x;
    valTargets = data.val.y;
  });

  const flags = (): string[] => [
    '--train-inputs', files['train-x'], '--train-targets', files['train-y'],
    '--val-inputs', files['val-x'], '--val-targets', files['val-y'],
  ];

  it('writes a smaller model whose validation metric (recomputed with tfjs) meets the tolerance', async () => {
    const out = path.join(dir, 'retrained');
    const tolerance = 2;
    const r = await runCliText('reduce', COMBUSTION, '--out', out, ...flags(), '--tolerance', String(tolerance), '--epochs', '1', '--rounds', '2', '--threshold', '0.999', '--backend', 'cpu');
    assert.strictEqual(r.code, 0, r.out + r.err);
    assert.match(r.out, /Round 1:/);
    assert.match(r.out, /learning rate chosen by a range test, batch size 32/);
    const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
    assert.ok(report.retrain, 'the report holds the rounds');
    assert.ok(report.retrain.rounds.length >= 1 && report.retrain.rounds.length <= 2);
    const chosen = report.retrain.rounds.find((x) => x.round === report.retrain!.chosen)!;
    assert.ok(chosen.meets && chosen.paramsRatio < 1, JSON.stringify(report.retrain.rounds));

    const original = await loadFolderWithTfjs(path.dirname(COMBUSTION));
    const written = await loadFolderWithTfjs(out);
    assert.ok(written.countParams() < original.countParams());
    const x = tf.tensor(valInputs);
    const t = tf.tensor(valTargets);
    const mse = (m: tf.LayersModel): number => tf.tidy(() => tf.mean(tf.squaredDifference(m.predict(x) as tf.Tensor, t)).dataSync()[0]);
    const before = mse(original);
    const after = mse(written);
    tf.dispose([x, t]);
    original.dispose();
    written.dispose();
    assert.ok((after - before) / before <= tolerance * (1 + 1e-3), `tfjs: MSE ${before} → ${after}`);
    // The original's folder holds no leftovers.
    assert.deepStrictEqual((await fs.readdir(path.dirname(COMBUSTION))).sort(), ['group1-shard1of1.bin', 'model.json', 'normalization.json', 'probe-inputs.json']);
  });

  it('usage: a missing --tolerance exits 2 naming the problem', async () => {
    const missing = await runCliText('reduce', COMBUSTION, '--out', path.join(dir, 'x'), ...flags());
    assert.strictEqual(missing.code, 2);
    assert.match(missing.err, /--tolerance/);
  });

  describe('the run (core)', () => {
    const EXAMPLE_FILES = ['group1-shard1of1.bin', 'model.json', 'normalization.json', 'probe-inputs.json'];
    const options = async (extra: Partial<RetrainOptions>): Promise<RetrainOptions> => ({
      backend: await loadBackend('cpu'), threshold: 0.999, tolerance: 2, epochs: 1, rounds: 2,
      trainInputs: files['train-x'], trainTargets: files['train-y'], valInputs: files['val-x'], valTargets: files['val-y'],
      ...extra,
    });
    const exists = (p: string): Promise<boolean> => fs.stat(p).then(() => true, () => false);

    it('reports every epoch and round, and keeps every round writable until disposed', async () => {
      const started: RetrainSummary[] = [];
      const epochs: RetrainEpoch[] = [];
      const rounds: RetrainRound[] = [];
      let startedRun: RetrainRun | undefined;
      const writesDuringRun: Promise<number>[] = [];
      const run = await runRetrain(COMBUSTION, await options({
        epochs: 2,
        onStart: (r) => {
          startedRun = r;
          started.push(r.summary);
          assert.strictEqual(r.outcome, 'running');
        },
        onEpoch: (e) => epochs.push(e),
        // Each round is writable as soon as it is reported, while later rounds still train.
        onRound: (r) => {
          rounds.push(r);
          writesDuringRun.push(startedRun!.write(r.round, path.join(dir, `during-run-${r.round}`)).then((w) => w.report.retrain!.written!));
        },
      }));
      try {
        assert.strictEqual(run.outcome, 'completed');
        assert.strictEqual(started.length, 1);
        assert.strictEqual(startedRun, run);
        assert.deepStrictEqual(started[0].rounds, []);
        assert.strictEqual(started[0].baseline, run.summary.baseline);
        assert.deepStrictEqual(rounds, run.summary.rounds);
        assert.deepStrictEqual(await Promise.all(writesDuringRun), [1, 2]);
        assert.strictEqual(rounds.length, 2, JSON.stringify(rounds));
        assert.deepStrictEqual(epochs.map((e) => [e.round, e.epoch]), [[1, 1], [1, 2], [2, 1], [2, 2]]);
        for (const e of epochs) assert.ok([e.loss, e.valLoss].every(Number.isFinite), JSON.stringify(e));
        // Each round condenses the one before: the second is smaller still.
        assert.ok(rounds[1].params < rounds[0].params && rounds[0].paramsRatio < 1, JSON.stringify(rounds));
        for (const r of rounds) {
          const out = path.join(dir, `run-round-${r.round}`);
          const written = await run.write(r.round, out);
          assert.strictEqual(written.outDir, out);
          assert.deepStrictEqual((await fs.readdir(out)).sort(), ['condense-report.json', 'group1-shard1of1.bin', 'model.json']);
          const model = await loadFolderWithTfjs(out);
          assert.strictEqual(model.countParams(), r.params);
          model.dispose();
          const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
          assert.strictEqual(report.model, COMBUSTION);
          assert.strictEqual(report.retrain!.written, r.round);
          assert.strictEqual(report.retrain!.chosen, run.summary.chosen);
        }
        // A second write over an existing folder needs overwrite.
        await assert.rejects(run.write(1, path.join(dir, 'run-round-1')), /already exists/);
        await run.write(1, path.join(dir, 'run-round-1'), { overwrite: true });
        await assert.rejects(run.write(1, path.dirname(COMBUSTION), { overwrite: true }), /original model/);
        assert.ok(await exists(run.workDir));
      } finally {
        await run.dispose();
      }
      assert.ok(!(await exists(run.workDir)), 'dispose removes the run\'s temporary folder');
      await assert.rejects(run.write(1, path.join(dir, 'too-late')), /no kept model/);
      assert.deepStrictEqual((await fs.readdir(path.dirname(COMBUSTION))).sort(), EXAMPLE_FILES);
    });

    it('waits between batches while paused, and resumes', async () => {
      let reached!: () => void;
      const reachedWhilePaused = new Promise<void>((resolve) => (reached = resolve));
      const gate = new PauseGate(() => reached());
      const epochs: RetrainEpoch[] = [];
      const running = runRetrain(COMBUSTION, await options({
        epochs: 2, rounds: 1, gate,
        onEpoch: (e) => {
          epochs.push(e);
          if (e.epoch === 1) gate.pause();
        },
      }));
      await reachedWhilePaused;
      // Training holds at the gate: however many turns of the event loop pass, no batch and no epoch follows.
      for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
      assert.deepStrictEqual(epochs.map((e) => e.epoch), [1]);
      gate.resume();
      const run = await running;
      await run.dispose();
      assert.strictEqual(run.outcome, 'completed');
      assert.deepStrictEqual(epochs.map((e) => e.epoch), [1, 2]);
      assert.strictEqual(run.summary.rounds.length, 1);
    });

    it('cancelled between batches (even while paused), it keeps the finished rounds and drops the unfinished one', async () => {
      const abort = new AbortController();
      const gate = new PauseGate();
      const epochs: RetrainEpoch[] = [];
      const run = await runRetrain(COMBUSTION, await options({
        epochs: 2, rounds: 3, gate, signal: abort.signal,
        onEpoch: (e) => {
          epochs.push(e);
          if (e.round === 2 && e.epoch === 1) {
            // Paused first: the abort must end the wait too.
            gate.pause();
            setImmediate(() => abort.abort());
          }
        },
      }));
      try {
        assert.strictEqual(run.outcome, 'cancelled');
        assert.deepStrictEqual(epochs.map((e) => [e.round, e.epoch]), [[1, 1], [1, 2], [2, 1]]);
        assert.deepStrictEqual(run.summary.rounds.map((r) => r.round), [1]);
        assert.deepStrictEqual(await fs.readdir(run.workDir), ['round-1']);
        const out = path.join(dir, 'cancelled-round-1');
        await run.write(1, out);
        assert.ok(await exists(path.join(out, 'model.json')));
        await assert.rejects(run.write(2, path.join(dir, 'cancelled-round-2')), /no kept model/);
      } finally {
        await run.dispose();
      }
    });

    it('a round that fails keeps the rounds finished before it writable until disposed', async () => {
      const failure = new Error('round 2 went wrong');
      const run = await runRetrain(COMBUSTION, await options({
        rounds: 3,
        onEpoch: (e) => {
          if (e.round === 2) throw failure;
        },
      }));
      try {
        assert.strictEqual(run.outcome, 'failed');
        assert.strictEqual(run.error, failure);
        assert.deepStrictEqual(run.summary.rounds.map((r) => r.round), [1]);
        const out = path.join(dir, 'failed-round-1');
        await run.write(1, out);
        assert.ok(await exists(path.join(out, 'model.json')));
      } finally {
        await run.dispose();
      }
      assert.ok(!(await exists(run.workDir)));
    });

    it('dispose waits for a write in flight, which completes', async () => {
      const run = await runRetrain(COMBUSTION, await options({ rounds: 1 }));
      const out = path.join(dir, 'written-while-disposed');
      const settled: string[] = [];
      const written = run.write(1, out).then((w) => (settled.push('write'), w));
      const disposed = run.dispose().then(() => settled.push('dispose'));
      await Promise.all([written, disposed]);
      assert.deepStrictEqual(settled, ['write', 'dispose']);
      assert.deepStrictEqual((await fs.readdir(out)).sort(), ['condense-report.json', 'group1-shard1of1.bin', 'model.json']);
      assert.ok(!(await exists(run.workDir)));
      await assert.rejects(run.write(1, path.join(dir, 'after-dispose')), /no kept model/);
    });

    it('a run cancelled before it starts reads nothing', async () => {
      const abort = new AbortController();
      abort.abort();
      // Not even the model is read: a file that does not exist is not reported.
      await assert.rejects(runRetrain(path.join(dir, 'missing', 'model.json'), await options({ signal: abort.signal })), CancelledError);
    });

    it('retrainModel, cancelled, writes nothing and leaves no temporary folder', async () => {
      const temp = path.join(dir, 'tmp-for-cancel');
      await fs.mkdir(temp);
      const previous = process.env.TMPDIR;
      // os.tmpdir() follows TMPDIR: the run's folders go where this test can see all of them.
      process.env.TMPDIR = temp;
      const abort = new AbortController();
      const out = path.join(dir, 'cancelled-out');
      try {
        const running = retrainModel(COMBUSTION, out, await options({ rounds: 2, signal: abort.signal, onRound: () => abort.abort() }));
        await assert.rejects(running, CancelledError);
      } finally {
        if (previous === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = previous;
      }
      assert.ok(!(await exists(out)), 'nothing written');
      assert.deepStrictEqual(await fs.readdir(temp), []);
      assert.deepStrictEqual((await fs.readdir(dir)).filter((f) => f.startsWith('.cancelled-out')), []);
    });
  });
});
