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
  /** Share of samples whose argmax agrees, for softmax classifiers; null otherwise. */
  argmaxAgreement: number | null;
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
      const { inputs, description, samples, sampleShapes } = await probeInputs(originalPath, shapes, options);
      const ya = await a.run(inputs, samples, sampleShapes);
      const yb = await b.run(inputs, samples, sampleShapes);
      if (ya.length !== yb.length || ya.some((y, i) => y.length !== yb[i].length)) {
        throw new InputError(reducedPath, "its outputs have different shapes from the original's");
      }
      return { samples, inputs: description, ...compare(ya, yb, samples, a.classifier) };
    } finally {
      b.dispose();
    }
  } finally {
    a.dispose();
  }
}

async function probeInputs(
  modelPath: string,
  shapes: (number | null)[][],
  options: ProbeOptions,
): Promise<{ inputs: Float32Array[]; description: string; samples: number; sampleShapes: number[][] }> {
  const open = shapes.find((shape) => shape.some((d) => d === null));
  if (options.data) {
    if (shapes.length !== 1) throw new InputError(options.data, 'data files are supported for single-input models only');
    const array = await readDataFile(options.data);
    // The same rule as calibration and validation files: rows of the input's shape, nothing reinterpreted.
    const { samples, sample } = rowShape(options.data, shapes[0], array.shape);
    return { inputs: [array.data], description: `${samples} rows of ${options.data}`, samples, sampleShapes: [sample] };
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
  return { inputs, description, samples, sampleShapes };
}

function compare(ya: Float32Array[], yb: Float32Array[], samples: number, classifier: boolean): Omit<Fidelity, 'samples' | 'inputs'> {
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
