import * as vscode from 'vscode';
import { CancelledError } from '../core/errors';
import { estimate, Estimate, ModelSummary } from '../core/summary';
import { fromWire, ThresholdState, WireSummary } from '../shared/protocol';
import { readSettings } from './settings';
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

/**
 * Analyses per model file, computed in the worker and cached until the model or its shards change;
 * plus each model's current thresholds, shared by the panel, the hover, the Models view and "write".
 */
export class Analyses implements vscode.Disposable {
  private readonly cache = new Map<string, AnalysisEntry>();
  private readonly inflight = new Map<string, Promise<AnalysisEntry>>();
  private readonly thresholds = new Map<string, ThresholdState>();
  private readonly changed = new vscode.EventEmitter<string>();
  private readonly progressed = new vscode.EventEmitter<ProgressEvent>();
  /** Fires with a model path when its analysis or thresholds change. */
  readonly onDidChange = this.changed.event;
  readonly onProgress = this.progressed.event;

  constructor(readonly worker: WorkerClient) {}

  cached(path: string): AnalysisEntry | undefined {
    return this.cache.get(path);
  }

  thresholdsFor(path: string): ThresholdState {
    return this.thresholds.get(path) ?? { threshold: readSettings().threshold, overrides: {} };
  }

  setThresholds(path: string, t: ThresholdState): void {
    this.thresholds.set(path, t);
    this.changed.fire(path);
  }

  estimateFor(path: string): Estimate | undefined {
    const entry = this.cache.get(path);
    if (!entry) return undefined;
    const t = this.thresholdsFor(path);
    return estimate(entry.summary, (layer) => t.overrides[layer] ?? t.threshold);
  }

  invalidate(path: string): void {
    if (this.cache.delete(path)) this.changed.fire(path);
  }

  /** Drops every analysis that read `file`. */
  invalidateFile(file: string): void {
    for (const [model, entry] of this.cache) if (entry.files.includes(file)) this.invalidate(model);
  }

  /**
   * The cached analysis, or a new one from the worker. With `notify`, progress shows in a
   * cancellable notification; cancelling stops the worker at once.
   */
  analyze(path: string, notify: boolean): Promise<AnalysisEntry> {
    const cached = this.cache.get(path);
    if (cached) return Promise.resolve(cached);
    const running = this.inflight.get(path);
    if (running) return running;
    const run: Promise<AnalysisEntry> = notify
      ? Promise.resolve(vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Condense: analysing ${vscode.workspace.asRelativePath(path)}`, cancellable: true },
          (progress, token) => this.request(path, token, (e) => progress.report({ message: e.layer ? `layer ${e.layer} (${e.done + 1}/${e.total})` : 'finishing', increment: 100 / Math.max(1, e.total + 1) })),
        ))
      : this.request(path);
    const tracked = run.finally(() => this.inflight.delete(path));
    this.inflight.set(path, tracked);
    return tracked;
  }

  private async request(path: string, token?: vscode.CancellationToken, report?: (e: ProgressEvent) => void): Promise<AnalysisEntry> {
    const abort = new AbortController();
    const subscription = token?.onCancellationRequested(() => abort.abort());
    try {
      const response = await this.worker.request<'analyzed'>(
        { type: 'analyze', file: path, backend: readSettings().backend },
        {
          signal: abort.signal,
          onProgress: (p) => {
            const event = { path, layer: p.layer, done: p.done, total: p.total };
            report?.(event);
            this.progressed.fire(event);
          },
        },
      );
      const entry = { wire: response.summary, summary: fromWire(response.summary), files: response.files };
      this.cache.set(path, entry);
      this.changed.fire(path);
      return entry;
    } finally {
      subscription?.dispose();
    }
  }

  dispose(): void {
    this.worker.dispose();
    this.changed.dispose();
    this.progressed.dispose();
  }
}

export function isCancelled(e: unknown): boolean {
  return e instanceof CancelledError;
}
