/**
 * The worker process's memory cap beyond the V8 heap (`--max-old-space-size` bounds only that):
 * typed arrays, wasm memory and native buffers count in the process's resident set, which a thread of
 * its own samples — it sees the size even while the main thread is busy in one long computation, and
 * works on every platform. Over the cap it says so on standard error (the host reads that to name the
 * cause) and kills the whole process. An address-space limit (`prlimit --as`) would be exact but
 * unusable: V8 reserves about 10 GiB of address space for each wasm memory (the wasm backend, h5wasm),
 * so a cap of a few GiB refuses them all.
 */
import { Worker } from 'worker_threads';
import { OUT_OF_MEMORY_MARKER } from '../shared/protocol';

/** How often the resident set is sampled: often enough that one large allocation overshoots little. */
const SAMPLE_MS = 50;

const WATCH = `
const { workerData } = require('worker_threads');
const { writeSync } = require('fs');
setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (rss <= workerData.limit) return;
  writeSync(2, workerData.marker + ' (' + Math.round(rss / 1048576) + ' MiB)\\n');
  process.kill(process.pid, 'SIGKILL');
}, workerData.every);
`;

export function watchMemory(limitMiB: number): void {
  const watch = new Worker(WATCH, { eval: true, workerData: { limit: limitMiB * 1024 * 1024, marker: OUT_OF_MEMORY_MARKER, every: SAMPLE_MS } });
  // The watch must not keep the process alive once its channel to the host is gone.
  watch.unref();
}
