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
/** More rows than this are subsampled (evenly): the fit's cost grows with the rows, its accuracy barely. */
export const MAX_CALIBRATION_SAMPLES = 4096;
/** Float64 values one evaluated network may hold over all its layers (256 MB): bounds the rows on large feature maps. */
const VALUE_BUDGET = 2 ** 25;

export interface CalibrationSpec {
  /** A file of inputs (.npy, .json, .csv), one sample per row (images channels-last, or NCHW for ONNX/PyTorch). */
  file?: string;
  /** Otherwise uniform samples in [low, high]. */
  range?: [number, number];
  /** Generated rows (default DEFAULT_CALIBRATION_SAMPLES). */
  samples?: number;
  seed?: number;
}

export interface Calibration {
  /** The samples as the engine's graph takes them (channels-last). */
  input: Value;
  /** e.g. "2048 rows of inputs.npy" — for reports. */
  description: string;
}

/** Reads or generates calibration inputs shaped for the graph's single input. */
export async function loadCalibration(graph: ModelGraph, spec: CalibrationSpec, modelPath: string): Promise<Calibration> {
  if (spec.file) {
    const rows = await readInputRows(graph, spec.file, MAX_CALIBRATION_SAMPLES);
    const note = rows.picked.length < rows.samples ? ` (${rows.picked.length} of them, evenly spaced)` : '';
    return { input: rows.input, description: `${rows.samples} rows of ${spec.file}${note}` };
  }
  if (graph.inputs.length !== 1) throw new InputError(modelPath, 'calibration data is supported for single-input models only');
  if (!spec.range) throw new InputError(modelPath, 'calibration needs a data file or a range to generate inputs in');
  const expected = graph.byName.get(graph.inputs[0])!.outputShape;
  if (!expected || expected.some((d) => d === null)) {
    throw new InputError(modelPath, `the input's size is not known [${(expected ?? []).map((d) => d ?? '?').join(', ')}]: give calibration data in a file`);
  }
  const sample = expected as number[];
  const samples = Math.min(spec.samples ?? DEFAULT_CALIBRATION_SAMPLES, rowCap(graph, MAX_CALIBRATION_SAMPLES));
  const [low, high] = spec.range;
  const data = Float64Array.from(uniformSamples(samples * sizeOf(sample), low, high, spec.seed ?? 1));
  return { input: { shape: [samples, ...sample], data }, description: `${samples} uniform samples in [${low}, ${high}]` };
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
}

/**
 * Reads a file of inputs, keeping at most `maxRows` rows, evenly spaced — fewer where condense's
 * evaluator would hold all the network's values for them, unless `evaluated` is false (rows that only
 * tfjs runs, batch by batch, as in training).
 */
export async function readInputRows(graph: ModelGraph, file: string, maxRows: number, evaluated = true): Promise<InputRows> {
  if (graph.inputs.length !== 1) throw new InputError(file, 'data files are supported for single-input models only');
  const expected = graph.byName.get(graph.inputs[0])!.outputShape;
  const array = await readDataFile(file);
  const [samples, sample, data] = matchInput(file, expected, array.shape, array.data);
  const picked = evenRows(samples, evaluated ? rowCap(graph, maxRows) : Math.min(samples, maxRows));
  const per = sizeOf(sample);
  const input = new Float64Array(picked.length * per);
  const raw = new Float32Array(picked.length * per);
  picked.forEach((r, i) => {
    input.set(data.subarray(r * per, (r + 1) * per), i * per);
    raw.set(array.data.subarray(r * per, (r + 1) * per), i * per);
  });
  return { input: { shape: [picked.length, ...sample], data: input }, fileRows: { data: raw, sampleShape: array.shape.slice(1) }, samples, picked };
}

/** At most `max` rows, and no more than one evaluated network's values fit in VALUE_BUDGET. */
function rowCap(graph: ModelGraph, max: number): number {
  return Math.min(max, Math.max(16, Math.floor(VALUE_BUDGET / valuesPerSample(graph))));
}

/** Sum over layers of one sample's output size (unknown sizes count as nothing). */
function valuesPerSample(graph: ModelGraph): number {
  let total = 0;
  for (const layer of graph.layers) {
    const shape = layer.outputShape;
    if (shape && shape.every((d) => d !== null)) total += sizeOf(shape as number[]);
  }
  return Math.max(total, 1);
}

/**
 * The data as [samples, one sample's shape] in the graph's layout. A flat row of the right size
 * fits any input; 3-D samples given channels-first (NCHW, as ONNX and PyTorch take them) are
 * transposed to channels-last.
 */
function matchInput(file: string, expected: (number | null)[] | null, shape: number[], data: Float32Array): [number, number[], Float64Array] {
  const samples = shape[0];
  const sample = shape.slice(1);
  const fits = (s: number[]): boolean => !!expected && s.length === expected.length && expected.every((d, i) => d === null || d === s[i]);
  const values = Float64Array.from(data);
  if (!expected || fits(sample)) return [samples, sample, values];
  if (expected.every((d) => d !== null) && sizeOf(sample) === sizeOf(expected as number[]) && sample.length === 1) {
    return [samples, expected as number[], values];
  }
  if (sample.length === 3) {
    const [c, h, w] = sample;
    if (fits([h, w, c])) {
      const per = c * h * w;
      const out = new Float64Array(values.length);
      for (let s = 0; s < samples; s++) {
        for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[s * per + p * c + ch] = values[s * per + ch * h * w + p];
      }
      return [samples, [h, w, c], out];
    }
  }
  throw new InputError(file, `has samples of shape [${sample.join(', ')}], but the model takes [${expected.map((d) => d ?? '?').join(', ')}]`);
}

/** min(count, cap) row indices spread evenly over [0, count), ascending. */
export function evenRows(count: number, cap: number): Int32Array {
  const take = Math.min(count, cap);
  return Int32Array.from({ length: take }, (_, i) => Math.floor((i * count) / take));
}
