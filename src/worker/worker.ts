/**
 * The analysis worker (worker_threads): owns all heavy work so the extension host never stutters.
 * Requests run one at a time; cancelling is done by the host terminating this worker.
 */
import { promises as fs } from 'fs';
import { parentPort } from 'worker_threads';
import { Analysis, analyzeModel, loadModel } from '../core/analysis';
import { loadBackend } from '../core/backend';
import { Calibration, loadCalibration } from '../core/calibration';
import { autoReduce, loadValidation } from '../core/autoReduce';
import { InputError } from '../core/errors';
import { Heatmap, heatmapOf } from '../core/heatmap';
import { reduceModel } from '../core/reduce';
import { verifyModels } from '../core/verify';
import { autoCurveToWire, toWire, WorkerRequest, WorkerResponse } from '../shared/protocol';

const port = parentPort;
if (!port) throw new Error('worker.js must run as a worker thread');

const post = (message: WorkerResponse): void => port.postMessage(message);

/** The last analysis (by model file, activation and calibration file), reused by "write" while the files are unchanged. */
const analyses = new Map<string, { stamp: string; analysis: Analysis; calibration?: Calibration }>();

async function stampOf(paths: string[]): Promise<string> {
  const stats = await Promise.all(paths.map((p) => fs.stat(p).then((s) => `${s.size}:${s.mtimeMs}`, () => 'missing')));
  return stats.join('|');
}

type Request = Extract<WorkerRequest, { type: 'analyze' | 'reduce' | 'auto' }>;

async function analyse(request: Request): Promise<{ analysis: Analysis; calibration?: Calibration }> {
  const { id, file, activation, calibration: data } = request;
  const key = `${file}\n${activation ?? ''}\n${data ?? ''}`;
  const cached = analyses.get(key);
  const read = (files: string[]): string[] => (data ? [...files, data] : files);
  if (cached && cached.stamp === (await stampOf(read(cached.analysis.model.source.files)))) return cached;
  const backend = await loadBackend(request.backend);
  const model = await loadModel(file, { activation });
  const calibration = data ? await loadCalibration(model.source.graph, { file: data }, model.source.path) : undefined;
  const analysis = await analyzeModel(model, {
    gram: backend.gram,
    backend: backend.label,
    calibration,
    onProgress: (p) => post({ type: 'progress', id, ...p }),
  });
  analyses.clear();
  const entry = { stamp: await stampOf(read(model.source.files)), analysis, calibration };
  analyses.set(key, entry);
  return entry;
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
      const { analysis } = await analyse(request);
      // The calibration file is read too: editing it makes the analysis stale.
      const files = request.calibration ? [...analysis.model.source.files, request.calibration] : analysis.model.source.files;
      post({ type: 'analyzed', id: request.id, summary: toWire(analysis.summary, heatmaps(analysis)), files });
      return;
    }
    case 'reduce': {
      const { analysis, calibration } = await analyse(request);
      const result = await reduceModel(analysis, request.thresholds.threshold, request.outDir, {
        overrides: request.thresholds.overrides,
        overwrite: request.overwrite,
        calibration,
      });
      const t = result.estimate.totals;
      post({ type: 'reduced', id: request.id, outDir: result.outDir, mainFile: result.mainFile, paramsBefore: t.paramsBefore, paramsAfter: t.paramsAfter, merge: result.report.merge });
      return;
    }
    case 'auto': {
      const { analysis, calibration } = await analyse(request);
      const backend = await loadBackend(request.backend);
      const validation = await loadValidation(analysis.model.source.graph, request.valInputs, request.valTargets);
      const result = await autoReduce(analysis, { tolerance: request.tolerance, validation, calibration, backend, openOptions: { activation: request.activation } });
      post({ type: 'autoResult', id: request.id, result: autoCurveToWire(result) });
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
