/**
 * model.json parsing that never stalls the extension host: small texts are handled in place, large
 * ones on a worker thread (modelJsonThread.ts) that starts on demand and ends when idle. Free of
 * `vscode` so it is unit-tested directly.
 */
import { promises as fs } from 'fs';
import { Worker } from 'worker_threads';
import { isTfjsModelText, LayerTarget, layerTargets } from './modelText';

/** Up to this many characters (or bytes) the work is done in place: a few milliseconds. */
export const IN_PLACE_MAX = 512 * 1024;
/** Larger files are not model.json files worth parsing (topologies are small; weights live in shards). */
export const MAX_MODEL_JSON_BYTES = 32 * 1024 * 1024;
/** How many leading bytes decide that a large file cannot be JSON at all. */
const HEAD_BYTES = 1024;
/** An idle thread is ended after this long (it holds a large text's copy while it lives). */
const IDLE_MS = 30_000;

type JobBody = { kind: 'layerTargets'; text: string } | { kind: 'isTfjsModelFile'; file: string };
export type ModelJsonJob = JobBody & { id: number };
export type ModelJsonAnswer = { id: number; ok: true; value: LayerTarget[] | boolean } | { id: number; ok: false; error: string };

export class ModelJsonParser {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private idleTimer: NodeJS.Timeout | undefined;
  /** How many jobs went to the thread (the tests check that large texts do). */
  threadJobs = 0;

  constructor(private readonly threadPath: string) {}

  /** The layer entries of a model.json's text (see `layerTargets`). */
  layerTargets(text: string): Promise<LayerTarget[]> {
    if (text.length <= IN_PLACE_MAX) return Promise.resolve(layerTargets(text));
    return this.run({ kind: 'layerTargets', text }) as Promise<LayerTarget[]>;
  }

  /** Whether `file` is a TF.js Layers model.json, by content: large files are first checked by their first bytes, then parsed on the thread. */
  async isTfjsModelFile(file: string): Promise<boolean> {
    const handle = await fs.open(file, 'r');
    let size: number;
    let head: string;
    try {
      size = (await handle.stat()).size;
      if (size > MAX_MODEL_JSON_BYTES) return false;
      if (size <= IN_PLACE_MAX) return isTfjsModelText((await handle.readFile()).toString('utf8'));
      const bytes = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await handle.read(bytes, 0, HEAD_BYTES, 0);
      head = bytes.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
    if (!/^\uFEFF?\s*\{/.test(head)) return false;
    return (await this.run({ kind: 'isTfjsModelFile', file })) as boolean;
  }

  dispose(): void {
    this.stop(new Error('the model.json parser was shut down'));
  }

  private run(job: JobBody): Promise<unknown> {
    const id = this.nextId++;
    this.threadJobs++;
    clearTimeout(this.idleTimer);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.thread().postMessage({ ...job, id } satisfies ModelJsonJob);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.threadPath);
    // A parse in progress must not keep VS Code (or a test run) from exiting.
    worker.unref();
    worker.on('message', (answer: ModelJsonAnswer) => {
      const pending = this.pending.get(answer.id);
      if (!pending) return;
      this.pending.delete(answer.id);
      if (answer.ok) pending.resolve(answer.value);
      else pending.reject(new Error(answer.error));
      if (this.pending.size === 0) this.idleTimer = setTimeout(() => this.stop(), IDLE_MS).unref();
    });
    const died = (why: string): void => {
      if (this.worker === worker) this.stop(new Error(`the model.json thread stopped (${why})`));
    };
    worker.on('error', (e) => died(e.message));
    worker.on('exit', (code) => died(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  private stop(reason = new Error('the model.json thread was stopped')): void {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(reason);
    void worker?.terminate();
  }
}
