/**
 * Measured inference latency of an original and its reduced model, each in the runtime that runs its
 * format: onnxruntime for ONNX, tfjs (tfjs-node, else its wasm or cpu backend) for TF.js and Keras,
 * and the engine's own evaluator for PyTorch weights (a state dict has no runtime of its own here).
 * Per batch size both models are warmed up, then run alternately — so a change in the machine's load
 * falls on both alike — until enough runs are in and the time budget is spent; the medians are
 * compared with the ratio of the multiply-adds, the speed-up the reduction promises on paper.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type { Backend } from './compute/backend';
import { loadOnnxRuntime, productEngine } from './compute/engines';
import { GraphEvaluator, isUnsupported, originalWeights } from './compute/evaluator';
import type { ProductEngine } from './compute/linalg';
import { readInputRows } from './data/calibration';
import { normalSamples } from './data/random';
import { CancelToken, InputError, throwIfCancelled } from './model/errors';
import type { LayerNode, ModelGraph } from './model/graph';
import { openModel } from './formats/index';
import type { ModelSource, OpenOptions, Predictor } from './model/registry';
import { sizeOf } from './model/tensor';
import { readRegularFile } from './model/files';
import { updateReport } from './reduce';
import { type BatchTiming, REPORT_FILE, type Timing } from './reduction/report';
import { probeInputs } from './verify';
import { DEFAULT_TIMING_BATCHES, MAX_TIMING_BATCH } from './estimate';

/** Runs per model and batch size that are always measured, however long they take. */
export const MIN_TIMED_RUNS = 5;
/** Runs per model and batch size after which measuring stops, however quick they are. */
export const MAX_TIMED_RUNS = 1000;
/** Measured time per batch size (both models together) after which the runs stop, once MIN_TIMED_RUNS are in. */
const DEFAULT_TIMING_BUDGET_MS = 3000;
/** Runs per model before measuring: the first ones build caches and allocate. */
const WARMUP_RUNS = 2;
/** The most bytes the inputs of the largest batch may take, checked before allocating. */
const MAX_BATCH_BYTES = 1024 ** 3;
/** Which runtime runs a format: PyTorch weights (reduced ones are written as safetensors) run in the engine's evaluator. */
const runnerOf = (format: string): 'onnxruntime' | 'evaluator' | 'tfjs' =>
  format === 'onnx' ? 'onnxruntime' : format === 'pytorch' || format === 'safetensors' ? 'evaluator' : 'tfjs';

export interface TimingOptions extends OpenOptions {
  /** Batch sizes to time, in the order given (default DEFAULT_TIMING_BATCHES). */
  batches?: readonly number[];
  /** Intra-op threads where the runtime takes them; absent: the runtime's default. */
  threads?: number;
  /** A file of inputs (its rows repeated to fill a batch); otherwise seeded standard-normal samples. */
  data?: string;
  seed?: number;
  /** See DEFAULT_TIMING_BUDGET_MS. */
  budgetMs?: number;
  /** After each batch size: how many are timed, of how many. */
  onProgress?: (done: number, total: number, what: string) => void;
  cancel?: CancelToken;
}

/** One model, ready to run a batch of the prepared inputs. */
interface TimedModel {
  run(batch: number): Promise<void>;
  dispose(): void;
}

interface Prepared {
  models: [TimedModel, TimedModel];
  inputs: string;
  /** Multiply-adds per sample where the runner knows sizes the files leave open (the evaluator sees every layer's output). */
  macs?: [number | null, number | null];
}

/** Times both models at each batch size; see the file comment. */
export async function measureTiming(backend: Backend, originalPath: string, reducedPath: string, options: TimingOptions = {}): Promise<Timing> {
  const batches = options.batches ?? DEFAULT_TIMING_BATCHES;
  if (batches.length === 0 || batches.some((b) => !Number.isInteger(b) || b < 1 || b > MAX_TIMING_BATCH)) {
    throw new InputError('batch sizes', `must be whole numbers from 1 to ${MAX_TIMING_BATCH}, got ${batches.join(', ') || 'none'}`);
  }
  const [original, reduced] = await Promise.all([openModel(originalPath, options), openModel(reducedPath, options)]);
  if (runnerOf(original.format) !== runnerOf(reduced.format)) {
    throw new InputError(reducedPath, `is ${reduced.format}, but the original is ${original.format}: both must run in the same runtime to be compared`);
  }
  const largest = Math.max(...batches);
  const runtime = await runtimeFor(original, backend, options.threads);
  const { models, inputs, macs } = await runtime.prepare(original, reduced, largest, options);
  try {
    const results: BatchTiming[] = [];
    for (const batch of batches) {
      throwIfCancelled(options.cancel);
      results.push(await timeBatch(models, batch, options));
      options.onProgress?.(results.length, batches.length, `batch ${batch}`);
    }
    return { runtime: runtime.runtime, threads: runtime.threads, inputs, macs: macRatio(macs ?? [graphMacs(original.graph), graphMacs(reduced.graph)]), batches: results, measured: new Date().toISOString() };
  } finally {
    for (const model of models) model.dispose();
  }
}

/** Warm-up, then both models alternately until the runs and the budget are spent; the medians. */
async function timeBatch([a, b]: [TimedModel, TimedModel], batch: number, options: TimingOptions): Promise<BatchTiming> {
  const budget = options.budgetMs ?? DEFAULT_TIMING_BUDGET_MS;
  for (let i = 0; i < WARMUP_RUNS; i++) {
    await a.run(batch);
    await b.run(batch);
  }
  const times: [number[], number[]] = [[], []];
  let spent = 0;
  while (times[0].length < MAX_TIMED_RUNS && (times[0].length < MIN_TIMED_RUNS || spent < budget)) {
    for (const [k, model] of [a, b].entries()) {
      const start = performance.now();
      await model.run(batch);
      const ms = performance.now() - start;
      times[k].push(ms);
      spent += ms;
    }
    // A turn of the event loop between runs (not timed): a cancellation that arrived meanwhile is seen.
    await new Promise((resolve) => setImmediate(resolve));
    throwIfCancelled(options.cancel);
  }
  const [originalMs, reducedMs] = times.map((t) => quantile(t, 0.5));
  const spread = Math.max(...times.map((t) => (quantile(t, 0.75) - quantile(t, 0.25)) / Math.max(quantile(t, 0.5), 1e-9)));
  return { batch, originalMs, reducedMs, speedup: originalMs / reducedMs, runs: times[0].length, spread };
}

/** The q-quantile of the values, interpolated between the nearest two (0.5: the median). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  const high = Math.min(sorted.length - 1, low + 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

/** Multiply-adds per sample: every kernel's size times the output positions it is applied at (`shapeOf` a layer's output, without the batch axis); null where one is unknown. */
function graphMacs(graph: ModelGraph, shapeOf = (layer: LayerNode): (number | null)[] | null => layer.outputShape): number | null {
  let total = 0;
  for (const layer of graph.layers) {
    const kernels = KERNEL_ROLES.flatMap((role) => layer.weights.get(role) ?? []);
    if (kernels.length === 0) continue;
    const shape = shapeOf(layer);
    if (!shape || shape.some((d) => d === null)) return null;
    const positions = sizeOf((shape as number[]).slice(0, -1));
    for (const kernel of kernels) total += kernel.data.length * positions;
  }
  return total;
}

const KERNEL_ROLES = ['kernel', 'depthwise_kernel', 'pointwise_kernel'];

function macRatio([before, after]: [number | null, number | null]): Timing['macs'] {
  if (before === null || after === null || after === 0) return null;
  return { original: before, reduced: after, ratio: before / after };
}

/** The multiply-adds of a graph as the evaluator runs it on one sample: every layer's output size is then known. */
async function evaluatedMacs(model: ModelSource, sample: number[], row: Float64Array, products: ProductEngine): Promise<number | null> {
  const evaluator = new GraphEvaluator(model.graph, { shape: [1, ...sample], data: row }, originalWeights, products);
  const shapes = new Map<string, number[] | null>();
  for (const layer of model.graph.layers) {
    if (!KERNEL_ROLES.some((role) => layer.weights.has(role))) continue;
    const y = await evaluator.output(layer.name);
    shapes.set(layer.name, isUnsupported(y) ? null : y.shape.slice(1));
  }
  return graphMacs(model.graph, (layer) => shapes.get(layer.name) ?? null);
}

interface Runtime {
  runtime: string;
  threads: string;
  /** Opens both models and the inputs of the largest batch. */
  prepare(original: ModelSource, reduced: ModelSource, largest: number, options: TimingOptions): Promise<Prepared>;
}

/** The runtime of the original's format (the reduced file has the same format). */
async function runtimeFor(source: ModelSource, backend: Backend, threads: number | undefined): Promise<Runtime> {
  const ignored = threads ? '; --threads is ignored' : '';
  if (runnerOf(source.format) === 'onnxruntime') {
    let version = '';
    try {
      version = ` ${loadOnnxRuntime().env.versions.common}`;
    } catch {
      // Opening the model refuses, with the reason.
    }
    return {
      runtime: `onnxruntime${version} (CPU)`,
      threads: threads ? `${threads} intra-op ${threads === 1 ? 'thread' : 'threads'}` : "onnxruntime's default intra-op threads (one per core)",
      prepare: (original, reduced, largest, options) => predictorPair(original, reduced, (model) => model.predictor(backend, { threads }), largest, options),
    };
  }
  if (runnerOf(source.format) === 'evaluator') {
    const products = await productEngine();
    const native = products.name === 'onnxruntime' ? "; products of 1M multiply-adds or more on onnxruntime's float64 Gemm with its default threads" : '';
    return {
      runtime: "condense's evaluator (float64; PyTorch weights have no runtime of their own here)",
      threads: `one JavaScript thread${native}${ignored}`,
      prepare: (original, reduced, largest, options) => evaluatorPair(original, reduced, products, largest, options),
    };
  }
  const threadsOf: Record<Backend['name'], string> = {
    tensorflow: `TensorFlow's own thread pool${ignored}`,
    wasm: `one thread (tfjs's wasm backend is single-threaded in Node)${ignored}`,
    cpu: `one thread (JavaScript)${ignored}`,
  };
  const engine = backend.name === 'tensorflow' ? 'tfjs-node (TensorFlow)' : `the ${backend.name} backend (tfjs-node is not installed)`;
  return {
    runtime: `tfjs ${backend.tf.version.tfjs}, ${engine}`,
    threads: threadsOf[backend.name],
    prepare: (original, reduced, largest, options) => predictorPair(original, reduced, (model) => model.predictor(backend), largest, options),
  };
}

/** Refuses a largest batch whose inputs would take more than MAX_BATCH_BYTES. */
function checkBatchBytes(file: string, largest: number, perSample: number, bytesPerValue: number): void {
  const bytes = largest * perSample * bytesPerValue;
  if (bytes > MAX_BATCH_BYTES) {
    throw new InputError(file, `a batch of ${largest} of its inputs takes ${(bytes / 1024 ** 3).toFixed(1)} GiB, more than the ${MAX_BATCH_BYTES / 1024 ** 3} GiB timing allows; ask for smaller batch sizes`);
  }
}

/**
 * Per batch size, each input's first `batch` prepared rows — repeated when fewer are prepared — built
 * once and kept while that batch size is timed.
 */
function batchFeeder<T extends Float32Array | Float64Array>(rows: T[], count: number, perSample: number[]): (batch: number) => T[] {
  let kept: { batch: number; inputs: T[] } | null = null;
  return (batch) => {
    if (kept?.batch !== batch) {
      const inputs = rows.map((x, k) => {
        const per = perSample[k];
        if (count >= batch) return x.subarray(0, batch * per) as T;
        const out = new (x.constructor as new (n: number) => T)(batch * per);
        for (let filled = 0; filled < batch; filled += count) out.set(x.subarray(0, Math.min(count, batch - filled) * per), filled * per);
        return out;
      });
      kept = { batch, inputs };
    }
    return kept.inputs;
  };
}

const inputsText = (data: string | undefined, rows: number, largest: number, seed: number): string =>
  data ? `${rows} ${rows === 1 ? 'row' : 'rows'} of ${data}${rows < largest ? ', repeated to fill larger batches' : ''}` : `standard-normal samples (seed ${seed})`;

/** Both models in their format's runner (onnxruntime, tfjs), on inputs in the file's layout. */
async function predictorPair(original: ModelSource, reduced: ModelSource, open: (model: ModelSource) => Promise<Predictor>, largest: number, options: TimingOptions): Promise<Prepared> {
  const a = await open(original);
  let b: Predictor | undefined;
  try {
    b = await open(reduced);
    const shapes = a.inputShapes;
    if (JSON.stringify(shapes) !== JSON.stringify(b.inputShapes)) {
      throw new InputError(reduced.path, `its inputs ${JSON.stringify(b.inputShapes)} differ from the original's ${JSON.stringify(shapes)}`);
    }
    if (!options.data && shapes.every((s) => s.every((d) => d !== null))) checkBatchBytes(original.path, largest, shapes.reduce((n, s) => n + sizeOf(s), 0), 4);
    const seed = options.seed ?? 1;
    const probe = await probeInputs(original.path, shapes, { data: options.data, samples: largest, maxRows: largest, seed });
    const perSample = probe.sampleShapes.map(sizeOf);
    if (options.data) checkBatchBytes(options.data, largest, perSample[0], 4);
    const feed = batchFeeder(probe.inputs, probe.samples, perSample);
    const timed = (p: Predictor): TimedModel => ({
      run: async (batch) => void (await p.run(feed(batch), batch, probe.sampleShapes)),
      dispose: () => p.dispose(),
    });
    return { models: [timed(a), timed(b)], inputs: inputsText(options.data, probe.samples, largest, seed) };
  } catch (e) {
    a.dispose();
    b?.dispose();
    throw e;
  }
}

/** Both models in the engine's evaluator, on inputs in the engine's layout (channels-last). */
async function evaluatorPair(original: ModelSource, reduced: ModelSource, products: ProductEngine, largest: number, options: TimingOptions): Promise<Prepared> {
  const { graph } = original;
  if (graph.inputs.length !== 1) throw new InputError(original.path, "condense's evaluator times single-input models only");
  const expected = graph.byName.get(graph.inputs[0])!.outputShape;
  const declared = reduced.graph.byName.get(reduced.graph.inputs[0] ?? '')?.outputShape;
  if (reduced.graph.inputs.length !== 1 || JSON.stringify(declared) !== JSON.stringify(expected)) {
    throw new InputError(reduced.path, `its input ${JSON.stringify(declared ?? null)} differs from the original's ${JSON.stringify(expected)}`);
  }
  const seed = options.seed ?? 1;
  let rows: Float64Array, count: number, sample: number[];
  if (options.data) {
    const read = await readInputRows(graph, options.data, largest, false);
    [count, ...sample] = read.input.shape;
    checkBatchBytes(options.data, largest, sizeOf(sample), 8);
    rows = read.input.data;
  } else {
    if (!expected || expected.some((d) => d === null)) {
      throw new InputError(original.path, `its input has an unknown size [${(expected ?? []).map((d) => d ?? '?').join(', ')}]; pass --data with samples of that shape (.npy or nested .json)`);
    }
    sample = expected as number[];
    checkBatchBytes(original.path, largest, sizeOf(sample), 8);
    count = largest;
    rows = Float64Array.from(normalSamples(largest * sizeOf(sample), seed));
  }
  const feed = batchFeeder([rows], count, [sizeOf(sample)]);
  const timed = (model: ModelSource): TimedModel => ({
    async run(batch) {
      const evaluator = new GraphEvaluator(model.graph, { shape: [batch, ...sample], data: feed(batch)[0] }, originalWeights, products);
      for (const name of model.graph.outputs) {
        const y = await evaluator.output(name);
        if (isUnsupported(y)) throw new InputError(model.path, `condense's evaluator cannot run it: ${y.unsupported}`);
      }
    },
    dispose: () => undefined,
  });
  const row = rows.subarray(0, sizeOf(sample));
  const macs: [number | null, number | null] = [await evaluatedMacs(original, sample, row, products), await evaluatedMacs(reduced, sample, row, products)];
  return { models: [timed(original), timed(reduced)], inputs: inputsText(options.data, count, largest, seed), macs };
}

/** A report is small; anything larger is not one condense wrote. */
const MAX_REPORT_BYTES = 64 * 1024 ** 2;

/**
 * Keeps the timing in the condense-report.json beside the reduced model, when that report names it
 * (a folder `reduce` wrote); returns the report's path, or null when there is no such report.
 */
export async function recordTiming(reducedPath: string, timing: Timing): Promise<string | null> {
  const model = await fs.realpath(reducedPath);
  const folder = path.dirname(model);
  const file = path.join(folder, REPORT_FILE);
  let report: unknown;
  try {
    report = JSON.parse((await readRegularFile(file, MAX_REPORT_BYTES, 'the report')).toString('utf8'));
  } catch {
    return null;
  }
  const names = (key: string, value: string): boolean => typeof report === 'object' && report !== null && Object.hasOwn(report, key) && (report as Record<string, unknown>)[key] === value;
  if (!names('tool', 'condense') || !names('reducedFile', path.basename(model))) return null;
  await updateReport(folder, { timing });
  return file;
}
