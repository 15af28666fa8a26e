/**
 * A worker thread for the model.json work too slow for the extension host's own thread on large
 * files: finding the layer entries for hovers, and parsing a candidate model.json to detect it.
 * Answers one message per request; see modelJsonParser.ts.
 */
import { promises as fs } from 'fs';
import { parentPort } from 'worker_threads';
import { isTfjsModelText, layerTargets } from './modelText';
import type { ModelJsonAnswer, ModelJsonJob } from './modelJsonParser';

parentPort!.on('message', async (job: ModelJsonJob) => {
  let answer: ModelJsonAnswer;
  try {
    answer =
      job.kind === 'layerTargets'
        ? { id: job.id, ok: true, value: layerTargets(job.text) }
        : { id: job.id, ok: true, value: isTfjsModelText(await fs.readFile(job.file, 'utf8')) };
  } catch (e) {
    answer = { id: job.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
  parentPort!.postMessage(answer);
});
