import * as assert from 'assert';
import { promises as fs, utimesSync, writeFileSync } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../../src/core/model/errors';
import { AnalysisCache } from '../../../src/extension/analysisCache';
import { WorkerClient, WorkerFailure, WorkerProgress } from '../../../src/extension/workerClient';
import { copyCombustionExample, saveLayersModel, tempDir } from '../../helpers/models';

const root = path.join(__dirname, '../../..');
const workerPath = path.join(root, 'dist/worker.js');

/** Dense layers on two inputs: a few kilobytes on disk, but the similarity of 12 000 units is a 12 000² matrix (576 MB). */
async function wideModel(): Promise<string> {
  const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 12_000, activation: 'relu' }), tf.layers.dense({ units: 1 })] });
  return saveLayersModel(model, await tempDir());
}

/** Forty layers of 256 units: an analysis long enough (a turn of the worker per layer) to be cancelled while it runs. */
async function deepModel(): Promise<string> {
  const layers = [tf.layers.dense({ inputShape: [16], units: 256, activation: 'relu' })];
  for (let i = 1; i < 40; i++) layers.push(tf.layers.dense({ units: 256, activation: 'relu' }));
  return saveLayersModel(tf.sequential({ layers }), await tempDir());
}

const analyze = (file: string) => ({ type: 'analyze' as const, file, backend: 'cpu' as const });

describe('analysis worker process: memory cap', function () {
  it('a model whose analysis needs more memory than the cap ends only its worker, saying so; the next request starts a fresh one', async () => {
    const wide = await wideModel();
    // Above what the worker needs for the small example (about 150 MiB), far below the wide model's need.
    const client = new WorkerClient(workerPath, { memoryLimitMiB: () => 300 });
    let stops = 0;
    client.onDidStopUnexpectedly(() => stops++);
    try {
      await assert.rejects(client.request(analyze(wide)), (e: unknown) => {
        assert.ok(e instanceof WorkerFailure && e.input, String(e));
        assert.match(e.message, new RegExp(`^the analysis of ${wide.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ran out of memory \\(limit 300 MiB\\)`));
        return true;
      });
      assert.strictEqual(stops, 1);
      const after = await client.request<'analyzed'>(analyze(await copyCombustionExample()));
      assert.strictEqual(after.type, 'analyzed');
    } finally {
      client.dispose();
    }
  });
});

describe('analysis worker process: a changed memory cap', function () {
  it('applies from the next request on, while what the old worker was doing finishes there', async () => {
    let cap = 4096;
    const client = new WorkerClient(workerPath, { memoryLimitMiB: () => cap });
    try {
      const running = client.request<'analyzed'>(analyze(await copyCombustionExample()));
      cap = 300;
      client.renew();
      assert.strictEqual((await running).type, 'analyzed');
      await assert.rejects(client.request(analyze(await wideModel())), /ran out of memory \(limit 300 MiB\)/);
    } finally {
      client.dispose();
    }
  });
});

describe('analysis worker: cancellation per request', function () {
  let client: WorkerClient;
  let small: string;
  let deep: string;
  before(async () => {
    small = await copyCombustionExample();
    deep = await deepModel();
  });
  beforeEach(() => (client = new WorkerClient(workerPath)));
  afterEach(() => client.dispose());

  it('stops a cancelled analysis in the worker, between layers, and leaves the request behind it alone', async () => {
    // The worker keeps its last finished analysis: answered without progress, the small model proves the process unchanged and the deep analysis unfinished.
    await client.request(analyze(small));
    const abort = new AbortController();
    const cancelled = client.request(analyze(deep), { signal: abort.signal, onProgress: (p) => p.type === 'progress' && p.done === 1 && abort.abort() });
    const progress: WorkerProgress[] = [];
    const behind = client.request<'analyzed'>(analyze(small), { onProgress: (p) => progress.push(p) });
    await assert.rejects(cancelled, CancelledError);
    assert.strictEqual((await behind).type, 'analyzed');
    assert.deepStrictEqual(progress, []);
  });

  it('answers a cancelled request that waits in the queue at once, while the one running goes on', async () => {
    const settled: string[] = [];
    const running = client.request<'analyzed'>(analyze(deep)).finally(() => settled.push('running'));
    const abort = new AbortController();
    const queued = client.request(analyze(small), { signal: abort.signal }).finally(() => settled.push('queued'));
    abort.abort();
    await assert.rejects(queued, CancelledError);
    assert.strictEqual((await running).type, 'analyzed');
    assert.deepStrictEqual(settled, ['queued', 'running']);
  });

  it('ends the worker only when a cancelled request does not stop within the grace period, and runs the requests behind it in a fresh one', async () => {
    const impatient = new WorkerClient(workerPath, { graceMs: 0 });
    let stops = 0;
    impatient.onDidStopUnexpectedly(() => stops++);
    try {
      await impatient.request(analyze(small));
      // A verification has no point to stop at: cancelled, it outlasts a grace period of 0.
      const abort = new AbortController();
      const verifying = impatient.request({ type: 'verify', original: small, reduced: small, backend: 'cpu', samples: 64 }, { signal: abort.signal });
      const behind = impatient.request<'analyzed'>(analyze(deep));
      abort.abort();
      await assert.rejects(verifying, CancelledError);
      assert.strictEqual((await behind).type, 'analyzed');
      assert.strictEqual(stops, 1);
    } finally {
      impatient.dispose();
    }
  });

  it('removes the temporary output folder of a write whose worker died, and no other', async () => {
    const dying = new WorkerClient(path.join(root, 'test/fixtures/exiting-worker.js'));
    try {
      const dir = await tempDir();
      // Another process's write in progress (pid 1 is never a worker's).
      const others = '.model.condensed.tmp-1-abc';
      await fs.mkdir(path.join(dir, others));
      const outDir = path.join(dir, 'model.condensed');
      const write = dying.request({ type: 'reduce', file: small, backend: 'cpu', thresholds: { threshold: 0.9, overrides: {} }, outDir, overwrite: false });
      await assert.rejects(write, /stopped unexpectedly \(exit code 7\)/);
      assert.deepStrictEqual(await fs.readdir(dir), [others]);
    } finally {
      dying.dispose();
    }
  });
});

describe('analysis cache: joined and changing analyses', function () {
  let cache: AnalysisCache;
  let deep: string;
  before(async () => (deep = await deepModel()));
  beforeEach(() => (cache = new AnalysisCache(new WorkerClient(workerPath), () => ({ threshold: 0.95, backend: 'cpu' }))));
  afterEach(() => cache.dispose());

  it('a caller that cancels leaves the analysis it joined running for the others', async () => {
    const leaving = new AbortController();
    const first = cache.analyze(deep, { signal: leaving.signal, onProgress: () => leaving.abort() });
    const second = cache.analyze(deep);
    await assert.rejects(first, CancelledError);
    const entry = await second;
    assert.strictEqual(cache.cached(deep), entry);
  });

  it('the analysis stops in the worker when its last caller cancels', async () => {
    const small = await copyCombustionExample();
    await cache.analyze(small);
    const a = new AbortController();
    const b = new AbortController();
    const first = cache.analyze(deep, { signal: a.signal, onProgress: (e) => e.done === 1 && a.abort() });
    const second = cache.analyze(deep, { signal: b.signal, onProgress: () => a.signal.aborted && b.abort() });
    await Promise.all([assert.rejects(first, CancelledError), assert.rejects(second, CancelledError)]);
    // Answered from the worker's last analysis, without progress: the deep one was stopped, in the same process.
    const progress: WorkerProgress[] = [];
    await cache.worker.request(analyze(small), { onProgress: (p) => progress.push(p) });
    assert.deepStrictEqual(progress, []);
    assert.strictEqual(cache.cached(deep), undefined);
  });

  it('starts a running analysis again when a weight shard it read changes, and answers for the changed weights', async () => {
    const model = await copyCombustionExample();
    const shard = path.join(path.dirname(model), 'group1-shard1of1.bin');
    const reference = new WorkerClient(workerPath);
    try {
      const before = await reference.request<'analyzed'>(analyze(model));
      const floats = (await fs.stat(shard)).size / 4;
      let changed = false;
      const entry = await cache.analyze(model, {
        onProgress: () => {
          if (changed) return;
          changed = true;
          // The worker has read the shard: new weights arrive, as a training run would save them.
          writeFileSync(shard, new Float32Array(Array.from({ length: floats }, (_, i) => Math.sin(i * 1.7))));
          cache.invalidateFile(shard);
        },
      });
      const after = await reference.request<'analyzed'>(analyze(model));
      assert.notDeepStrictEqual(after.summary, before.summary);
      assert.deepStrictEqual(entry.wire, after.summary);
    } finally {
      reference.dispose();
    }
  });

  it('starts a running analysis again at once when its model file changes', async () => {
    const model = await copyCombustionExample();
    const layers: string[] = [];
    await cache.analyze(model, {
      onProgress: (e) => {
        if (e.layer) layers.push(e.layer);
        if (layers.length > 1) return;
        // Saved again: a newer modification time is a new model for the worker too.
        utimesSync(model, new Date(), new Date(Date.now() + 60_000));
        cache.invalidateFile(model);
      },
    });
    // Progress began again from the first layer, and ran to the end.
    assert.strictEqual(layers.filter((l) => l === 'hidden1').length, 2);
    assert.strictEqual(layers[layers.length - 1], 'output');
  });
});
