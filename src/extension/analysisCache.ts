/**
 * Analyses per model file and each model's thresholds, kept until the model or one of its weight
 * shards changes. Callers asking for a model being analysed join its running analysis; each can
 * cancel for itself, and the analysis stops only when the last of them cancels. A running analysis
 * whose files change is started again. Free of `vscode` so it is unit-tested directly; `Analyses`
 * adds the UI.
 */
import { estimate, Estimate, ModelSummary } from '../core/estimate';
import { CancelledError } from '../core/model/errors';
import { BackendName, fromWire, ThresholdState, WireSummary, WorkerResponse } from '../shared/protocol';
import { WorkerClient } from './workerClient';

export interface AnalysisEntry {
  wire: WireSummary;
  summary: ModelSummary;
  /** The model file and its weight shards. */
  files: string[];
}

export interface ProgressEvent {
  path: string;
  layer: string;
  done: number;
  total: number;
}

type Listener<T> = (value: T) => void;

export interface AnalyzeOptions {
  /** This caller's cancellation: the analysis itself stops when every caller waiting for it has cancelled. */
  signal?: AbortSignal;
  onProgress?: Listener<ProgressEvent>;
}

/** One analysis running in the worker, shared by the callers that asked for it meanwhile. */
interface Running {
  result: Promise<AnalysisEntry>;
  /** Callers still waiting for it; one without a signal waits to the end. */
  callers: number;
  progress: Set<Listener<ProgressEvent>>;
  /** The worker request under way: aborted to cancel it, or to start it again. */
  attempt: AbortController;
  /** Every caller cancelled: the analysis is not started again. */
  cancelled: boolean;
  /** Files changed while the attempt ran: if it read any of them, its answer is stale. */
  changed: Set<string>;
  /** Something the whole attempt depends on (the model file, a setting) changed. */
  stale: boolean;
}

export class AnalysisCache {
  private readonly entries = new Map<string, AnalysisEntry>();
  private readonly inflight = new Map<string, Running>();
  private readonly thresholds = new Map<string, ThresholdState>();
  private readonly changeListeners = new Set<Listener<string>>();
  private readonly progressListeners = new Set<Listener<ProgressEvent>>();

  constructor(
    readonly worker: WorkerClient,
    /** `calibration`: the model's calibration file, if any. */
    private readonly defaults: (model?: string) => { threshold: number; backend: BackendName; activation?: string; calibration?: string },
  ) {}

  /** Called with a model path when its analysis or thresholds change; returns an unsubscribe function. */
  onDidChange(listener: Listener<string>): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onProgress(listener: Listener<ProgressEvent>): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  cached(path: string): AnalysisEntry | undefined {
    return this.entries.get(path);
  }

  thresholdsFor(path: string): ThresholdState {
    return this.thresholds.get(path) ?? { threshold: this.defaults().threshold, overrides: {} };
  }

  setThresholds(path: string, t: ThresholdState): void {
    this.thresholds.set(path, t);
    this.changed(path);
  }

  estimateFor(path: string): Estimate | undefined {
    const entry = this.entries.get(path);
    if (!entry) return undefined;
    const t = this.thresholdsFor(path);
    return estimate(entry.summary, (layer) => t.overrides[layer] ?? t.threshold);
  }

  invalidate(path: string): void {
    if (this.entries.delete(path)) this.changed(path);
  }

  /** Drops every analysis (a setting they depend on changed); the running ones start again. */
  invalidateAll(): void {
    for (const model of [...this.entries.keys()]) this.invalidate(model);
    for (const running of this.inflight.values()) restart(running);
  }

  /** Drops every analysis that read `file`; a running one that read it starts again. */
  invalidateFile(file: string): void {
    for (const [model, entry] of this.entries) if (entry.files.includes(file)) this.invalidate(model);
    for (const [model, running] of this.inflight) {
      // Which weight shards a running analysis reads is known when it answers; the model file at once.
      if (model === file) restart(running);
      else running.changed.add(file);
    }
  }

  /** The cached analysis, the one already running for this file (joined), or a new one from the worker. */
  analyze(path: string, options: AnalyzeOptions = {}): Promise<AnalysisEntry> {
    const cached = this.entries.get(path);
    if (cached) return Promise.resolve(cached);
    if (options.signal?.aborted) return Promise.reject(new CancelledError());
    const running = this.inflight.get(path) ?? this.start(path);
    return this.join(path, running, options);
  }

  private start(path: string): Running {
    const running: Running = { result: undefined!, callers: 0, progress: new Set(), attempt: new AbortController(), cancelled: false, changed: new Set(), stale: false };
    running.result = this.run(path, running).finally(() => {
      if (this.inflight.get(path) === running) this.inflight.delete(path);
    });
    // Nobody may be left to hear how a cancelled analysis ended.
    running.result.catch(() => undefined);
    this.inflight.set(path, running);
    return running;
  }

  private join(path: string, running: Running, options: AnalyzeOptions): Promise<AnalysisEntry> {
    running.callers++;
    const { signal, onProgress } = options;
    // A listener of its own: two callers passing one function still hear (and leave) separately.
    const listener: Listener<ProgressEvent> = (e) => onProgress?.(e);
    running.progress.add(listener);
    return new Promise<AnalysisEntry>((resolve, reject) => {
      const leave = (): void => {
        running.progress.delete(listener);
        signal?.removeEventListener('abort', cancel);
      };
      const cancel = (): void => {
        leave();
        reject(new CancelledError());
        if (--running.callers > 0) return;
        // The last caller gone: the analysis stops, and the next caller starts a new one.
        running.cancelled = true;
        running.attempt.abort();
        if (this.inflight.get(path) === running) this.inflight.delete(path);
      };
      signal?.addEventListener('abort', cancel, { once: true });
      running.result.then(
        (entry) => {
          leave();
          resolve(entry);
        },
        (e: Error) => {
          leave();
          reject(e);
        },
      );
    });
  }

  /** Asks the worker until an answer is current: one that read a file changed meanwhile is asked again. */
  private async run(path: string, running: Running): Promise<AnalysisEntry> {
    for (;;) {
      running.attempt = new AbortController();
      running.changed.clear();
      running.stale = false;
      try {
        const response = await this.request(path, running);
        const entry = { wire: response.summary, summary: fromWire(response.summary), files: response.files };
        if (!running.stale && !entry.files.some((f) => running.changed.has(f))) {
          this.entries.set(path, entry);
          this.changed(path);
          return entry;
        }
        if (running.cancelled) throw new CancelledError();
      } catch (e) {
        // Aborted to start again, not cancelled: the loop asks again.
        if (!(e instanceof CancelledError && running.stale && !running.cancelled)) throw e;
      }
    }
  }

  private request(path: string, running: Running): Promise<Extract<WorkerResponse, { type: 'analyzed' }>> {
    const { backend, activation, calibration } = this.defaults(path);
    return this.worker.request<'analyzed'>(
      { type: 'analyze', file: path, backend, activation, calibration },
      {
        signal: running.attempt.signal,
        onProgress: (p) => {
          if (p.type !== 'progress') return;
          const event = { path, layer: p.layer, done: p.done, total: p.total };
          running.progress.forEach((l) => l(event));
          this.progressListeners.forEach((l) => l(event));
        },
      },
    );
  }

  private changed(path: string): void {
    this.changeListeners.forEach((l) => l(path));
  }

  dispose(): void {
    for (const running of this.inflight.values()) running.cancelled = true;
    this.worker.dispose();
    this.changeListeners.clear();
    this.progressListeners.clear();
  }
}

/** Stops the running attempt; `run` then asks again (an answer that arrives first is dropped as stale). */
function restart(running: Running): void {
  if (running.cancelled) return;
  running.stale = true;
  running.attempt.abort();
}
