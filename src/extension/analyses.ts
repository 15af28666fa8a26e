import * as vscode from 'vscode';
import { CancelledError } from '../core/model/errors';
import { AnalysisCache, AnalysisEntry } from './analysisCache';
import { safeDisplayText } from './safeText';
import { dataFileFor, readSettings } from './settings';
import { DEFAULT_MEMORY_LIMIT_MIB, WorkerClient } from './workerClient';

export type { AnalysisEntry } from './analysisCache';

/** The analysis cache with VS Code's side: a cancellable progress notification and disposables for events. */
export class Analyses extends AnalysisCache implements vscode.Disposable {
  constructor(worker: WorkerClient) {
    super(worker, (model) => {
      const settings = readSettings();
      return { ...settings, calibration: model ? dataFileFor(model, settings.calibrationFile) : undefined };
    });
  }

  /** Like `analyze`, with progress per layer in a notification whose Cancel leaves the analysis (it stops once nobody else waits for it). */
  analyzeWithProgress(path: string): Promise<AnalysisEntry> {
    const cached = this.cached(path);
    if (cached) return Promise.resolve(cached);
    return Promise.resolve(
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: safeDisplayText(`Condense: analysing ${vscode.workspace.asRelativePath(path)}`), cancellable: true },
        (progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return this.analyze(path, {
            signal: abort.signal,
            onProgress: (e) =>
              progress.report({
                message: e.layer ? safeDisplayText(`layer ${e.layer} (${e.done + 1}/${e.total})`) : 'finishing',
                increment: 100 / Math.max(1, e.total + 1),
              }),
          });
        },
      ),
    );
  }

  /** The change event as a VS Code disposable subscription. */
  subscribe(listener: (path: string) => void): vscode.Disposable {
    return new vscode.Disposable(this.onDidChange(listener));
  }

  subscribeProgress(listener: Parameters<AnalysisCache['onProgress']>[0]): vscode.Disposable {
    return new vscode.Disposable(this.onProgress(listener));
  }
}

/** The workers' memory cap (setting `condense.worker.memoryLimitMiB`), read whenever a worker process starts. */
export function workerMemoryLimitMiB(): number {
  return vscode.workspace.getConfiguration('condense').get<number>('worker.memoryLimitMiB', DEFAULT_MEMORY_LIMIT_MIB);
}

export function isCancelled(e: unknown): boolean {
  return e instanceof CancelledError;
}
