/**
 * Test helpers around pure tfjs (never tfjs-node): building and briefly training small models,
 * loading a written model folder through tfjs's own weight decoding, comparing predictions,
 * and writing model folders with hand-made manifests.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Backend, loadBackend } from '../../src/core/compute/backend';
import { normalSamples } from '../../src/core/data/random';
import { registerWasmTrainingKernels } from '../../src/core/train/wasmKernels';

/** Model building and training run on the plain cpu backend: small, deterministic, and every gradient is there without registering kernels. */
export async function useCpu(): Promise<void> {
  // Silences tfjs's "install tfjs-node" advice, as the CLI does.
  tf.env().set('PROD', true);
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
}

export interface Arr {
  shape: number[];
  data: Float32Array;
}

/** Every weight of a model by layer name, in the layer's own order (kernel, bias / gamma, beta, mean, variance). */
export function layerWeights(model: tf.LayersModel): Map<string, Arr[]> {
  const out = new Map<string, Arr[]>();
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length) out.set(layer.name, ws.map((w) => ({ shape: w.shape.slice(), data: Float32Array.from(w.dataSync()) })));
  }
  return out;
}

export function setLayerWeights(model: tf.LayersModel, weights: Map<string, Arr[]>): void {
  for (const [name, arrs] of weights) {
    const tensors = arrs.map((a) => tf.tensor(a.data, a.shape));
    model.getLayer(name).setWeights(tensors);
    tf.dispose(tensors);
  }
}

/** A seeded standard-normal batch of inputs of the given per-sample shape. */
export function probeBatch(shape: number[], samples: number, seed: number): tf.Tensor {
  const per = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(normalSamples(samples * per, seed), [samples, ...shape]);
}

/**
 * Trains briefly (a few epochs of Adam, no shuffling, so the result is the same on every run) on a
 * random smooth teacher function of the inputs: enough to move the weights off their initialisation.
 */
export async function trainBriefly(model: tf.LayersModel, seed: number, epochs = 15, samples = 256): Promise<void> {
  await useCpu();
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  const outputs = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const x = probeBatch(inputShape, samples, seed);
  const y = tf.tidy(() => {
    const flat = x.reshape([samples, -1]);
    const a = tf.tensor(normalSamples(flat.shape[1]! * 8, seed + 1), [flat.shape[1]!, 8]).div(Math.sqrt(flat.shape[1]!));
    const b = tf.tensor(normalSamples(8 * outputs, seed + 2), [8, outputs]);
    return tf.tanh(flat.matMul(a)).matMul(b);
  });
  model.compile({ optimizer: tf.train.adam(1e-2), loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs, batchSize: 32, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
}

export function predict(model: tf.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => Float32Array.from((model.predict(x) as tf.Tensor).dataSync()));
}

/** Largest |a − b| / max(|a|, rms(a)), the measure `verify` reports. */
export function maxRelDeviation(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let sq = 0;
  for (const v of a) sq += v * v;
  const rms = Math.sqrt(sq / Math.max(1, a.length)) || 1;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), rms));
  return worst;
}

/** max |a − b| / max |b|: relative to the reference's scale, so entries near zero do not dominate. */
export function relativeDeviation(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** A seeded standard-normal tensor of the given shape. */
export function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(normalSamples(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** Runs `f` on the named backend and returns its results' values (to compare backends). */
export async function on(name: 'wasm' | 'cpu', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(name);
  return tf.tidy(() => [f()].flat().map((t) => Float32Array.from(t.dataSync())));
}

/** A JSON file's content, as the type the caller expects it to have (the tests then check it). */
export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as T;
}

/** A layer as the tests read it from a saved topology. */
export interface LayerJson {
  name?: string;
  config: { name?: string; units?: number; filters?: number; [key: string]: unknown };
  [key: string]: unknown;
}

/** A saved model's topology: Keras' model config, directly or under `model_config`; its layers listed directly or under `layers`. */
interface TopologyJson {
  model_config?: TopologyJson;
  config: LayerJson[] | { layers: LayerJson[]; [key: string]: unknown };
  [key: string]: unknown;
}

/** A written model.json, as far as the tests read it. */
export interface SavedModelJson {
  modelTopology: TopologyJson;
  weightsManifest: tf.io.WeightsManifestConfig;
  [key: string]: unknown;
}

/** A model.json as TF.js saves a Sequential model: its layers under modelTopology.config.layers. */
export interface SavedSequentialJson extends SavedModelJson {
  modelTopology: TopologyJson & { config: { layers: LayerJson[] } };
}

/** The layers of a saved topology. */
function topologyLayers(topology: TopologyJson): LayerJson[] {
  const config = (topology.model_config ?? topology).config;
  return Array.isArray(config) ? config : config.layers;
}

/**
 * Loads a written model folder with tfjs itself (its own weight decoding, quantisation included),
 * through a custom IOHandler that reads every shard of every manifest group.
 */
export async function loadFolderWithTfjs(dir: string): Promise<tf.LayersModel> {
  const json = await readJson<SavedModelJson>(path.join(dir, 'model.json'));
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(await fs.readFile(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const artifacts: tf.io.ModelArtifacts = { modelTopology: json.modelTopology, weightSpecs, weightData };
  return tf.loadLayersModel({ load: async () => artifacts });
}

/** Units (Dense) or filters (Conv2D) per layer name, as written in a model.json. */
export function writtenUnits(modelJson: { modelTopology: unknown }): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of topologyLayers(modelJson.modelTopology as TopologyJson)) {
    const name = l.config.name ?? l.name ?? '';
    if (l.config.units !== undefined) out[name] = l.config.units;
    else if (l.config.filters !== undefined) out[name] = l.config.filters;
  }
  return out;
}

/** Lists a folder (sorted), or [] when it does not exist. */
export async function listing(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

/**
 * Registers hooks running the enclosing suite on the wasm backend with the training kernels, and
 * switching back to the previous backend (none when the file runs alone) after it. The backend is
 * on the returned holder once the suite's `before` hooks ran.
 */
export function onWasmBackend(): { backend: Backend } {
  const holder = {} as { backend: Backend };
  let previous: string | null = null;
  before(async () => {
    previous = tf.getBackend();
    holder.backend = await loadBackend('wasm');
    registerWasmTrainingKernels(holder.backend.tf);
  });
  after(async () => {
    if (previous) await tf.setBackend(previous);
  });
  return holder;
}
