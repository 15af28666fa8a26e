import type { Backend } from './compute/backend';
import { readDataFile } from './codecs/dataFile';
import { rowShape } from './data/calibration';
import { InputError } from './model/errors';
import { openModel } from './formats/index';
import type { OpenOptions } from './model/registry';
import { normalSamples, uniformSamples } from './data/random';
import { DEFAULT_SAMPLES } from './estimate';
import { sizeOf } from './model/tensor';

export interface ProbeOptions extends OpenOptions {
  /** A user file of inputs (.npy, .json, .csv); otherwise samples are generated. */
  data?: string;
  samples?: number;
  /** Uniform in [low, high] instead of standard normal. */
  range?: [number, number];
  seed?: number;
  /** With `data`: one class index per row; both models' accuracy is reported. */
  labels?: string;
  /** The first output holds class scores (logits) even though no softmax ends the model. */
  classifier?: boolean;
  /** With `data`: at most this many rows, evenly spaced. */
  maxRows?: number;
}

export interface Fidelity {
  samples: number;
  /** Where the inputs came from: the data file, or a description of the generated samples. */
  inputs: string;
  maxAbs: number;
  meanAbs: number;
  /** |y − ŷ| / max(|y|, rms(y)): relative where outputs are large, against their typical size near zero. */
  maxRel: number;
  meanRel: number;
  /** Share of samples whose argmax (top-1) agrees, for classifiers; null otherwise. */
  argmaxAgreement: number | null;
  /** 'softmax': the last layer is a softmax; 'logits': labels or `classifier` say the first output holds class scores. */
  classifier?: 'softmax' | 'logits' | null;
  /** The runtime that ran the models, e.g. "onnxruntime" for ONNX; the tfjs backend otherwise. */
  runtime?: string;
  /** With `labels`: each model's share of rows whose top-1 is the label. */
  accuracy?: { original: number; reduced: number; labels: string };
}


/** Runs the original and the reduced model (any format, through its own runner) on the same inputs and compares. */
export async function verifyModels(backend: Backend, originalPath: string, reducedPath: string, options: ProbeOptions = {}): Promise<Fidelity> {
  const [original, reduced] = await Promise.all([openModel(originalPath, options), openModel(reducedPath, options)]);
  const a = await original.predictor(backend);
  try {
    const b = await reduced.predictor(backend);
    try {
      const shapes = a.inputShapes;
      if (JSON.stringify(shapes) !== JSON.stringify(b.inputShapes)) {
        throw new InputError(reducedPath, `its inputs ${JSON.stringify(b.inputShapes)} differ from the original's ${JSON.stringify(shapes)}`);
      }
      const { inputs, description, samples, sampleShapes, picked } = await probeInputs(originalPath, shapes, options);
      const ya = await a.run(inputs, samples, sampleShapes);
      const yb = await b.run(inputs, samples, sampleShapes);
      if (ya.length !== yb.length || ya.some((y, i) => y.length !== yb[i].length)) {
        throw new InputError(reducedPath, "its outputs have different shapes from the original's");
      }
      const width = ya[0].length / samples;
      const classifier = a.classifier ? 'softmax' : (options.labels || options.classifier) && width >= 2 ? 'logits' : null;
      const labels = options.labels && picked ? await readLabels(options.labels, picked.rows, picked.of, width) : null;
      const runtime = original.format === 'onnx' ? 'onnxruntime' : `tfjs ${backend.name}`;
      return {
        samples,
        inputs: description,
        ...compare(ya, yb, samples, classifier !== null),
        classifier,
        runtime,
        ...(labels ? { accuracy: { original: accuracy(ya[0], labels, width), reduced: accuracy(yb[0], labels, width), labels: options.labels! } } : {}),
      };
    } finally {
      b.dispose();
    }
  } finally {
    a.dispose();
  }
}

/** The inputs both models run on, in the layout the formats' runners take: rows of `data`, or generated samples. */
export async function probeInputs(
  modelPath: string,
  shapes: (number | null)[][],
  options: ProbeOptions,
): Promise<{ inputs: Float32Array[]; description: string; samples: number; sampleShapes: number[][]; picked: { rows: Int32Array; of: number } | null }> {
  const open = shapes.find((shape) => shape.some((d) => d === null));
  if (options.data) {
    if (shapes.length !== 1) throw new InputError(options.data, 'data files are supported for single-input models only');
    const array = await readDataFile(options.data);
    // The same rule as calibration and validation files: rows of the input's shape, nothing reinterpreted.
    const { samples, sample } = rowShape(options.data, shapes[0], array.shape);
    const take = Math.min(samples, options.maxRows ?? samples);
    // Midway between evenly spaced picks: rows a capped calibration did not take, where there are such.
    const picked = Int32Array.from({ length: take }, (_, i) => Math.floor(((i + 0.5) * samples) / take));
    const per = sizeOf(sample);
    const rows = take === samples ? array.data : new Float32Array(take * per);
    if (take < samples) picked.forEach((r, i) => rows.set(array.data.subarray(r * per, (r + 1) * per), i * per));
    const description = take < samples ? `${take} of the ${samples} rows of ${options.data}` : `${samples} rows of ${options.data}`;
    return { inputs: [rows], description, samples: take, sampleShapes: [sample], picked: { rows: picked, of: samples } };
  }
  if (open) {
    throw new InputError(modelPath, `an input has an unknown size [${open.map((d) => d ?? '?').join(', ')}]; pass --data with samples of that shape (.npy or nested .json)`);
  }
  const sampleShapes = shapes as number[][];
  const samples = options.samples ?? DEFAULT_SAMPLES;
  const seed = options.seed ?? 1;
  const inputs = sampleShapes.map((shape, i) => {
    const n = samples * sizeOf(shape);
    return options.range ? uniformSamples(n, options.range[0], options.range[1], seed + i) : normalSamples(n, seed + i);
  });
  const description = options.range ? `${samples} uniform samples in [${options.range.join(', ')}]` : `${samples} standard-normal samples`;
  return { inputs, description, samples, sampleShapes, picked: null };
}

/** One class index per row of the data file, for the rows verified. */
async function readLabels(file: string, picked: Int32Array, dataRows: number, classes: number): Promise<Int32Array> {
  const array = await readDataFile(file);
  const rows = array.shape[0];
  if (array.data.length !== rows) throw new InputError(file, `holds ${array.data.length / Math.max(1, rows)} values per row; labels are one class index per row`);
  if (rows !== dataRows) throw new InputError(file, `has ${rows} rows, but the data has ${dataRows}`);
  const out = Int32Array.from(picked, (r) => array.data[r]);
  out.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= classes) throw new InputError(file, `row ${picked[i] + 1}: ${label} is not a class index in [0, ${classes - 1}]`);
  });
  return out;
}

function accuracy(y: Float32Array, labels: Int32Array, width: number): number {
  let correct = 0;
  labels.forEach((label, s) => {
    if (argmax(y, s * width, width) === label) correct++;
  });
  return correct / labels.length;
}

function compare(ya: Float32Array[], yb: Float32Array[], samples: number, classifier: boolean): Pick<Fidelity, 'maxAbs' | 'meanAbs' | 'maxRel' | 'meanRel' | 'argmaxAgreement'> {
  let maxAbs = 0, sumAbs = 0, maxRel = 0, sumRel = 0, count = 0, agree = 0;
  ya.forEach((a, o) => {
    const b = yb[o];
    let sq = 0;
    for (const v of a) sq += v * v;
    const rms = Math.sqrt(sq / Math.max(1, a.length)) || 1;
    for (let i = 0; i < a.length; i++) {
      const diff = Math.abs(a[i] - b[i]);
      const rel = diff / Math.max(Math.abs(a[i]), rms);
      maxAbs = Math.max(maxAbs, diff);
      maxRel = Math.max(maxRel, rel);
      sumAbs += diff;
      sumRel += rel;
      count++;
    }
    if (o === 0 && classifier) {
      const width = a.length / samples;
      for (let s = 0; s < samples; s++) if (argmax(a, s * width, width) === argmax(b, s * width, width)) agree++;
    }
  });
  return {
    maxAbs,
    meanAbs: sumAbs / Math.max(1, count),
    maxRel,
    meanRel: sumRel / Math.max(1, count),
    argmaxAgreement: classifier ? agree / samples : null,
  };
}

function argmax(v: Float32Array, start: number, width: number): number {
  let best = 0;
  for (let i = 1; i < width; i++) if (v[start + i] > v[start + best]) best = i;
  return best;
}
