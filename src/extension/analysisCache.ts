/**
 * Analyses per model file and each model's thresholds, kept until the model or one of its weight
 * shards changes. Free of `vscode` so it is unit-tested directly; `Analyses` adds the UI.
 */
import { estimate, Estimate, ModelSummary } from '../core/estimate';
import { BackendName, fromWire, ThresholdState, WireSummary } from '../shared/protocol';
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

export class AnalysisCache {
  private readonly entries = new Map<string, AnalysisEntry>();
  private readonly inflight = new Map<string, Promise<AnalysisEntry>>();
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

  /** Drops every analysis (a setting they depend on changed). */
  invalidateAll(): void {
    for (const model of [...this.entries.keys()]) this.invalidate(model);
  }

  /** Drops every analysis that read `file`. */
  invalidateFile(file: string): void {
    for (const [model, entry] of this.entries) if (entry.files.includes(file)) this.invalidate(model);
  }

  /** The cached analysis, the one already running for this file, or a new one from the worker. */
  analyze(path: string, options: { signal?: AbortSignal; onProgress?: Listener<ProgressEvent> } = {}): Promise<AnalysisEntry> {
    const cached = this.entries.get(path);
    if (cached) return Promise.resolve(cached);
    const running = this.inflight.get(path);
    if (running) return running;
    const run = this.request(path, options).finally(() => this.inflight.delete(path));
    this.inflight.set(path, run);
    return run;
  }

  private async request(path: string, options: { signal?: AbortSignal; onProgress?: Listener<ProgressEvent> }): Promise<AnalysisEntry> {
    const response = await this.worker.request<'analyzed'>(
      { type: 'analyze', file: path, backend: this.defaults(path).backend, activation: this.defaults(path).activation, calibration: this.defaults(path).calibration },
      {
        signal: options.signal,
        onProgress: (p) => {
          if (p.type !== 'progress') return;
          const event = { path, layer: p.layer, done: p.done, total: p.total };
          options.onProgress?.(event);
          this.progressListeners.forEach((l) => l(event));
        },
      },
    );
    const entry = { wire: response.summary, summary: fromWire(response.summary), files: response.files };
    this.entries.set(path, entry);
    this.changed(path);
    return entry;
  }

  private changed(path: string): void {
    this.changeListeners.forEach((l) => l(path));
  }

  dispose(): void {
    this.worker.dispose();
    this.changeListeners.clear();
    this.progressListeners.clear();
  }
}
