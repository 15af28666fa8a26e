/**
 * Condense–retrain runs, one per model, as the host keeps them: the run's state for the panel
 * (RetrainView), pause/resume/cancel, and writing any finished round. Training gets its own worker,
 * so analyses neither wait behind it nor take it down (a cancelled request that will not stop ends its process). That worker
 * runs one request at a time, so one run goes at a time across all models: a second would only wait,
 * unable to pause or cancel. Cancel is cooperative: the run stops between batches and answers with
 * its finished rounds, which stay writable (also after a later round failed) until the run is
 * replaced or disposed. Free of `vscode` so it is unit-tested directly.
 */
import { rmSync } from 'fs';
import { CancelledError } from '../core/model/errors';
import type { RetrainPlan, RetrainView, WorkerResponse } from '../shared/protocol';
import { modelLabel } from './modelText';
import { RequestBody, WorkerClient } from './workerClient';

type RetrainRequest = Extract<RequestBody, { type: 'retrain' }>;
export type RetrainAnswer = Extract<WorkerResponse, { type: 'retrained' }>;
export type RoundWritten = Extract<WorkerResponse, { type: 'retrainWritten' }>;

interface Run {
  /** The worker's request id: names the run in control messages. */
  id: number;
  view: RetrainView;
  /** The run's temporary folder, once the worker has made it. */
  workDir?: string;
  abort: AbortController;
  /** Set between pause() and resume() (or the run's end): a late "paused" from the worker after a resume is not shown. */
  pauseRequested: boolean;
  done: Promise<RetrainAnswer>;
}

export class RetrainRuns {
  private readonly runs = new Map<string, Run>();
  private readonly listeners = new Set<(model: string) => void>();
  /** Folders of dropped runs: the worker removes them, but if it dies or is shut down first, they are removed here. */
  private readonly dropped = new Set<string>();

  constructor(readonly worker: WorkerClient) {
    worker.onDidStopUnexpectedly(() => this.workerDied());
  }

  /** Called with a model path whenever its run's view changes; returns an unsubscribe function. */
  onDidChange(listener: (model: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  view(model: string): RetrainView | null {
    return this.runs.get(model)?.view ?? null;
  }

  isRunning(model: string): boolean {
    const status = this.runs.get(model)?.view.status;
    return status === 'starting' || status === 'running' || status === 'paused';
  }

  /** The model whose run is going (starting, running or paused), if any. */
  running(): string | undefined {
    return [...this.runs.keys()].find((model) => this.isRunning(model));
  }

  /**
   * Starts a run for the model, replacing (and disposing) its previous one; refused while any run
   * goes. Resolves with the worker's answer — also when cancelled or when a round failed after others
   * finished (outcomes 'cancelled', 'failed') — and rejects when the run fails before its first round.
   */
  start(request: Omit<RetrainRequest, 'type'>, merge: RetrainPlan['merge']): Promise<RetrainAnswer> {
    const model = request.file;
    const busy = this.running();
    if (busy !== undefined) return Promise.reject(new Error(busyMessage(busy)));
    this.disposeRun(model);
    const { threshold, tolerance, epochs, rounds, learningRate, batchSize, trainInputs, trainTargets, valInputs, valTargets } = request;
    const plan: RetrainPlan = { threshold, tolerance, epochs, rounds, learningRate, batchSize, merge, trainInputs, trainTargets, valInputs, valTargets };
    const abort = new AbortController();
    const run: Run = { id: 0, view: { status: 'starting', plan, summary: null, epochs: [], written: [] }, abort, pauseRequested: false, done: undefined! };
    this.runs.set(model, run);
    run.done = this.worker.request<'retrained'>(
      { type: 'retrain', ...request },
      {
        signal: abort.signal,
        stop: 'cooperative',
        onId: (id) => (run.id = id),
        onProgress: (p) => {
          if (p.type !== 'retrainProgress') return;
          const event = p.event;
          if (event.kind === 'start') {
            run.workDir = event.workDir;
            // Dropped before the worker made its folder.
            if (this.runs.get(model) !== run) this.dropped.add(event.workDir);
            this.update(model, run, { status: 'running', summary: event.summary });
          } else if (event.kind === 'epoch') {
            this.update(model, run, { epochs: [...run.view.epochs, event.epoch] });
          } else if (event.kind === 'paused') {
            if (run.pauseRequested) this.update(model, run, { status: 'paused' });
          } else {
            this.update(model, run, { summary: event.summary });
          }
        },
      },
    );
    this.changed(model);
    run.done.then(
      (answer) => {
        run.pauseRequested = false;
        this.update(model, run, { status: answer.outcome, summary: answer.summary, error: answer.error });
      },
      (e: Error) => {
        run.pauseRequested = false;
        this.update(model, run, e instanceof CancelledError ? { status: 'cancelled' } : { status: 'failed', error: e.message });
      },
    );
    return run.done;
  }

  /** Holds the run after the current batch; the view says "paused" once the worker confirms it. */
  pause(model: string): void {
    const run = this.runs.get(model);
    if (run?.view.status !== 'running') return;
    run.pauseRequested = true;
    this.worker.send({ type: 'pause', id: run.id });
  }

  resume(model: string): void {
    const run = this.runs.get(model);
    if (!run?.pauseRequested || !this.isRunning(model)) return;
    run.pauseRequested = false;
    this.worker.send({ type: 'resume', id: run.id });
    this.update(model, run, { status: 'running' });
  }

  /** Stops the run between batches (a paused one too); its finished rounds stay writable. */
  cancel(model: string): void {
    if (this.isRunning(model)) this.runs.get(model)!.abort.abort();
  }

  async write(model: string, round: number, outDir: string, overwrite: boolean): Promise<RoundWritten> {
    const run = this.runs.get(model);
    if (!run) throw new Error(`round ${round} is not available: this model has no retrain run (closing its panel discards its run)`);
    if (run.view.lost) throw new Error(`round ${round} is not available any more: the worker that kept the run's models stopped unexpectedly`);
    if (!run.view.summary?.rounds.some((r) => r.round === round)) throw new Error(`round ${round} of this model's retraining is not available`);
    const written = await this.worker.request<'retrainWritten'>({ type: 'retrainWrite', run: run.id, round, outDir, overwrite });
    this.update(model, run, { written: [...run.view.written.filter((w) => w.outDir !== written.outDir), { round, outDir: written.outDir }] });
    return written;
  }

  /** Drops the model's run: cancels it if running and removes its kept models. */
  disposeRun(model: string): void {
    const run = this.runs.get(model);
    if (!run) return;
    run.abort.abort();
    this.runs.delete(model);
    if (run.workDir) this.dropped.add(run.workDir);
    this.worker.send({ type: 'retrainDispose', run: run.id });
    this.changed(model);
  }

  /** Everything goes: the worker is terminated, so the runs' folders are removed here. */
  dispose(): void {
    this.worker.dispose();
    this.removeFolders();
    this.runs.clear();
    this.listeners.clear();
  }

  /** The worker's runs went with it: their folders are removed here and their rounds can no longer be written. */
  private workerDied(): void {
    this.removeFolders();
    for (const [model, run] of this.runs) this.update(model, run, { lost: true });
  }

  private removeFolders(): void {
    const folders = [...this.dropped, ...[...this.runs.values()].map((run) => run.workDir)];
    for (const folder of folders) if (folder) rmSync(folder, { recursive: true, force: true });
    this.dropped.clear();
  }

  private update(model: string, run: Run, change: Partial<RetrainView>): void {
    // A replaced run's late messages must not touch its successor's view.
    if (this.runs.get(model) !== run) return;
    run.view = { ...run.view, ...change };
    this.changed(model);
  }

  private changed(model: string): void {
    // One failing listener (a closed panel, say) must not keep the others from hearing of the change.
    for (const listener of [...this.listeners]) {
      try {
        listener(model);
      } catch (e) {
        console.error(`condense: a retrain listener failed for ${model}:`, e);
      }
    }
  }
}

/** Why a run cannot start while another goes: names the model being retrained. */
export function busyMessage(running: string): string {
  return `${modelLabel(running)} is being retrained, and runs go one at a time: cancel that run (or let it finish) first`;
}
