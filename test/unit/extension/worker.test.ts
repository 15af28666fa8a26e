import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { CancelledError } from '../../../src/core/errors';
import { AnalysisCache } from '../../../src/extension/analysisCache';
import { WorkerClient, WorkerFailure } from '../../../src/extension/workerClient';
import { tempDir } from '../../helpers/models';

const root = path.join(__dirname, '../../..');
const workerPath = path.join(root, 'dist/worker.js');
const example = path.join(root, 'examples/combustion-mlp');

async function copyExample(): Promise<string> {
  const dir = await tempDir();
  for (const f of ['model.json', 'group1-shard1of1.bin']) await fs.copyFile(path.join(example, f), path.join(dir, f));
  return path.join(dir, 'model.json');
}

describe('analysis worker (dist/worker.js, built by npm test)', function () {
  let client: WorkerClient;
  beforeEach(() => (client = new WorkerClient(workerPath)));
  afterEach(() => client.dispose());

  it('analyses a model, reporting progress per layer', async () => {
    const model = await copyExample();
    const layers: string[] = [];
    const result = await client.request<'analyzed'>({ type: 'analyze', file: model, backend: 'cpu' }, { onProgress: (p) => layers.push(p.layer) });
    assert.deepStrictEqual(layers.filter(Boolean), ['hidden1', 'hidden2', 'hidden3', 'output']);
    assert.deepStrictEqual(result.files, [model, path.join(path.dirname(model), 'group1-shard1of1.bin')]);
    assert.ok(result.summary.layers.find((l) => l.name === 'hidden2')!.heatmap!.size > 0);
  });

  it('reports a bad file as an input failure naming the file, and keeps working', async () => {
    const dir = await tempDir();
    const bad = path.join(dir, 'model.json');
    await fs.writeFile(bad, '{"modelTopology": ');
    await assert.rejects(client.request({ type: 'analyze', file: bad, backend: 'cpu' }), (e: unknown) => e instanceof WorkerFailure && e.input && e.message.startsWith(bad));
    const ok = await client.request<'analyzed'>({ type: 'analyze', file: await copyExample(), backend: 'cpu' });
    assert.strictEqual(ok.type, 'analyzed');
  });

  it('cancels at once, and the next request starts a fresh worker', async () => {
    const running = client.request({ type: 'analyze', file: await copyExample(), backend: 'cpu' });
    client.cancel();
    await assert.rejects(running, CancelledError);
    const again = await client.request<'analyzed'>({ type: 'analyze', file: await copyExample(), backend: 'cpu' });
    assert.strictEqual(again.type, 'analyzed');
  });

  it('turns a worker that dies into a clear error, then recovers', async () => {
    const dying = new WorkerClient(path.join(root, 'test/fixtures/exiting-worker.js'));
    try {
      await assert.rejects(dying.request({ type: 'analyze', file: 'exit', backend: 'cpu' }), /stopped unexpectedly \(exit code 7\)/);
      await assert.rejects(dying.request({ type: 'analyze', file: 'other', backend: 'cpu' }), /other: no such model/);
    } finally {
      dying.dispose();
    }
  });

  it('writes a reduced model that matches the analysis, without touching the original', async () => {
    const model = await copyExample();
    const before = await fs.readFile(model);
    const outDir = path.join(path.dirname(model), 'model.condensed');
    const result = await client.request<'reduced'>({
      type: 'reduce', file: model, backend: 'cpu', thresholds: { threshold: 0.95, overrides: { hidden2: 0.99 } }, outDir, overwrite: false,
    });
    assert.strictEqual(result.outDir, outDir);
    const written = JSON.parse(await fs.readFile(path.join(outDir, 'condense-report.json'), 'utf8'));
    assert.strictEqual(written.layers.find((l: { name: string }) => l.name === 'hidden2').threshold, 0.99);
    assert.deepStrictEqual(await fs.readFile(model), before);
  });

  it('searches thresholds automatically and returns the size–error curve as plain data', async () => {
    const model = await copyExample();
    const dir = path.dirname(model);
    const inputs = JSON.parse(await fs.readFile(path.join(example, 'probe-inputs.json'), 'utf8')) as number[][];
    // Targets unrelated to the model: a large baseline MSE, so the search finds reductions within 10 %.
    const targets = inputs.map((_, r) => Array.from({ length: 5 }, (_, c) => Math.sin(7 * r + 3 * c)));
    await fs.writeFile(path.join(dir, 'val-x.json'), JSON.stringify(inputs));
    await fs.writeFile(path.join(dir, 'val-y.json'), JSON.stringify(targets));
    const { result } = await client.request<'autoResult'>({
      type: 'auto', file: model, backend: 'cpu', tolerance: 0.1, valInputs: path.join(dir, 'val-x.json'), valTargets: path.join(dir, 'val-y.json'),
    });
    assert.deepStrictEqual(JSON.parse(JSON.stringify(result)), result);
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

describe('analysis cache', () => {
  let cache: AnalysisCache;
  beforeEach(() => (cache = new AnalysisCache(new WorkerClient(workerPath), () => ({ threshold: 0.95, backend: 'cpu' }))));
  afterEach(() => cache.dispose());

  it('shares one running analysis and then serves it from the cache', async () => {
    const model = await copyExample();
    const [a, b] = await Promise.all([cache.analyze(model), cache.analyze(model)]);
    assert.strictEqual(a, b);
    assert.strictEqual(await cache.analyze(model), a);
  });

  it('drops an analysis when its weight shard changes, and tells listeners', async () => {
    const model = await copyExample();
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
    const model = await copyExample();
    await cache.analyze(model);
    const at95 = cache.estimateFor(model)!;
    cache.setThresholds(model, { threshold: 0.95, overrides: { hidden2: 0.5 } });
    const overridden = cache.estimateFor(model)!;
    const hidden2 = (e: typeof at95) => e.layers.find((l) => l.name === 'hidden2')!;
    assert.ok(hidden2(overridden).unitsAfter! < hidden2(at95).unitsAfter!);
    assert.strictEqual(overridden.layers.find((l) => l.name === 'hidden1')!.unitsAfter, at95.layers.find((l) => l.name === 'hidden1')!.unitsAfter);
  });
});
