/**
 * The analysis worker (worker_threads): owns all heavy work so the extension host never stutters.
 * Requests run one at a time; cancelling is done by the host terminating this worker.
 */
import { promises as fs } from 'fs';
import { parentPort } from 'worker_threads';
import { Analysis, analyzeModel, loadModel } from '../core/analysis';
import { loadBackend } from '../core/backend';
import { InputError } from '../core/errors';
import { Heatmap, heatmapOf } from '../core/heatmap';
import { reduceModel } from '../core/reduce';
import { verifyModels } from '../core/verify';
import { BackendName, toWire, WorkerRequest, WorkerResponse } from '../shared/protocol';

const port = parentPort;
if (!port) throw new Error('worker.js must run as a worker thread');

const post = (message: WorkerResponse): void => port.postMessage(message);

/** The last analysis (by model file and activation), reused by "write" while the files are unchanged. */
const analyses = new Map<string, { stamp: string; analysis: Analysis }>();

async function stampOf(paths: string[]): Promise<string> {
  const stats = await Promise.all(paths.map((p) => fs.stat(p).then((s) => `${s.size}:${s.mtimeMs}`, () => 'missing')));
  return stats.join('|');
}

async function analyse(id: number, file: string, backendName: BackendName, activation: string | undefined): Promise<Analysis> {
  const key = `${file}\n${activation ?? ''}`;
  const cached = analyses.get(key);
  if (cached && cached.stamp === (await stampOf(cached.analysis.model.source.files))) {
    return cached.analysis;
  }
  const backend = await loadBackend(backendName);
  const model = await loadModel(file, { activation });
  const analysis = await analyzeModel(model, {
    gram: backend.gram,
    backend: backend.label,
    onProgress: (p) => post({ type: 'progress', id, ...p }),
  });
  analyses.clear();
  analyses.set(key, { stamp: await stampOf(model.source.files), analysis });
  return analysis;
}

function heatmaps(analysis: Analysis): Map<string, Heatmap> {
  const out = new Map<string, Heatmap>();
  for (const layer of analysis.summary.layers) {
    const detail = analysis.details.get(layer.name);
    if (detail && layer.dendrogram) out.set(layer.name, heatmapOf(detail.vectors, detail.live, layer.dendrogram));
  }
  return out;
}

async function handle(request: WorkerRequest): Promise<void> {
  switch (request.type) {
    case 'analyze': {
      const analysis = await analyse(request.id, request.file, request.backend, request.activation);
      post({ type: 'analyzed', id: request.id, summary: toWire(analysis.summary, heatmaps(analysis)), files: analysis.model.source.files });
      return;
    }
    case 'reduce': {
      const analysis = await analyse(request.id, request.file, request.backend, request.activation);
      const result = await reduceModel(analysis, request.thresholds.threshold, request.outDir, {
        overrides: request.thresholds.overrides,
        overwrite: request.overwrite,
      });
      const t = result.estimate.totals;
      post({ type: 'reduced', id: request.id, outDir: result.outDir, mainFile: result.mainFile, paramsBefore: t.paramsBefore, paramsAfter: t.paramsAfter });
      return;
    }
    case 'verify': {
      const backend = await loadBackend(request.backend);
      const fidelity = await verifyModels(backend, request.original, request.reduced, { samples: request.samples, data: request.data, activation: request.activation });
      post({ type: 'verified', id: request.id, fidelity, backend: backend.label });
      return;
    }
  }
}

let queue = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(() =>
    handle(request).catch((e: unknown) => {
      const input = e instanceof InputError;
      post({ type: 'failed', id: request.id, message: input ? e.message : `${(e as Error).message ?? String(e)}`, input });
    }),
  );
});
