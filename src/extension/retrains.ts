/**
 * Condense–retrain runs, one per model, as the host keeps them: the run's state for the panel
 * (RetrainView), pause/resume/cancel, and writing any finished round. Training gets its own worker,
 * so analyses neither wait behind it nor stop it when cancelled (which terminates theirs). Cancel is
 * cooperative: the run stops between batches and answers with its finished rounds, which stay
 * writable until the run is replaced or disposed. Free of `vscode` so it is unit-tested directly.
 */
import { rmSync } from 'fs';
import { CancelledError } from '../core/errors';
import type { RetrainPlan, RetrainView, WorkerResponse } from '../shared/protocol';
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
  /** Set between pause() and resume(): a late "paused" from the worker after a resume is not shown. */
  pauseRequested: boolean;
  done: Promise<RetrainAnswer>;
}

export class RetrainRuns {
  private readonly runs = new Map<string, Run>();
  private readonly listeners = new Set<(model: string) => void>();

  constructor(readonly worker: WorkerClient) {}

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

  /**
   * Starts a run for the model, replacing (and disposing) its previous one. Resolves with the
   * worker's answer — also when cancelled (outcome 'cancelled') — and rejects when the run fails.
   */
  start(request: Omit<RetrainRequest, 'type'>, merge: RetrainPlan['merge']): Promise<RetrainAnswer> {
    const model = request.file;
    if (this.isRunning(model)) return Promise.reject(new Error('this model is already being retrained: pause or cancel that run first'));
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
      (answer) => this.update(model, run, { status: answer.outcome, summary: answer.summary }),
      (e: Error) => this.update(model, run, e instanceof CancelledError ? { status: 'cancelled' } : { status: 'failed', error: e.message }),
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
    if (!run?.pauseRequested) return;
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
    if (!run?.view.summary?.rounds.some((r) => r.round === round)) throw new Error(`round ${round} of this model's retraining is not available`);
    const written = await this.worker.request<'retrainWritten'>({ type: 'retrainWrite', run: run.id, round, outDir, overwrite });
    this.update(model, run, { written: [...run.view.written.filter((w) => w.outDir !== written.outDir), { round, outDir: written.outDir }] });
    return written;
  }

  /** Where the model's run keeps its rounds' models, once the worker has made the folder. */
  workDir(model: string): string | undefined {
    return this.runs.get(model)?.workDir;
  }

  /** Drops the model's run: cancels it if running and removes its kept models. */
  disposeRun(model: string): void {
    const run = this.runs.get(model);
    if (!run) return;
    run.abort.abort();
    this.runs.delete(model);
    this.worker.send({ type: 'retrainDispose', run: run.id });
    this.changed(model);
  }

  /** Everything goes: the worker is terminated, so the runs' folders are removed here. */
  dispose(): void {
    this.worker.dispose();
    for (const run of this.runs.values()) if (run.workDir) rmSync(run.workDir, { recursive: true, force: true });
    this.runs.clear();
    this.listeners.clear();
  }

  private update(model: string, run: Run, change: Partial<RetrainView>): void {
    // A replaced run's late messages must not touch its successor's view.
    if (this.runs.get(model) !== run) return;
    run.view = { ...run.view, ...change };
    this.changed(model);
  }

  private changed(model: string): void {
    this.listeners.forEach((l) => l(model));
  }
}
