/**
 * The host's retrain runs (src/extension/retrains.ts) against the real worker: the view the panel
 * gets through a run (starting → running → paused → running → completed), writing a round, and
 * replacing or disposing runs, whose temporary folders go with them (watched in a TMPDIR of the
 * test's own, which the worker inherits). One run at a time across models; a run that ended cannot
 * be resumed; a failing later round keeps the finished ones writable; a failing listener does not
 * keep the others from hearing of a change.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { busyMessage, RetrainRuns } from '../../../src/extension/retrains';
import { WorkerClient } from '../../../src/extension/workerClient';
import type { RetrainStatus } from '../../../src/shared/protocol';
import { RetrainData, writeRetrainData } from '../../fixtures/retrain/data';
import { copyCombustionExample, tempDir } from '../../helpers/models';

const root = path.join(__dirname, '../../..');

describe('retrain runs (host side, dist/worker.js)', function () {
  let model: string;
  let data: RetrainData;
  let runs: RetrainRuns;
  /** The worker's os.tmpdir(): the runs' folders appear here. */
  let tmp: string;
  let previousTmp: string | undefined;

  before(async () => {
    model = await copyCombustionExample();
    data = await writeRetrainData(path.dirname(model), model);
  });
  beforeEach(async () => {
    tmp = await tempDir();
    previousTmp = process.env.TMPDIR;
    // The worker thread copies the environment when it starts (at the first request).
    process.env.TMPDIR = tmp;
    runs = new RetrainRuns(new WorkerClient(path.join(root, 'dist/worker.js')));
  });
  afterEach(() => {
    runs.dispose();
    if (previousTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previousTmp;
  });

  const runFolders = async (): Promise<string[]> => (await fs.readdir(tmp)).filter((f) => f.startsWith('condense-retrain-'));
  const request = (rounds: number, epochs: number, file = model) => ({
    file, backend: 'cpu' as const, threshold: 0.999, tolerance: 2, epochs, rounds, learningRate: 1e-3, batchSize: 32,
    trainInputs: data.train.inputs, trainTargets: data.train.targets, valInputs: data.val.inputs, valTargets: data.val.targets,
  });

  it('keeps the view the panel shows through a run, with pause and resume, and writes a round', async () => {
    const statuses: RetrainStatus[] = [];
    const stop = runs.onDidChange((changed) => {
      const view = runs.view(changed)!;
      if (statuses[statuses.length - 1] !== view.status) statuses.push(view.status);
      // Pause once after the first epoch, resume once the worker says it holds.
      if (view.status === 'running' && view.epochs.length === 1 && !statuses.includes('paused')) runs.pause(model);
      if (view.status === 'paused') runs.resume(model);
    });
    const answer = await runs.start(request(2, 2), 'plain');
    stop();
    assert.deepStrictEqual(statuses, ['starting', 'running', 'paused', 'running', 'completed']);
    const view = runs.view(model)!;
    assert.strictEqual(view.epochs.length, 4);
    assert.deepStrictEqual(view.summary, answer.summary);
    assert.deepStrictEqual(view.plan.merge, 'plain');
    assert.ok(!runs.isRunning(model));

    const outDir = path.join(path.dirname(model), 'model.condensed');
    const written = await runs.write(model, 2, outDir, false);
    assert.strictEqual(written.paramsAfter, answer.summary.rounds[1].params);
    assert.deepStrictEqual(runs.view(model)!.written, [{ round: 2, outDir }]);
    await assert.rejects(runs.write(model, 3, outDir, true), /round 3 .* is not available/);
    // A new run replaces this one, whose kept models go.
    const [first] = await runFolders();
    await runs.start(request(1, 1), 'plain');
    assert.deepStrictEqual((await runFolders()).length, 1);
    const [second] = await runFolders();
    assert.notStrictEqual(second, first);
    runs.disposeRun(model);
    assert.strictEqual(runs.view(model), null);
    await assert.rejects(runs.write(model, 1, path.join(path.dirname(model), 'gone'), false), /no retrain run \(closing its panel discards its run\)/);
  });

  it('disposing a running run cancels it and removes its folder once it stops', async () => {
    const running = runs.start(request(3, 3), 'plain');
    const stop = runs.onDidChange(() => {
      if (runs.view(model)?.epochs.length === 1) runs.disposeRun(model);
    });
    const answer = await running;
    stop();
    assert.strictEqual(answer.outcome, 'cancelled');
    assert.strictEqual(runs.view(model), null);
    assert.deepStrictEqual(await runFolders(), [], 'the disposed run\'s folder is removed when it stops');
  });

  it('removes the folder of a run disposed while training when everything is shut down before the worker finishes it', async () => {
    const running = runs.start(request(3, 3), 'plain');
    runs.onDidChange(() => {
      if (runs.view(model)?.epochs.length !== 1) return;
      // As when the panel is closed and then the window: the worker is terminated before it removes the folder.
      runs.disposeRun(model);
      runs.dispose();
    });
    await assert.rejects(running, /shut down/);
    assert.deepStrictEqual(await runFolders(), []);
  });

  it('runs one at a time across models, naming the model being retrained', async () => {
    const other = await copyCombustionExample();
    const first = runs.start(request(3, 3), 'plain');
    await new Promise<void>((resolve) => runs.onDidChange(() => runs.view(model)?.epochs.length === 1 && resolve()));
    await assert.rejects(runs.start(request(1, 1, other), 'plain'), (e: Error) => e.message === busyMessage(model) && e.message.includes(`${path.basename(path.dirname(model))}/model.json`));
    assert.strictEqual(runs.view(other), null);
    assert.strictEqual(runs.running(), model);
    runs.cancel(model);
    assert.strictEqual((await first).outcome, 'cancelled');
    assert.strictEqual(runs.running(), undefined);
    const second = await runs.start(request(1, 1, other), 'plain');
    assert.strictEqual(second.outcome, 'completed');
  });

  it('a run that ended while paused cannot be resumed', async () => {
    const stop = runs.onDidChange(() => {
      const view = runs.view(model)!;
      if (view.status === 'running' && view.epochs.length === 1) runs.pause(model);
      if (view.status === 'paused') runs.cancel(model);
    });
    const answer = await runs.start(request(2, 3), 'plain');
    stop();
    assert.strictEqual(answer.outcome, 'cancelled');
    runs.resume(model);
    assert.strictEqual(runs.view(model)!.status, 'cancelled');
    assert.ok(!runs.isRunning(model));
  });

  it('keeps the finished rounds writable when a later round fails', async () => {
    // Round 2 reads the calibration file again: removed while the run is paused in round 1, it fails there.
    const calibration = path.join(await tempDir(), 'calibration.json');
    await fs.copyFile(data.train.inputs, calibration);
    let pauseAsked = false;
    const stop = runs.onDidChange(() => {
      const view = runs.view(model)!;
      if (view.status === 'running' && view.epochs.length === 1 && !pauseAsked) {
        pauseAsked = true;
        runs.pause(model);
      }
      if (view.status === 'paused') void fs.rm(calibration, { force: true }).then(() => runs.resume(model));
    });
    const answer = await runs.start({ ...request(3, 2), calibration }, 'refit');
    stop();
    assert.strictEqual(answer.outcome, 'failed');
    assert.match(answer.error!, /calibration\.json/);
    assert.deepStrictEqual(answer.summary.rounds.map((r) => r.round), [1]);
    const view = runs.view(model)!;
    assert.deepStrictEqual([view.status, view.error], ['failed', answer.error]);
    assert.strictEqual((await runFolders()).length, 1, 'the failed run keeps its folder until disposed');
    const written = await runs.write(model, 1, path.join(path.dirname(model), 'after-failure.condensed'), false);
    assert.strictEqual(written.paramsAfter, answer.summary.rounds[0].params);
    runs.disposeRun(model);
  });

  it('a worker that dies takes the finished rounds with it: the view says so and writing them is refused', async () => {
    const answer = await runs.start(request(1, 1), 'plain');
    assert.strictEqual(answer.outcome, 'completed');
    assert.strictEqual((await runFolders()).length, 1);
    let changes = 0;
    runs.onDidChange(() => changes++);
    // As if the process crashed: it exits without the client having stopped it.
    const stopped = new Promise<void>((resolve) => runs.worker.onDidStopUnexpectedly(resolve));
    (runs.worker as unknown as { worker: { child: import('child_process').ChildProcess } }).worker.child.kill();
    await stopped;
    const view = runs.view(model)!;
    assert.deepStrictEqual([view.status, view.lost, changes], ['completed', true, 1]);
    assert.deepStrictEqual(await runFolders(), [], "the run's folder is removed");
    await assert.rejects(runs.write(model, 1, path.join(path.dirname(model), 'lost.condensed'), false), /round 1 is not available any more: the worker .* stopped unexpectedly/);
  });

  it('tells every listener of a change even when one of them throws', async () => {
    const seen: RetrainStatus[] = [];
    // Throws once, on the first change (which start() itself announces), as a closed panel's listener would.
    let thrown = false;
    runs.onDidChange(() => {
      if (thrown) return;
      thrown = true;
      throw new Error('a closed panel');
    });
    runs.onDidChange((changed) => {
      const status = runs.view(changed)?.status;
      if (status && seen[seen.length - 1] !== status) seen.push(status);
    });
    const logged: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const answer = await runs.start(request(1, 1), 'plain');
      assert.strictEqual(answer.outcome, 'completed');
    } finally {
      console.error = consoleError;
    }
    assert.deepStrictEqual(seen, ['starting', 'running', 'completed']);
    assert.strictEqual(logged.length, 1);
    assert.match(String(logged[0][0]), /a retrain listener failed for .*model\.json/);
  });
});
