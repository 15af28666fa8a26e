/**
 * The host's retrain runs (src/extension/retrains.ts) against the real worker: the view the panel
 * gets through a run (starting → running → paused → running → completed), writing a round, and
 * replacing or disposing runs, whose temporary folders go with them.
 */
import * as assert from 'assert';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import { RetrainRuns } from '../../../src/extension/retrains';
import { WorkerClient } from '../../../src/extension/workerClient';
import type { RetrainStatus } from '../../../src/shared/protocol';
import { RetrainData, writeRetrainData } from '../../fixtures/retrain/data';
import { tempDir } from '../../helpers/models';

const root = path.join(__dirname, '../../..');
const example = path.join(root, 'examples/combustion-mlp');

describe('retrain runs (host side, dist/worker.js)', function () {
  let model: string;
  let data: RetrainData;
  let runs: RetrainRuns;

  before(async () => {
    const dir = await tempDir();
    for (const f of ['model.json', 'group1-shard1of1.bin']) await fs.copyFile(path.join(example, f), path.join(dir, f));
    model = path.join(dir, 'model.json');
    data = await writeRetrainData(dir, model);
  });
  beforeEach(() => (runs = new RetrainRuns(new WorkerClient(path.join(root, 'dist/worker.js')))));
  afterEach(() => runs.dispose());

  const request = (rounds: number, epochs: number) => ({
    file: model, backend: 'cpu' as const, threshold: 0.999, tolerance: 2, epochs, rounds, learningRate: 1e-3, batchSize: 32,
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
    const first = runs.workDir(model)!;
    assert.ok(existsSync(first));
    await runs.start(request(1, 1), 'plain');
    const second = runs.workDir(model)!;
    assert.notStrictEqual(second, first);
    assert.ok(existsSync(second));
    runs.disposeRun(model);
    assert.strictEqual(runs.view(model), null);
    await assert.rejects(runs.write(model, 1, path.join(path.dirname(model), 'gone'), false), /not available/);
  });

  it('disposing a running run cancels it and removes its folder once it stops', async () => {
    let workDir: string | undefined;
    const running = runs.start(request(3, 3), 'plain');
    const stop = runs.onDidChange(() => {
      workDir ??= runs.workDir(model);
      if (runs.view(model)?.epochs.length === 1) runs.disposeRun(model);
    });
    const answer = await running;
    stop();
    assert.strictEqual(answer.outcome, 'cancelled');
    assert.strictEqual(runs.view(model), null);
    assert.ok(workDir, 'the run reported its folder');
    assert.ok(!existsSync(workDir), 'the disposed run\'s folder is removed when it stops');
  });
});
