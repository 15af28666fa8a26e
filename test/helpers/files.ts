/**
 * Hand-made model folders: weights as (manifest entry, stored bytes) pairs, laid out over any
 * number of manifest groups and shards, with any topology.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs';
import { concatBytes } from '../../src/core/codecs/protobuf';
import { readJson, SavedModelJson } from './tfjs';

export interface RawWeight {
  spec: tf.io.WeightsManifestEntry;
  bytes: Uint8Array;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 };

function storedByteLength(spec: tf.io.WeightsManifestEntry): number {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  return n * BYTES[spec.quantization ? spec.quantization.dtype : spec.dtype];
}

/** The weights of a saved folder (every group, every shard), split back into one entry per weight. */
export async function readRawWeights(dir: string): Promise<{ json: SavedModelJson; weights: RawWeight[] }> {
  const json = await readJson<SavedModelJson>(path.join(dir, 'model.json'));
  const weights: RawWeight[] = [];
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(await Promise.all(group.paths.map((p) => fs.readFile(path.join(dir, p)))));
    let offset = 0;
    for (const spec of group.weights) {
      const length = storedByteLength(spec);
      weights.push({ spec, bytes: new Uint8Array(bytes.subarray(offset, offset + length)) });
      offset += length;
    }
  }
  return { json, weights };
}

export { concatBytes };

/**
 * Writes model.json and the shards: `groups[g]` lists group g's weights; `shards[g]` says into how
 * many files that group's bytes are cut (at odd offsets, so cuts fall inside values).
 */
export async function writeModelFolder(
  dir: string,
  modelTopology: unknown,
  groups: RawWeight[][],
  shards: number[] = groups.map(() => 1),
  extra: Record<string, unknown> = { format: 'layers-model', generatedBy: 'condense tests', convertedBy: null },
): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  const manifest = [];
  for (const [g, group] of groups.entries()) {
    const bytes = concatBytes(group.map((w) => w.bytes));
    const count = shards[g];
    const cuts = [0];
    for (let k = 1; k < count; k++) cuts.push(Math.min(bytes.length, Math.floor((bytes.length * k) / count) | 1));
    cuts.push(bytes.length);
    const paths: string[] = [];
    for (let k = 0; k < count; k++) {
      const name = `group${g + 1}-shard${k + 1}of${count}.bin`;
      await fs.writeFile(path.join(dir, name), bytes.subarray(cuts[k], cuts[k + 1]));
      paths.push(name);
    }
    manifest.push({ paths, weights: group.map((w) => w.spec) });
  }
  const file = path.join(dir, 'model.json');
  await fs.writeFile(file, JSON.stringify({ ...extra, modelTopology, weightsManifest: manifest }));
  return file;
}
