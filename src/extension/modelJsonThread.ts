/**
 * A worker thread for the model.json work too slow for the extension host's own thread on large
 * files: finding the layer entries for hovers, and parsing a candidate model.json to detect it.
 * Answers one message per request; see modelJsonParser.ts.
 */
import { promises as fs } from 'fs';
import { parentPort } from 'worker_threads';
import { isTfjsModelText, layerTargets } from './modelText';
import { MAX_MODEL_JSON_BYTES, type ModelJsonAnswer, type ModelJsonJob } from './modelJsonParser';

/** The file's text, bounded again here: it may have grown since the host looked at its size. */
async function readBounded(file: string): Promise<string | undefined> {
  const handle = await fs.open(file, 'r');
  try {
    if ((await handle.stat()).size > MAX_MODEL_JSON_BYTES) return undefined;
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Answers one job; every failure of the job itself becomes an error answer, so the promise never rejects. */
async function answerJob(job: ModelJsonJob): Promise<void> {
  let answer: ModelJsonAnswer;
  try {
    answer =
      job.kind === 'layerTargets'
        ? { id: job.id, ok: true, value: layerTargets(job.text) }
        : { id: job.id, ok: true, value: await readBounded(job.file).then((text) => text !== undefined && isTfjsModelText(text)) };
  } catch (e) {
    answer = { id: job.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(answer);
}

parentPort!.on('message', (job: ModelJsonJob) => void answerJob(job));
