/**
 * Calibration inputs: unlabelled samples of what the model is run on, read from a user's file or
 * generated uniformly in a range. The data-aware similarity and the least-squares refit push them
 * through the network (see compute/evaluator.ts); labels are never needed.
 */
import { readDataFile } from '../codecs/dataFile';
import { InputError } from '../model/errors';
import { Value } from '../compute/evaluator';
import { ModelGraph } from '../model/graph';
import { uniformSamples } from './random';
import { sizeOf } from '../model/tensor';

/** Rows generated when only a range is given; the paper-scale bench uses this many. */
export const DEFAULT_CALIBRATION_SAMPLES = 2048;
/** More calibration rows than this are subsampled (evenly): the fit's cost grows with the rows, its accuracy barely. */
export const MAX_CALIBRATION_SAMPLES = 4096;
/** MiB of float64 values one evaluated network may hold over all its layers: bounds the rows on large feature maps. */
export const DEFAULT_MEMORY_MIB = 256;
/** The fewest rows the budget is cut to: below this the statistics mean little, whatever the memory. */
const MIN_EVALUATED_ROWS = 16;

/** The memory budget that caps the rows condense's evaluator takes, and the setting a user changes it with. */
export interface MemoryBudget {
  mib?: number;
  /** Named in the note when the budget caps the rows, e.g. "--memory-mb" or "condense.memoryMb". */
  setting?: string;
}

export interface CalibrationSpec {
  /** A file of inputs (.npy, .json, .csv), one sample per row (images channels-last, or NCHW for ONNX/PyTorch). */
  file?: string;
  /** Otherwise uniform samples in [low, high]. */
  range?: [number, number];
  /** Generated rows (default DEFAULT_CALIBRATION_SAMPLES). */
  samples?: number;
  seed?: number;
  memory?: MemoryBudget;
}

export interface Calibration {
  /** The samples as the engine's graph takes them (channels-last). */
  input: Value;
  /** e.g. "2048 rows of inputs.npy" — for reports; says how many were used and why when fewer. */
  description: string;
  /** The most rows this model's evaluation takes (advice never asks for more). */
  rowLimit?: number;
}

/** Reads or generates calibration inputs shaped for the graph's single input. */
export async function loadCalibration(graph: ModelGraph, spec: CalibrationSpec, modelPath: string): Promise<Calibration> {
  const limit = rowCap(graph, MAX_CALIBRATION_SAMPLES, spec.memory);
  if (spec.file) {
    const rows = await readInputRows(graph, spec.file, MAX_CALIBRATION_SAMPLES, true, spec.memory);
    return { input: rows.input, description: `${rows.samples} rows of ${spec.file}${rows.note}`, rowLimit: limit.rows };
  }
  if (graph.inputs.length !== 1) throw new InputError(modelPath, 'calibration data is supported for single-input models only');
  if (!spec.range) throw new InputError(modelPath, 'calibration needs a data file or a range to generate inputs in');
  const expected = graph.byName.get(graph.inputs[0])!.outputShape;
  if (!expected || expected.some((d) => d === null)) {
    throw new InputError(modelPath, `the input's size is not known [${(expected ?? []).map((d) => d ?? '?').join(', ')}]: give calibration data in a file`);
  }
  const sample = expected as number[];
  const asked = spec.samples ?? DEFAULT_CALIBRATION_SAMPLES;
  const samples = Math.min(asked, limit.rows);
  const [low, high] = spec.range;
  const data = Float64Array.from(uniformSamples(samples * sizeOf(sample), low, high, spec.seed ?? 1));
  const note = samples < asked ? ` (${asked} asked for: ${limit.reason})` : '';
  return { input: { shape: [samples, ...sample], data }, description: `${samples} uniform samples in [${low}, ${high}]${note}`, rowLimit: limit.rows };
}

/** Rows of a data file for the graph's single input. */
export interface InputRows {
  /** The kept rows as the engine's graph takes them (channels-last). */
  input: Value;
  /** The same rows as the file holds them: the layout the format's own runner takes. */
  fileRows: { data: Float32Array; sampleShape: number[] };
  /** Rows in the file; `picked` are the indices of those kept. */
  samples: number;
  picked: Int32Array;
  /** " (656 of them, evenly spaced: why)" when rows were left out, else "". */
  note: string;
}

/**
 * Reads a file of inputs, keeping at most `maxRows` rows, evenly spaced — fewer where condense's
 * evaluator would hold all the network's values for them, unless `evaluated` is false (rows that only
 * tfjs runs, batch by batch, as in training).
 */
export async function readInputRows(graph: ModelGraph, file: string, maxRows: number, evaluated = true, memory?: MemoryBudget): Promise<InputRows> {
  if (graph.inputs.length !== 1) throw new InputError(file, 'data files are supported for single-input models only');
  const expected = graph.byName.get(graph.inputs[0])!.outputShape;
  const array = await readDataFile(file);
  const [samples, sample, data] = matchInput(file, expected, array.shape, array.data);
  const limit = evaluated ? rowCap(graph, maxRows, memory) : { rows: Math.min(samples, maxRows), reason: `at most ${maxRows} rows are used` };
  const picked = evenRows(samples, limit.rows);
  const per = sizeOf(sample);
  const input = new Float64Array(picked.length * per);
  const raw = new Float32Array(picked.length * per);
  picked.forEach((r, i) => {
    input.set(data.subarray(r * per, (r + 1) * per), i * per);
    raw.set(array.data.subarray(r * per, (r + 1) * per), i * per);
  });
  const note = picked.length < samples ? ` (${picked.length} of them, evenly spaced: ${limit.reason})` : '';
  return { input: { shape: [picked.length, ...sample], data: input }, fileRows: { data: raw, sampleShape: array.shape.slice(1) }, samples, picked, note };
}

/** At most `max` rows, and no more than one evaluated network's values fit in the memory budget; with the reason when it binds. */
function rowCap(graph: ModelGraph, max: number, memory: MemoryBudget = {}): { rows: number; reason: string } {
  const mib = memory.mib ?? DEFAULT_MEMORY_MIB;
  const bytesPerRow = 8 * valuesPerSample(graph);
  const fit = Math.floor((mib * 2 ** 20) / bytesPerRow);
  if (fit >= max) return { rows: max, reason: `at most ${max} rows are used: the fit's cost grows with the rows, its accuracy barely` };
  const perRow = bytesPerRow / 2 ** 20;
  const change = memory.setting ? `; ${memory.setting} changes it` : '';
  const budget = `the evaluation's memory budget of ${mib} MiB holds ${fit} rows of this model (${perRow < 0.1 ? perRow.toPrecision(2) : perRow.toFixed(1)} MiB each)${change}`;
  return fit >= MIN_EVALUATED_ROWS
    ? { rows: fit, reason: budget }
    : { rows: MIN_EVALUATED_ROWS, reason: `${budget}, but never fewer than ${MIN_EVALUATED_ROWS} are used` };
}

/** Sum over layers of one sample's output size (unknown sizes count as nothing). */
function valuesPerSample(graph: ModelGraph): number {
  let total = 0;
  for (const layer of graph.layers) {
    const shape = layer.outputShape;
    if (shape && shape.every((d) => d !== null)) total += sizeOf(shape);
  }
  return Math.max(total, 1);
}

/**
 * The one rule for every file of model inputs (calibration, validation, training, verify): a row's shape
 * must equal the model's input shape (unknown sizes taken from the file), with two lossless exceptions —
 * a channel of size 1 may be left out (`[N, 28, 28]` for `[28, 28, 1]`), and a flat row of exactly the
 * input's size (a `.csv` can hold nothing else) is read in the input's layout.
 * Returns the row count and the row shape in the model's layout: the data then needs only a reshape.
 */
export function rowShape(file: string, expected: (number | null)[] | null, shape: number[]): { samples: number; sample: number[] } {
  if (shape.length < 2) {
    throw new InputError(file, `holds a 1-D array of ${shape[0] ?? 0} values; give one row per sample, each of shape [${(expected ?? []).map((d) => d ?? '?').join(', ')}]`);
  }
  const samples = shape[0];
  const sample = shape.slice(1);
  if (samples === 0) throw new InputError(file, 'holds no rows');
  if (!expected) return { samples, sample };
  const fits = (s: number[]): boolean => s.length === expected.length && expected.every((d, i) => d === null || d === s[i]);
  if (fits(sample)) return { samples, sample: expected.map((d, i) => d ?? sample[i]) };
  const known = expected.every((d) => d !== null) ? expected : null;
  if (known) {
    const unitChannel = known.length >= 2 && (known[known.length - 1] === 1 ? known.slice(0, -1) : known[0] === 1 ? known.slice(1) : null);
    if (unitChannel && unitChannel.length === sample.length && unitChannel.every((d, i) => d === sample[i])) return { samples, sample: known };
    if (sample.length === 1 && sample[0] === sizeOf(known)) return { samples, sample: known };
  }
  const takes = `[${expected.map((d) => d ?? '?').join(', ')}]`;
  throw new InputError(file, `has samples of shape [${sample.join(', ')}], but the model takes ${takes}: the array's shape [${shape.join(', ')}] should be N × ${takes}`);
}

/** The data as [samples, one sample's shape] in the graph's layout (see rowShape); NCHW rows are transposed to channels-last. */
function matchInput(file: string, expected: (number | null)[] | null, shape: number[], data: Float32Array): [number, number[], Float64Array] {
  const values = Float64Array.from(data);
  const sample = shape.slice(1);
  if (expected && sample.length === 3 && expected.length === 3) {
    const [c, h, w] = sample;
    const transposed = [h, w, c];
    const matchesAsIs = expected.every((d, i) => d === null || d === sample[i]);
    if (!matchesAsIs && expected.every((d, i) => d === null || d === transposed[i])) {
      const samples = shape[0];
      const per = c * h * w;
      const out = new Float64Array(values.length);
      for (let s = 0; s < samples; s++) {
        for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[s * per + p * c + ch] = values[s * per + ch * h * w + p];
      }
      return [samples, transposed, out];
    }
  }
  const rows = rowShape(file, expected, shape);
  return [rows.samples, rows.sample, values];
}

/** min(count, cap) row indices spread evenly over [0, count), ascending. */
export function evenRows(count: number, cap: number): Int32Array {
  const take = Math.min(count, cap);
  return Int32Array.from({ length: take }, (_, i) => Math.floor((i * count) / take));
}
