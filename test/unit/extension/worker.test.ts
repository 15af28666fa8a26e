import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { CancelledError } from '../../../src/core/model/errors';
import { AnalysisCache } from '../../../src/extension/analysisCache';
import { WorkerClient, WorkerFailure, WorkerProgress } from '../../../src/extension/workerClient';
import type { CondenseReport } from '../../../src/core/reduction/report';
import type { RetrainEvent, WorkerResponse } from '../../../src/shared/protocol';
import { writeRetrainData } from '../../fixtures/retrain/data';
import { copyCombustionExample, tempDir } from '../../helpers/models';
import { defaultBatchSize, LEARNING_RATE_CANDIDATES } from '../../../src/core/train/schedule';
import { loadModel } from '../../../src/core/analyze';
import { GraphEvaluator, isUnsupported } from '../../../src/core/compute/evaluator';

const root = path.join(__dirname, '../../..');
const workerPath = path.join(root, 'dist/worker.js');
const example = path.join(root, 'examples/combustion-mlp');

describe('analysis worker (dist/worker.js, built by npm test)', function () {
  let client: WorkerClient;
  beforeEach(() => (client = new WorkerClient(workerPath)));
  afterEach(() => client.dispose());

  it('analyses a model, reporting progress per layer', async () => {
    const model = await copyCombustionExample();
    const layers: string[] = [];
    const result = await client.request<'analyzed'>({ type: 'analyze', file: model, backend: 'cpu' }, { onProgress: (p) => {
      if (p.type === 'progress') layers.push(p.layer);
    } });
    assert.deepStrictEqual(layers.filter(Boolean), ['hidden1', 'hidden2', 'hidden3', 'output']);
    assert.deepStrictEqual(result.files, [model, path.join(path.dirname(model), 'group1-shard1of1.bin')]);
    assert.ok(result.summary.layers.find((l) => l.name === 'hidden2')!.heatmap!.size > 0);
  });

  it('reports a bad file as an input failure naming the file, and keeps working', async () => {
    const dir = await tempDir();
    const bad = path.join(dir, 'model.json');
    await fs.writeFile(bad, '{"modelTopology": ');
    await assert.rejects(client.request({ type: 'analyze', file: bad, backend: 'cpu' }), (e: unknown) => e instanceof WorkerFailure && e.input && e.message.startsWith(bad));
    const ok = await client.request<'analyzed'>({ type: 'analyze', file: await copyCombustionExample(), backend: 'cpu' });
    assert.strictEqual(ok.type, 'analyzed');
  });

  it('cancels at once, and the next request starts a fresh worker', async () => {
    const running = client.request({ type: 'analyze', file: await copyCombustionExample(), backend: 'cpu' });
    client.cancel();
    await assert.rejects(running, CancelledError);
    const again = await client.request<'analyzed'>({ type: 'analyze', file: await copyCombustionExample(), backend: 'cpu' });
    assert.strictEqual(again.type, 'analyzed');
  });

  it('turns a worker that dies into a clear error, telling the listeners, then recovers', async () => {
    const dying = new WorkerClient(path.join(root, 'test/fixtures/exiting-worker.js'));
    let stops = 0;
    dying.onDidStopUnexpectedly(() => stops++);
    try {
      await assert.rejects(dying.request({ type: 'analyze', file: 'exit', backend: 'cpu' }), /stopped unexpectedly \(exit code 7\)/);
      assert.strictEqual(stops, 1);
      await assert.rejects(dying.request({ type: 'analyze', file: 'other', backend: 'cpu' }), /other: no such model/);
    } finally {
      dying.dispose();
    }
  });

  it('writes a reduced model that matches the analysis, without touching the original', async () => {
    const model = await copyCombustionExample();
    const before = await fs.readFile(model);
    const outDir = path.join(path.dirname(model), 'model.condensed');
    const result = await client.request<'reduced'>({
      type: 'reduce', file: model, backend: 'cpu', thresholds: { threshold: 0.95, overrides: { hidden2: 0.99 } }, outDir, overwrite: false,
    });
    assert.strictEqual(result.outDir, outDir);
    const written = JSON.parse(await fs.readFile(path.join(outDir, 'condense-report.json'), 'utf8')) as CondenseReport;
    assert.strictEqual(written.layers.find((l) => l.name === 'hidden2')?.threshold, 0.99);
    assert.deepStrictEqual(await fs.readFile(model), before);
  });

  it('searches thresholds automatically and returns the size–error curve as plain data', async () => {
    const model = await copyCombustionExample();
    const dir = path.dirname(model);
    const inputs = JSON.parse(await fs.readFile(path.join(example, 'probe-inputs.json'), 'utf8')) as number[][];
    // Targets unrelated to the model: a large baseline MSE, so the search finds reductions within 10 %.
    const targets = inputs.map((_, r) => Array.from({ length: 5 }, (_, c) => Math.sin(7 * r + 3 * c)));
    await fs.writeFile(path.join(dir, 'val-x.json'), JSON.stringify(inputs));
    await fs.writeFile(path.join(dir, 'val-y.json'), JSON.stringify(targets));
    const candidates: WorkerProgress[] = [];
    const { result, cancelled } = await client.request<'autoResult'>({
      type: 'auto', file: model, backend: 'cpu', tolerance: 0.1, valInputs: path.join(dir, 'val-x.json'), valTargets: path.join(dir, 'val-y.json'),
    }, { onProgress: (p) => candidates.push(p) });
    assert.strictEqual(cancelled, false);
    assert.deepStrictEqual(JSON.parse(JSON.stringify(result)), result);
    // One message per candidate, as measured: the curve's points in order, counted against the budget.
    assert.deepStrictEqual(candidates.filter((p) => p.type === 'candidate').map((p) => p.type === 'candidate' && [p.point, p.measured, p.budget]),
      result.points.map((point, i) => [point, i + 1, 60]));
    assert.strictEqual(result.metric, 'mse');
    assert.ok(result.points.length > 1);
    const chosen = result.points[result.chosen!];
    assert.ok(chosen.meets && chosen.paramsRatio < 1);
    assert.ok(result.points.filter((p) => p.meets).every((p) => p.paramsRatio >= chosen.paramsRatio));
    assert.deepStrictEqual(Object.keys(chosen.thresholds).sort(), ['hidden1', 'hidden2', 'hidden3']);
    // What the panel does with a picked point (global γ 1, the point's thresholds as overrides) writes that size.
    const written = await client.request<'reduced'>({
      type: 'reduce', file: model, backend: 'cpu', thresholds: { threshold: 1, overrides: chosen.thresholds }, outDir: path.join(dir, 'auto.condensed'), overwrite: false,
    });
    assert.strictEqual(written.paramsAfter / written.paramsBefore, chosen.paramsRatio);
  });
});

describe('analysis worker: cooperative stops and retraining', function () {
  let client: WorkerClient;
  let model: string;
  let dir: string;
  let data: Awaited<ReturnType<typeof writeRetrainData>>;
  before(async () => {
    model = await copyCombustionExample();
    dir = path.dirname(model);
    data = await writeRetrainData(dir, model);
  });
  beforeEach(() => (client = new WorkerClient(workerPath)));
  afterEach(() => client.dispose());

  const retrainRequest = (rounds: number, epochs: number) => ({
    type: 'retrain' as const, file: model, backend: 'cpu' as const, threshold: 0.999, tolerance: 2, epochs, rounds, learningRate: 1e-3, batchSize: 32,
    trainInputs: data.train.inputs, trainTargets: data.train.targets, valInputs: data.val.inputs, valTargets: data.val.targets,
  });

  it('stops the auto search on an abort message and answers with the candidates so far, in the same worker', async () => {
    const abort = new AbortController();
    let seen = 0;
    const answer = await client.request<'autoResult'>(
      { type: 'auto', file: model, backend: 'cpu', tolerance: 0.1, valInputs: data.val.inputs, valTargets: data.val.targets },
      { signal: abort.signal, stop: 'cooperative', onProgress: (p) => p.type === 'candidate' && ++seen === 3 && abort.abort() },
    );
    assert.strictEqual(answer.cancelled, true);
    // The abort lands after the candidate being measured when it arrives: at least the 3 seen, far fewer than a full search.
    assert.ok(answer.result.points.length >= 3 && answer.result.points.length < 10, `${answer.result.points.length} candidates`);
    // Not terminated: the worker still holds the analysis (no progress reported for a cached one).
    const progress: WorkerProgress[] = [];
    await client.request<'analyzed'>({ type: 'analyze', file: model, backend: 'cpu' }, { onProgress: (p) => progress.push(p) });
    assert.deepStrictEqual(progress, []);
  });

  it('retrains with epoch and round reports, pauses, writes a finished round while paused, and disposes the run', async () => {
    const events: RetrainEvent[] = [];
    let run = 0;
    let writtenWhilePaused: Promise<Extract<WorkerResponse, { type: 'retrainWritten' }>> | undefined;
    const answer = await client.request<'retrained'>(retrainRequest(2, 2), {
      onId: (id) => (run = id),
      onProgress: (p) => {
        if (p.type !== 'retrainProgress') return;
        events.push(p.event);
        // Paused in round 2; while it holds, round 1 is written; then it resumes.
        if (p.event.kind === 'epoch' && p.event.epoch.round === 2 && p.event.epoch.epoch === 1) client.send({ type: 'pause', id: run });
        if (p.event.kind === 'paused') {
          writtenWhilePaused = client.request<'retrainWritten'>({ type: 'retrainWrite', run, round: 1, outDir: path.join(dir, 'round-1.condensed'), overwrite: false });
          void writtenWhilePaused.then(() => client.send({ type: 'resume', id: run }));
        }
      },
    });
    assert.strictEqual(answer.outcome, 'completed');
    assert.deepStrictEqual(events.map((e) => (e.kind === 'epoch' ? `${e.kind} ${e.epoch.round}.${e.epoch.epoch}` : e.kind === 'round' ? `round ${e.round.round}` : e.kind)), [
      'start', 'epoch 1.1', 'epoch 1.2', 'round 1', 'epoch 2.1', 'paused', 'epoch 2.2', 'round 2',
    ]);
    const start = events[0] as Extract<RetrainEvent, { kind: 'start' }>;
    assert.ok((await fs.stat(start.workDir)).isDirectory());
    const last = events[events.length - 1] as Extract<RetrainEvent, { kind: 'round' }>;
    assert.deepStrictEqual(last.summary, answer.summary);

    const written = await writtenWhilePaused!;
    const outDir = path.join(dir, 'round-1.condensed');
    assert.deepStrictEqual([written.outDir, written.paramsAfter, written.paramsBefore], [outDir, answer.summary.rounds[0].params, answer.summary.paramsBefore]);
    const report = JSON.parse(await fs.readFile(path.join(outDir, 'condense-report.json'), 'utf8')) as CondenseReport;
    assert.strictEqual(report.retrain?.written, 1);
    // Written while round 2 trained: the report's rounds are those finished then.
    assert.deepStrictEqual(report.retrain?.rounds.map((r) => r.round), [1]);

    client.send({ type: 'retrainDispose', run });
    await assert.rejects(client.request({ type: 'retrainWrite', run, round: 2, outDir: path.join(dir, 'round-2.condensed'), overwrite: false }), /no longer kept/);
  });

  it('"auto" learning rate, threshold and batch size reach the engine unset: a range test chooses the rate, each round its γ, the data the batch size; numbers are used as given', async () => {
    const auto = (await client.request<'retrained'>({ ...retrainRequest(2, 1), learningRate: 'auto', threshold: 'auto', batchSize: 'auto' })).summary;
    assert.strictEqual(auto.batchSize, defaultBatchSize(data.train.x.length, data.train.x[0].length));
    assert.strictEqual(auto.learningRate?.chosenBy, 'range test');
    assert.deepStrictEqual(auto.learningRate.trials?.map((t) => t.learningRate), LEARNING_RATE_CANDIDATES);
    assert.ok(LEARNING_RATE_CANDIDATES.includes(auto.learningRate.value));
    assert.match(auto.thresholds ?? '', /^each round removes 12 % of the remaining units/);
    // Cut from the trees: each round's γ removes units, so the rounds shrink the model.
    assert.ok(auto.rounds.length >= 1 && auto.rounds.every((r) => r.threshold !== undefined && r.threshold > 0 && r.threshold < 1), JSON.stringify(auto.rounds));
    assert.ok(auto.rounds[0].params < auto.paramsBefore);

    // Enough training rows that the batch chosen is not the smallest candidate, as it is for the 128 rows above.
    const rows = 4096;
    const large = path.join(dir, 'large');
    await fs.mkdir(large, { recursive: true });
    const { train } = await writeRetrainData(large, model, { train: rows, val: 96 });
    const chosen = (await client.request<'retrained'>({ ...retrainRequest(1, 1), trainInputs: train.inputs, trainTargets: train.targets, batchSize: 'auto' })).summary;
    assert.strictEqual(chosen.batchSize, defaultBatchSize(rows, train.x[0].length));
    assert.strictEqual(chosen.batchSize, 64);
    assert.match(chosen.training ?? '', /\(Adam, batch size 64: the largest of 32–256 that leaves 64 steps an epoch\)/);

    const given = (await client.request<'retrained'>({ ...retrainRequest(1, 1), learningRate: 3e-4, threshold: 0.999, batchSize: 16 })).summary;
    assert.deepStrictEqual(given.learningRate, { value: 3e-4, chosenBy: 'given' });
    assert.strictEqual(given.batchSize, 16);
    assert.strictEqual(given.thresholds, 'given: 0.999');
    assert.strictEqual(given.rounds[0].threshold, 0.999);
  });

  it('cancels retraining cooperatively between batches: the finished rounds stay writable', async () => {
    const abort = new AbortController();
    let run = 0;
    const answer = await client.request<'retrained'>(retrainRequest(3, 2), {
      signal: abort.signal,
      stop: 'cooperative',
      onId: (id) => (run = id),
      onProgress: (p) => p.type === 'retrainProgress' && p.event.kind === 'epoch' && p.event.epoch.round === 2 && abort.abort(),
    });
    assert.strictEqual(answer.outcome, 'cancelled');
    assert.deepStrictEqual(answer.summary.rounds.map((r) => r.round), [1]);
    const written = await client.request<'retrainWritten'>({ type: 'retrainWrite', run, round: 1, outDir: path.join(dir, 'cancelled.condensed'), overwrite: false });
    assert.strictEqual(written.round, 1);
    client.send({ type: 'retrainDispose', run });
  });

  it('a retrain request cancelled while queued behind another stops before reading anything', async () => {
    const firstAbort = new AbortController();
    const queuedAbort = new AbortController();
    const queuedProgress: WorkerProgress[] = [];
    const first = client.request<'retrained'>(retrainRequest(3, 3), {
      signal: firstAbort.signal,
      stop: 'cooperative',
      // The queued one is cancelled while this one trains; this one is then cancelled too.
      onProgress: (p) => {
        if (p.type !== 'retrainProgress' || p.event.kind !== 'epoch') return;
        queuedAbort.abort();
        firstAbort.abort();
      },
    });
    const queued = client.request<'retrained'>(retrainRequest(1, 1), { signal: queuedAbort.signal, stop: 'cooperative', onProgress: (p) => queuedProgress.push(p) });
    // Answered as soon as it is cancelled, before the first is: its rejection is awaited from the start.
    const queuedRejected = assert.rejects(queued, CancelledError);
    assert.strictEqual((await first).outcome, 'cancelled');
    await queuedRejected;
    // Not even the original was measured: no start event.
    assert.deepStrictEqual(queuedProgress, []);
  });

  it('retrains an ONNX model too: every format retrains', async () => {
    const onnx = path.join(root, 'test/fixtures/onnx/mlp.onnx');
    const onnxData = await writeRetrainData(await fs.mkdtemp(path.join(dir, 'onnx-')), onnx);
    const answer = await client.request<'retrained'>({
      ...retrainRequest(1, 1), file: onnx, tolerance: 10,
      trainInputs: onnxData.train.inputs, trainTargets: onnxData.train.targets, valInputs: onnxData.val.inputs, valTargets: onnxData.val.targets,
    });
    assert.strictEqual(answer.outcome, 'completed');
    assert.deepStrictEqual(answer.summary.rounds.map((r) => r.round), [1]);
  });

  it("opens a weights-only file with the request's activation (condense.weightsOnly.activation), not the default", async () => {
    const pt = path.join(root, 'test/fixtures/torch/mlp.pt');
    const ptData = await writeRetrainData(await fs.mkdtemp(path.join(dir, 'pt-')), pt);
    const files = { trainInputs: ptData.train.inputs, trainTargets: ptData.train.targets, valInputs: ptData.val.inputs, valTargets: ptData.val.targets };
    const answer = await client.request<'retrained'>({ ...retrainRequest(1, 1), file: pt, tolerance: 10, activation: 'tanh', ...files });
    // The original's validation MSE, as the engine computes it with tanh between the layers (the data's targets were made with ReLU).
    const { graph } = (await loadModel(pt, { activation: 'tanh' })).source;
    const rows = ptData.val.x.length;
    const y = await new GraphEvaluator(graph, { shape: [rows, 6], data: Float64Array.from(ptData.val.x.flat()) }).output(graph.outputs[0]);
    if (isUnsupported(y)) throw new Error(y.unsupported);
    const targets = ptData.val.y.flat();
    const mse = targets.reduce((s, t, i) => s + (y.data[i] - t) ** 2, 0) / targets.length;
    assert.ok(Math.abs(answer.summary.baseline - mse) <= 1e-5 * mse, `baseline ${answer.summary.baseline}, with tanh ${mse}`);
  });
});

describe('analysis cache', () => {
  let cache: AnalysisCache;
  beforeEach(() => (cache = new AnalysisCache(new WorkerClient(workerPath), () => ({ threshold: 0.95, backend: 'cpu' }))));
  afterEach(() => cache.dispose());

  it('shares one running analysis and then serves it from the cache', async () => {
    const model = await copyCombustionExample();
    const [a, b] = await Promise.all([cache.analyze(model), cache.analyze(model)]);
    assert.strictEqual(a, b);
    assert.strictEqual(await cache.analyze(model), a);
  });

  it('drops an analysis when its weight shard changes, and tells listeners', async () => {
    const model = await copyCombustionExample();
    const first = await cache.analyze(model);
    const changed: string[] = [];
    cache.onDidChange((p) => changed.push(p));
    cache.invalidateFile(path.join(path.dirname(model), 'unrelated.bin'));
    assert.strictEqual(cache.cached(model), first);
    cache.invalidateFile(path.join(path.dirname(model), 'group1-shard1of1.bin'));
    assert.strictEqual(cache.cached(model), undefined);
    assert.deepStrictEqual(changed, [model]);
    assert.notStrictEqual(await cache.analyze(model), first);
  });

  it('estimates with the model\'s own thresholds and overrides', async () => {
    const model = await copyCombustionExample();
    await cache.analyze(model);
    const at95 = cache.estimateFor(model)!;
    cache.setThresholds(model, { threshold: 0.95, overrides: { hidden2: 0.5 } });
    const overridden = cache.estimateFor(model)!;
    const hidden2 = (e: typeof at95) => e.layers.find((l) => l.name === 'hidden2')!;
    assert.ok(hidden2(overridden).unitsAfter! < hidden2(at95).unitsAfter!);
    assert.strictEqual(overridden.layers.find((l) => l.name === 'hidden1')!.unitsAfter, at95.layers.find((l) => l.name === 'hidden1')!.unitsAfter);
  });
});
