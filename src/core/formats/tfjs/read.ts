import { promises as fs } from 'fs';
import * as path from 'path';
import { excerpt, isRecord, parseJsonInput } from '../../codecs/json';
import { InputError } from '../../model/errors';
import { confinedPath, ModelReading } from '../../model/files';
import { modelConfigOf } from '../../codecs/kerasLayers';
import { MAX_TENSOR_ELEMENTS, NamedWeight, Quantization, sizeOf, STORAGE_BYTES, StorageDtype } from '../../model/tensor';
import { float16ToFloat32 } from '../../codecs/float16';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: Quantization;
}

interface ManifestGroup {
  paths: string[];
  weights: WeightSpec[];
}

/** The parsed `model.json`; unknown fields are kept so a writer can carry them over. */
export interface ModelJson {
  modelTopology: Record<string, unknown>;
  weightsManifest: ManifestGroup[];
  [key: string]: unknown;
}

export interface TfjsModelFile {
  /** Absolute path of model.json. */
  path: string;
  json: ModelJson;
  /** In manifest order (groups in order, weights in order within a group). */
  weights: NamedWeight[];
  /** Absolute paths of every shard, for cache invalidation. */
  shardPaths: string[];
  /** Total bytes of weight data as stored. */
  storedBytes: number;
}

function storageOf(spec: WeightSpec): StorageDtype {
  return spec.quantization ? spec.quantization.dtype : spec.dtype;
}

/** True when the text looks like a TF.js Layers model.json (the content test used for detection). */
export function looksLikeTfjsModel(json: unknown): boolean {
  if (!isRecord(json)) return false;
  const topology = json.modelTopology;
  return isRecord(topology) && Array.isArray(json.weightsManifest);
}

export async function readTfjsModel(file: string, reading: ModelReading = new ModelReading()): Promise<TfjsModelFile> {
  const modelPath = path.resolve(file);
  const text = (await reading.read(file, modelPath)).toString('utf8');
  const json = validateModelJson(file, parseJsonInput(file, text));
  checkTopology(file, json.modelTopology);
  const dir = path.dirname(modelPath);
  const realDir = await fs.realpath(dir);

  // Check every spec and every shard's size, and reserve the weights' bytes, before allocating anything.
  const groups: { shardPaths: string[]; rels: string[]; bytes: number; specs: WeightSpec[] }[] = [];
  const listed = new Map<string, string>();
  for (const [g, group] of json.weightsManifest.entries()) {
    let needed = 0;
    for (const spec of group.weights) needed += specByteLength(file, spec);
    const shardPaths: string[] = [];
    let available = 0;
    for (const rel of group.paths) {
      const shard = await confinedPath(file, realDir, rel);
      const real = await fs.realpath(shard).catch(() => shard);
      const twice = listed.get(real);
      if (twice !== undefined) throw new InputError(file, `weight shard ${excerpt(rel)} is listed twice in the manifest (as ${excerpt(twice)} before); refused`);
      listed.set(real, rel);
      available += await reading.size(file, shard, `weight shard ${excerpt(rel)}`);
      shardPaths.push(shard);
    }
    if (available !== needed) {
      const what = available < needed ? 'truncated' : 'longer than the manifest says';
      throw new InputError(
        file,
        `weight group ${g + 1} is ${what}: its shards hold ${available} bytes but the shapes need ${needed}`,
      );
    }
    reading.reserve(file, needed, `weight group ${g + 1}`);
    groups.push({ shardPaths, rels: group.paths, bytes: needed, specs: group.weights });
  }

  const weights: NamedWeight[] = [];
  let storedBytes = 0;
  for (const group of groups) {
    // Each shard is read at the size it was stamped with (a change in between is refused).
    const shards: Buffer[] = [];
    for (const [i, shard] of group.shardPaths.entries()) shards.push(await reading.read(file, shard, `weight shard ${excerpt(group.rels[i])}`));
    const buffer = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.specs) {
      const length = specByteLength(file, spec);
      const bytes = new Uint8Array(length);
      bytes.set(buffer.subarray(offset, offset + length));
      weights.push(decodeWeight(file, spec, bytes));
      offset += length;
    }
    storedBytes += group.bytes;
  }
  return {
    path: modelPath,
    json,
    weights,
    shardPaths: groups.flatMap((g) => g.shardPaths),
    storedBytes,
  };
}

/** A topology without layers is refused before any shard is read. */
function checkTopology(file: string, topology: Record<string, unknown>): void {
  let model;
  try {
    model = modelConfigOf(topology);
  } catch {
    throw new InputError(file, 'modelTopology has no "class_name": not a Keras/TF.js Layers topology');
  }
  const config = model.config;
  const layers = Array.isArray(config) ? config : isRecord(config) ? config.layers : undefined;
  if (!Array.isArray(layers) || layers.length === 0) throw new InputError(file, `the ${model.class_name} model has no layers; refused before reading its weights`);
}

function validateModelJson(file: string, parsed: unknown): ModelJson {
  if (!isRecord(parsed)) throw new InputError(file, 'not a TF.js model: the top level is not a JSON object');
  if (!isRecord(parsed.modelTopology)) {
    throw new InputError(file, 'not a TF.js Layers model: "modelTopology" is missing');
  }
  if (!Array.isArray(parsed.weightsManifest)) {
    throw new InputError(file, 'not a TF.js Layers model: "weightsManifest" is missing');
  }
  for (const [g, group] of parsed.weightsManifest.entries()) {
    if (!isRecord(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new InputError(file, `weightsManifest[${g}] needs "paths" and "weights" arrays`);
    }
    for (const p of group.paths) {
      if (typeof p !== 'string') throw new InputError(file, `weightsManifest[${g}].paths holds a non-string`);
    }
    for (const spec of group.weights) validateSpec(file, spec);
  }
  return parsed as ModelJson;
}

function validateSpec(file: string, spec: unknown): asserts spec is WeightSpec {
  if (!isRecord(spec) || typeof spec.name !== 'string') {
    throw new InputError(file, 'a weight entry has no name');
  }
  const name = spec.name;
  if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InputError(file, `weight ${excerpt(name)} has an invalid shape ${excerpt(spec.shape)}`);
  }
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') {
    throw new InputError(file, `weight ${excerpt(name)} has dtype ${excerpt(spec.dtype)}; only float32 and int32 are supported`);
  }
  if (spec.quantization !== undefined) {
    const q = spec.quantization;
    if (!isRecord(q) || (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16')) {
      throw new InputError(file, `weight ${excerpt(name)} has an unknown quantization ${excerpt(q)}`);
    }
    if (q.dtype === 'float16' && spec.dtype !== 'float32') {
      throw new InputError(file, `weight ${excerpt(name)}: float16 quantization needs dtype float32`);
    }
    if (q.dtype !== 'float16' && (typeof q.min !== 'number' || typeof q.scale !== 'number')) {
      throw new InputError(file, `weight ${excerpt(name)}: ${q.dtype} quantization needs numeric "min" and "scale"`);
    }
  }
  if (sizeOf(spec.shape) > MAX_TENSOR_ELEMENTS) {
    throw new InputError(
      file,
      `weight ${excerpt(name)} has shape [${spec.shape.join(', ')}] (${sizeOf(spec.shape).toExponential(2)} values), more than this tool will allocate`,
    );
  }
}

function specByteLength(file: string, spec: WeightSpec): number {
  validateSpec(file, spec);
  return sizeOf(spec.shape) * STORAGE_BYTES[storageOf(spec)];
}

/** Decodes one weight exactly as tfjs-core's io.decodeWeights does. */
function decodeWeight(file: string, spec: WeightSpec, bytes: Uint8Array): NamedWeight {
  const n = sizeOf(spec.shape);
  const storage = storageOf(spec);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let data: Float32Array | Int32Array;
  const q = spec.quantization;
  if (!q) {
    data = spec.dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
    const getter = spec.dtype === 'float32' ? view.getFloat32.bind(view) : view.getInt32.bind(view);
    for (let i = 0; i < n; i++) data[i] = getter(i * 4, true);
  } else if (q.dtype === 'float16') {
    data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = float16ToFloat32(view.getUint16(i * 2, true));
  } else {
    const read = q.dtype === 'uint8' ? (i: number) => view.getUint8(i) : (i: number) => view.getUint16(i * 2, true);
    const scale = q.scale as number;
    const min = q.min as number;
    if (spec.dtype === 'float32') {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = read(i) * scale + min;
    } else {
      data = new Int32Array(n);
      for (let i = 0; i < n; i++) data[i] = Math.round(read(i) * scale + min);
    }
  }
  if (spec.dtype === 'float32') {
    let bad = 0;
    for (let i = 0; i < n; i++) if (!Number.isFinite(data[i])) bad++;
    if (bad > 0) {
      throw new InputError(file, `weight ${excerpt(spec.name)} holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'}; refusing to analyse it`);
    }
  }
  return { name: spec.name, shape: spec.shape.slice(), dtype: spec.dtype, data, storage, quantization: q };
}
