/**
 * The analysis worker: a child process of the extension host (forked with an IPC channel and a memory
 * cap, see workerClient.ts), so a model that needs more memory than allowed ends only this process.
 * Requests run one at a time, in order. An `abort` control message cancels its request alone: one
 * still queued is answered at once; a running analysis stops between layers and a write before it
 * writes; the auto search and retraining stop between candidates or training batches and answer with
 * what they have — a retrain run's finished rounds stay writable (also when a later round fails).
 * A verification's timing stops between runs; what cannot stop (a write already writing, the output
 * comparison) the host ends by ending the process.
 * Control messages and retrainWrite are handled at once, not queued behind the running request.
 */
import { promises as fs } from 'fs';
import { AnalysedFile, Analysis, analyzeFile } from '../core/analyze';
import { loadBackend } from '../core/compute/backend';
import { autoReduce } from '../core/auto';
import { CancelledError, CancelToken, InputError, throwIfCancelled } from '../core/model/errors';
import { Heatmap, heatmapOf } from '../core/similarity/heatmap';
import { reduceModel } from '../core/reduce';
import { PauseGate, RetrainRun, runRetrain } from '../core/retrain';
import { verifyModels } from '../core/verify';
import { measureTiming, recordTiming } from '../core/timing';
import { GramEngine } from '../core/similarity/weights';
import { autoCurveToWire, autoPointToWire, isWorkerControl, MEMORY_LIMIT_ARGUMENT, RetrainEvent, toWire, WorkerControl, WorkerRequest, WorkerResponse } from '../shared/protocol';
import { loadLabelledData } from '../core/data/validation';
import { givenNumber } from '../shared/retrainSettings';
import { watchMemory } from './memoryWatch';

const send = process.send?.bind(process);
if (!send) throw new Error('worker.js must run as a child process with an IPC channel (child_process.fork)');
const post = (message: WorkerResponse): void => void send(message);
// The host gone (closed, crashed), nothing can ask for or receive work.
process.on('disconnect', () => process.exit(0));

const limit = process.argv.find((a) => a.startsWith(MEMORY_LIMIT_ARGUMENT));
if (limit) watchMemory(Number(limit.slice(MEMORY_LIMIT_ARGUMENT.length)));

/** The last analysis (by model file, activation and calibration file), reused by "write" while the files are unchanged. */
const analyses = new Map<string, AnalysedFile & { stamp: string }>();

async function stampOf(paths: string[]): Promise<string> {
  const stats = await Promise.all(paths.map((p) => fs.stat(p).then((s) => `${s.size}:${s.mtimeMs}`, () => 'missing')));
  return stats.join('|');
}

type Request = Extract<WorkerRequest, { type: 'analyze' | 'reduce' | 'auto' }>;

/** A request's abort as the core's cancel token. */
const tokenOf = (signal: AbortSignal): CancelToken => ({
  get cancelled() {
    return signal.aborted;
  },
});

/**
 * The backend's gram engine followed by one turn of the event loop: an abort message that arrived
 * while a layer was computed is received then, and the analysis's check after the layer sees it.
 */
const yieldingAfter = (engine: GramEngine): GramEngine => ({
  name: engine.name,
  async gram(rows, n, d) {
    const s = await engine.gram(rows, n, d);
    await new Promise((resolve) => setImmediate(resolve));
    return s;
  },
});

async function analyse(request: Request, signal: AbortSignal): Promise<AnalysedFile> {
  const { id, file, activation, calibration: data } = request;
  const key = `${file}\n${activation ?? ''}\n${data ?? ''}`;
  const cached = analyses.get(key);
  const read = (files: string[]): string[] => (data ? [...files, data] : files);
  if (cached && cached.stamp === (await stampOf(read(cached.analysis.model.source.fingerprint.map((s) => s.path))))) return cached;
  const backend = await loadBackend(request.backend);
  // Stamped before reading: a file changed while the analysis runs leaves the kept analysis stale, not fresh.
  const dataStamp = data ? await stampOf([data]) : undefined;
  const { analysis, calibration } = await analyzeFile(file, {
    open: { activation },
    calibration: data ? { file: data } : undefined,
    gram: yieldingAfter(backend.gram),
    backend: backend.label,
    cancel: tokenOf(signal),
    onProgress: (p) => post({ type: 'progress', id, ...p }),
  });
  analyses.clear();
  // The core stamps each model file before reading it.
  const modelStamps = analysis.model.source.fingerprint.map((s) => `${s.size}:${s.mtimeMs}`);
  const entry = { stamp: [...modelStamps, ...(dataStamp ? [dataStamp] : [])].join('|'), analysis, calibration };
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

/** Per request, from its arrival: an abort or pause may come before it starts. */
const aborts = new Map<number, AbortController>();
const gates = new Map<number, PauseGate>();
/** Retrain runs by request id, from their start: their rounds are writable until disposed. */
const runs = new Map<number, RetrainRun>();
/** Runs disposed before they finished: their models are removed as soon as they do. */
const disposedEarly = new Set<number>();

async function handle(request: Exclude<WorkerRequest, { type: 'retrainWrite' }>, signal: AbortSignal): Promise<void> {
  switch (request.type) {
    case 'analyze': {
      const { analysis } = await analyse(request, signal);
      // The calibration file is read too: editing it makes the analysis stale.
      const files = request.calibration ? [...analysis.model.source.files, request.calibration] : analysis.model.source.files;
      post({ type: 'analyzed', id: request.id, summary: toWire(analysis.summary, heatmaps(analysis)), files });
      return;
    }
    case 'reduce': {
      const { analysis, calibration } = await analyse(request, signal);
      // The last point where a write can stop: once writing, it finishes (or the host ends this process).
      throwIfCancelled(tokenOf(signal));
      const result = await reduceModel(analysis, request.thresholds.threshold, request.outDir, {
        overrides: request.thresholds.overrides,
        overwrite: request.overwrite,
        calibration: request.refit === false ? undefined : calibration,
        roundTo: request.roundTo,
      });
      const t = result.estimate.totals;
      post({ type: 'reduced', id: request.id, outDir: result.outDir, mainFile: result.mainFile, paramsBefore: t.paramsBefore, paramsAfter: t.paramsAfter, merge: result.report.merge });
      return;
    }
    case 'auto': {
      const { analysis, calibration } = await analyse(request, signal);
      const backend = await loadBackend(request.backend);
      const validation = await loadLabelledData(analysis.model.source.graph, request.valInputs, request.valTargets);
      const result = await autoReduce(analysis, {
        tolerance: request.tolerance, validation, calibration, backend, openOptions: { activation: request.activation }, roundTo: request.roundTo, signal,
        onCandidate: (point, measured, budget) => post({ type: 'candidate', id: request.id, point: autoPointToWire(point), measured, budget }),
      });
      post({ type: 'autoResult', id: request.id, result: autoCurveToWire(result), cancelled: signal.aborted });
      return;
    }
    case 'retrain': {
      const { id } = request;
      const report = (event: RetrainEvent): void => post({ type: 'retrainProgress', id, event });
      const backend = await loadBackend(request.backend);
      const run = await runRetrain(request.file, {
        backend, threshold: givenNumber(request.threshold), tolerance: request.tolerance, epochs: request.epochs, rounds: request.rounds,
        targetRatio: request.targetRatio, learningRate: givenNumber(request.learningRate), batchSize: givenNumber(request.batchSize), trainer: request.trainer,
        trainInputs: request.trainInputs, trainTargets: request.trainTargets, valInputs: request.valInputs, valTargets: request.valTargets,
        calibration: request.calibration ? { file: request.calibration } : undefined, openOptions: { activation: request.activation },
        signal, gate: gates.get(id),
        onStart: (run) => {
          // Kept from the start: a finished round can be written while later ones train.
          runs.set(id, run);
          report({ kind: 'start', summary: run.summary, workDir: run.workDir });
        },
        onEpoch: (epoch) => report({ kind: 'epoch', epoch }),
        onRound: (round, summary) => report({ kind: 'round', round, summary }),
      }).catch((e: unknown) => {
        // A run that failed before its first round removed its folder: nothing of it can be written.
        runs.delete(id);
        throw e;
      });
      if (disposedEarly.delete(id)) {
        runs.delete(id);
        await run.dispose();
      }
      const outcome = run.outcome === 'running' ? 'completed' : run.outcome;
      post({ type: 'retrained', id, summary: run.summary, outcome, ...(outcome === 'failed' ? { error: failureOf(run.error).message } : {}) });
      return;
    }
    case 'verify': {
      const backend = await loadBackend(request.backend);
      const open = { activation: request.activation };
      const fidelity = await verifyModels(backend, request.original, request.reduced, { samples: request.samples, data: request.data, ...open });
      const timing = request.timing
        ? await measureTiming(backend, request.original, request.reduced, {
          ...request.timing, data: request.data, ...open, cancel: tokenOf(signal),
          onProgress: (done, total, what) => post({ type: 'progress', id: request.id, layer: what, done, total }),
        })
        : undefined;
      if (timing) await recordTiming(request.reduced, timing);
      post({ type: 'verified', id: request.id, fidelity, backend: backend.label, ...(timing ? { timing } : {}) });
      return;
    }
  }
}

function failureOf(e: unknown): { message: string; input: boolean } {
  const input = e instanceof InputError;
  return { message: input ? e.message : `${(e as Error)?.message ?? String(e)}`, input };
}

function fail(id: number, e: unknown): void {
  if (e instanceof CancelledError) post({ type: 'cancelled', id });
  else post({ type: 'failed', id, ...failureOf(e) });
}

async function writeRound(request: Extract<WorkerRequest, { type: 'retrainWrite' }>): Promise<void> {
  const run = runs.get(request.run);
  if (!run) throw new Error('this retrain run is no longer kept (its models were removed); run it again');
  const written = await run.write(request.round, request.outDir, { overwrite: request.overwrite });
  const round = run.summary.rounds.find((r) => r.round === request.round)!;
  post({ type: 'retrainWritten', id: request.id, round: request.round, outDir: written.outDir, mainFile: written.mainFile, paramsBefore: run.summary.paramsBefore, paramsAfter: round.params });
}

type Queued = Exclude<WorkerRequest, { type: 'retrainWrite' }>;
/** Requests waiting for the running one, in order of arrival. */
const waiting: Queued[] = [];
let busy = false;

function forget(id: number): void {
  aborts.delete(id);
  gates.delete(id);
  disposedEarly.delete(id);
}

function control(message: WorkerControl): void {
  switch (message.type) {
    case 'abort': {
      const queued = waiting.findIndex((r) => r.id === message.id);
      if (queued < 0) return aborts.get(message.id)?.abort();
      // Not begun: nothing to stop, and nothing to wait for.
      waiting.splice(queued, 1);
      forget(message.id);
      post({ type: 'cancelled', id: message.id });
      return;
    }
    case 'pause':
      gates.get(message.id)?.pause();
      return;
    case 'resume':
      gates.get(message.id)?.resume();
      return;
    case 'retrainDispose': {
      // A run still training writes into its folder: it is removed when the run stops.
      if (aborts.has(message.run)) {
        disposedEarly.add(message.run);
        return;
      }
      // Writes of its rounds still in flight finish first (the run's dispose waits for them).
      const run = runs.get(message.run);
      runs.delete(message.run);
      void run?.dispose();
      return;
    }
  }
}

function runNext(): void {
  const request = busy ? undefined : waiting.shift();
  if (!request) return;
  busy = true;
  handle(request, aborts.get(request.id)!.signal)
    .catch((e: unknown) => fail(request.id, e))
    .finally(() => {
      forget(request.id);
      busy = false;
      runNext();
    });
}

process.on('message', (message: WorkerRequest | WorkerControl) => {
  if (isWorkerControl(message)) return control(message);
  const request = message;
  if (request.type === 'retrainWrite') {
    writeRound(request).catch((e: unknown) => fail(request.id, e));
    return;
  }
  aborts.set(request.id, new AbortController());
  if (request.type === 'retrain') gates.set(request.id, new PauseGate(() => post({ type: 'retrainProgress', id: request.id, event: { kind: 'paused' } })));
  waiting.push(request);
  runNext();
});
