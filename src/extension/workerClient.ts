/**
 * Talks to the analysis worker. Free of `vscode` so the bench can drive it the same way the
 * extension does. Cancelling terminates the worker (immediate, whatever it is computing; the next
 * request starts a fresh one), except for requests made with `stop: 'cooperative'` (auto search,
 * retraining): their abort is a message, and they answer with what they have (one aborted while
 * still queued rejects with CancelledError). A worker that dies rejects what it was doing and tells
 * onDidStopUnexpectedly's listeners.
 */
import { Worker } from 'worker_threads';
import { CancelledError } from '../core/model/errors';
import { WorkerControl, WorkerRequest, WorkerResponse } from '../shared/protocol';

/** A request failed inside the worker; `input` marks a problem with the user's file. */
export class WorkerFailure extends Error {
  constructor(
    message: string,
    readonly input: boolean,
  ) {
    super(message);
    this.name = 'WorkerFailure';
  }
}

/** Messages a request receives before its answer. */
export type WorkerProgress = Extract<WorkerResponse, { type: 'progress' | 'candidate' | 'retrainProgress' }>;
type Outcome = Exclude<WorkerResponse, WorkerProgress | { type: 'failed' | 'cancelled' }>;
const isProgress = (m: WorkerResponse): m is WorkerProgress => m.type === 'progress' || m.type === 'candidate' || m.type === 'retrainProgress';
export type RequestBody = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve(outcome: Outcome): void;
  reject(error: Error): void;
  onProgress?: (p: WorkerProgress) => void;
}

export interface RequestOptions {
  onProgress?: (p: WorkerProgress) => void;
  signal?: AbortSignal;
  /** 'terminate' (default): an abort stops the worker at once; 'cooperative': it asks the request to stop and waits for its answer. */
  stop?: 'terminate' | 'cooperative';
  /** Called with the request's id once it is sent (for pause/resume and retrainWrite's `run`). */
  onId?: (id: number) => void;
}

export class WorkerClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stopListeners = new Set<() => void>();

  constructor(private readonly workerPath: string) {}

  request<T extends Outcome['type']>(body: RequestBody, options: RequestOptions = {}): Promise<Extract<Outcome, { type: T }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) return reject(new CancelledError());
      this.pending.set(id, { resolve: resolve as (o: Outcome) => void, reject, onProgress: options.onProgress });
      const onAbort = options.stop === 'cooperative' ? () => this.send({ type: 'abort', id }) : () => this.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.ensureWorker().postMessage({ ...body, id });
      options.onId?.(id);
    });
  }

  /** Called when the worker dies (not when stopped by cancel or dispose); returns an unsubscribe function. */
  onDidStopUnexpectedly(listener: () => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** A control message to the running worker (none running: nothing to control). */
  send(message: WorkerControl): void {
    this.worker?.postMessage(message);
  }

  /** Stops everything in flight; pending requests reject with CancelledError. */
  cancel(): void {
    this.stop(new CancelledError());
  }

  dispose(): void {
    this.stop(new Error('the analysis worker was shut down'));
    this.stopListeners.clear();
  }

  private stop(reason: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    this.rejectAll(reason);
    void worker?.terminate();
  }

  private rejectAll(reason: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(reason);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.workerPath);
    worker.on('message', (message: WorkerResponse) => {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      if (isProgress(message)) return pending.onProgress?.(message);
      this.pending.delete(message.id);
      if (message.type === 'failed') pending.reject(new WorkerFailure(message.message, message.input));
      else if (message.type === 'cancelled') pending.reject(new CancelledError());
      else pending.resolve(message);
    });
    const died = (why: string): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.rejectAll(new WorkerFailure(`The analysis worker stopped unexpectedly (${why}). The next request starts a new one.`, false));
      this.stopListeners.forEach((l) => l());
    };
    worker.on('error', (e) => died(e.message));
    worker.on('exit', (code) => died(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }
}
