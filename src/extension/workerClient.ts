/**
 * Talks to the analysis worker, a child process (dist/worker.js) with a memory cap: the V8 heap by
 * `--max-old-space-size`, everything else (typed arrays, wasm memory) by the worker's own watch of its
 * resident set. A model that needs more ends only that process: what it was doing rejects with one
 * message naming the file and the limit, and the next request starts a fresh worker. Free of `vscode`
 * so the bench can drive it the same way the extension does.
 *
 * Cancelling is per request: an abort sends the worker a message naming the request, which it stops at
 * its next check and answers 'cancelled' (CancelledError here). Requests made with `stop: 'cooperative'`
 * (auto search, retraining) answer with what they have instead, and are waited for. Any other request
 * that has not stopped within the grace period is ended the hard way, with its process; the requests
 * that were waiting behind it are sent again to a fresh worker. `cancel()` ends everything at once.
 * A worker that ends unexpectedly rejects what it was doing and tells onDidStopUnexpectedly's listeners;
 * the temporary folders of writes it left behind are removed.
 */
import { ChildProcess, fork } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import { CancelledError } from '../core/model/errors';
import { MEMORY_LIMIT_ARGUMENT, OUT_OF_MEMORY_MARKER, WorkerControl, WorkerRequest, WorkerResponse } from '../shared/protocol';

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

export interface RequestOptions {
  onProgress?: (p: WorkerProgress) => void;
  signal?: AbortSignal;
  /**
   * 'terminate' (default): an abort asks the request to stop and ends its worker process if it has not
   * within the grace period; 'cooperative': it asks the request to stop and waits for its answer.
   */
  stop?: 'terminate' | 'cooperative';
  /** Called with the request's id once it is sent (for pause/resume and retrainWrite's `run`). */
  onId?: (id: number) => void;
}

export interface WorkerClientOptions {
  /** The worker's memory cap in MiB, read whenever a worker process starts (so a changed setting applies to the next one). */
  memoryLimitMiB?: () => number;
  /** How long a cancelled request may take to stop before its worker process is ended. */
  graceMs?: number;
}

export const DEFAULT_MEMORY_LIMIT_MIB = 4096;
const DEFAULT_GRACE_MS = 3000;
/** What a process that dies leaves of its standard error, to tell why it died. */
const STDERR_TAIL = 4096;

interface Pending {
  id: number;
  body: RequestBody;
  resolve(outcome: Outcome): void;
  reject(error: Error): void;
  onProgress?: (p: WorkerProgress) => void;
  stop: 'terminate' | 'cooperative';
  /** Its abort was sent to the worker. */
  cancelled: boolean;
  grace?: NodeJS.Timeout;
  /** The process it was sent to. */
  worker: WorkerProcess;
}

interface WorkerProcess {
  child: ChildProcess;
  limitMiB: number;
  stderr: string;
  /** Set when this client ends the process itself: its end is then not a death. */
  ended: boolean;
  /** Replaced by renew(): it ends once it has answered what it was asked. */
  retired: boolean;
  /** Resolves once the process is gone (it writes nothing more). */
  exited: Promise<void>;
}

export class WorkerClient {
  private worker: WorkerProcess | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stopListeners = new Set<() => void>();
  private readonly graceMs: number;

  constructor(
    private readonly workerPath: string,
    private readonly options: WorkerClientOptions = {},
  ) {
    this.graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  }

  request<T extends Outcome['type']>(body: RequestBody, options: RequestOptions = {}): Promise<Extract<Outcome, { type: T }>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (options.signal?.aborted) return reject(new CancelledError());
      const pending: Pending = {
        id, body, resolve: resolve as (o: Outcome) => void, reject, onProgress: options.onProgress, stop: options.stop ?? 'terminate', cancelled: false, worker: undefined!,
      };
      this.pending.set(id, pending);
      options.signal?.addEventListener('abort', () => this.cancelRequest(pending), { once: true });
      this.dispatch(pending);
      options.onId?.(id);
    });
  }

  /** Called when the worker process ends other than by cancel() or dispose(); returns an unsubscribe function. */
  onDidStopUnexpectedly(listener: () => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** A control message to the running worker (none running: nothing to control). */
  send(message: WorkerControl): void {
    this.post(this.worker, message);
  }

  /**
   * Later requests go to a fresh worker process, started with the settings then in force (a new memory
   * cap); the current one ends once it has answered what it was asked. What it keeps goes with it.
   */
  renew(): void {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    worker.retired = true;
    this.endIfIdle(worker);
  }

  /** Stops everything in flight at once, ending the worker process; pending requests reject with CancelledError. */
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
    const pending = this.settleAll();
    if (worker) this.end(worker);
    void removeTemporaryOutputs(pending, worker).then(() => pending.forEach((p) => p.reject(reason)));
  }

  private dispatch(pending: Pending): void {
    pending.worker = this.ensureWorker();
    this.post(pending.worker, { ...pending.body, id: pending.id });
  }

  private post(worker: WorkerProcess | undefined, message: WorkerRequest | WorkerControl): void {
    // A process that just died has no channel; its 'close' settles what was sent to it.
    if (worker?.child.connected) worker.child.send(message);
  }

  private cancelRequest(pending: Pending): void {
    if (this.pending.get(pending.id) !== pending || pending.cancelled) return;
    pending.cancelled = true;
    this.post(pending.worker, { type: 'abort', id: pending.id });
    if (pending.stop === 'terminate') pending.grace = setTimeout(() => this.endStuck(pending), this.graceMs);
  }

  /** A cancelled request that did not stop in time: its process goes, and the innocent waiting behind it start again. */
  private endStuck(pending: Pending): void {
    if (this.pending.get(pending.id) !== pending) return;
    const worker = pending.worker;
    this.end(worker);
    this.lost(worker, () => new CancelledError());
  }

  private end(worker: WorkerProcess): void {
    worker.ended = true;
    if (this.worker === worker) this.worker = undefined;
    worker.child.kill('SIGKILL');
  }

  /**
   * The requests sent to a process that is gone: the cancelled ones reject with CancelledError, the one
   * it was running with `failure()`, and writes of retrain rounds (whose runs lived in the process) as
   * lost; the others had not begun and are sent to a fresh worker.
   */
  private lost(worker: WorkerProcess, failure: (running: Pending) => Error): void {
    const sent = [...this.pending.values()].filter((p) => p.worker === worker);
    // One at a time, in order: the oldest (writes of retrain rounds run beside it).
    const running = sent.find((p) => p.body.type !== 'retrainWrite');
    const gone = sent.filter((p) => p.cancelled || p === running || p.body.type === 'retrainWrite');
    for (const p of gone) this.forget(p);
    void removeTemporaryOutputs(gone, worker).then(() => {
      for (const p of gone) p.reject(p.cancelled ? new CancelledError() : p === running ? failure(p) : lostFailure());
    });
    for (const p of sent) if (!gone.includes(p)) this.dispatch(p);
    this.stopListeners.forEach((l) => l());
  }

  /** Removes every pending request (their timers too) and returns them, for the caller to reject. */
  private settleAll(): Pending[] {
    const all = [...this.pending.values()];
    all.forEach((p) => this.forget(p));
    return all;
  }

  private forget(pending: Pending): void {
    clearTimeout(pending.grace);
    this.pending.delete(pending.id);
    this.endIfIdle(pending.worker);
  }

  private endIfIdle(worker: WorkerProcess): void {
    if (worker.retired && !worker.ended && ![...this.pending.values()].some((p) => p.worker === worker)) this.end(worker);
  }

  private ensureWorker(): WorkerProcess {
    if (this.worker) return this.worker;
    const limitMiB = Math.max(1, Math.floor(this.options.memoryLimitMiB?.() ?? DEFAULT_MEMORY_LIMIT_MIB));
    const child = fork(this.workerPath, [`${MEMORY_LIMIT_ARGUMENT}${limitMiB}`], {
      // Only the heap flag: the host's own flags (an inspector port, say) are not the worker's.
      execArgv: [`--max-old-space-size=${limitMiB}`],
      // Typed arrays pass by structured clone, not as JSON.
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    const worker: WorkerProcess = { child, limitMiB, stderr: '', ended: false, retired: false, exited: new Promise((resolve) => child.once('exit', () => resolve()).once('error', () => resolve())) };
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      worker.stderr = (worker.stderr + chunk.toString()).slice(-STDERR_TAIL);
    });
    child.on('message', (message: WorkerResponse) => {
      const pending = this.pending.get(message.id);
      if (!pending || pending.worker !== worker) return;
      if (isProgress(message)) return pending.onProgress?.(message);
      this.forget(pending);
      if (message.type === 'failed') pending.reject(new WorkerFailure(message.message, message.input));
      else if (message.type === 'cancelled') pending.reject(new CancelledError());
      else pending.resolve(message);
    });
    // 'close', not 'exit': standard error is read to its end, so the cause of a death is known.
    child.on('close', (code, signal) => {
      if (this.worker === worker) this.worker = undefined;
      if (worker.ended) return;
      this.lost(worker, (running) => deathFailure(worker, running.body, code, signal));
    });
    // Gone: what comes meanwhile goes to a fresh worker ('close' follows once standard error is read).
    child.once('exit', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    child.on('error', (e) => {
      // A message that could not be sent to a dying process: its 'close' tells why it died.
      if (worker.ended || child.pid !== undefined) return;
      // It never started: no 'close' follows.
      this.end(worker);
      this.lost(worker, () => new WorkerFailure(`The analysis worker could not run (${e.message}). The next request starts a new one.`, false));
    });
    this.worker = worker;
    return worker;
  }
}

/** What the request a process was running when it died is told: the memory cap, named, when that was the cause. */
function deathFailure(worker: WorkerProcess, running: RequestBody, code: number | null, signal: NodeJS.Signals | null): WorkerFailure {
  // The worker's memory watch says so before it ends the process; V8 says so when the heap is full.
  if (worker.stderr.includes(OUT_OF_MEMORY_MARKER) || /heap out of memory/i.test(worker.stderr)) {
    return new WorkerFailure(
      `${describe(running)} ran out of memory (limit ${worker.limitMiB} MiB); its worker was stopped, and the next request starts a new one. ` +
        'If this machine has the memory, raise the setting condense.worker.memoryLimitMiB.',
      true,
    );
  }
  return new WorkerFailure(`The analysis worker stopped unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}). The next request starts a new one.`, false);
}

function describe(request: RequestBody): string {
  switch (request.type) {
    case 'analyze':
      return `the analysis of ${request.file}`;
    case 'reduce':
      return `writing the reduced model of ${request.file}`;
    case 'auto':
      return `the threshold search for ${request.file}`;
    case 'verify':
      return `the verification of ${request.reduced}`;
    case 'retrain':
      return `retraining ${request.file}`;
    case 'retrainWrite':
      return `writing round ${request.round} of a retrain run`;
  }
}

function lostFailure(): WorkerFailure {
  return new WorkerFailure('The analysis worker stopped, and the retrain run this request needed went with it. Run it again.', false);
}

/**
 * The temporary folders that writes of a process that is gone left next to their output folder
 * (writeFolder names them `.<name>.tmp-<pid>-<stamp>`): nothing else removes them.
 */
async function removeTemporaryOutputs(requests: Pending[], worker: WorkerProcess | undefined): Promise<void> {
  const outDirs = requests.flatMap((p) => (p.body.type === 'reduce' || p.body.type === 'retrainWrite' ? [path.resolve(p.body.outDir)] : []));
  const pid = worker?.child.pid;
  if (!worker || pid === undefined || !outDirs.length) return;
  // A killed process may still be finishing a write until it is gone.
  await worker.exited;
  await Promise.all(
    outDirs.map(async (outDir) => {
      const parent = path.dirname(outDir);
      const prefix = `.${path.basename(outDir)}.tmp-${pid}-`;
      const names = await fs.readdir(parent).catch(() => [] as string[]);
      const temporary = names.filter((name) => name.startsWith(prefix) && /^[0-9a-z]+$/.test(name.slice(prefix.length)));
      await Promise.all(temporary.map((name) => fs.rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined)));
    }),
  );
}
