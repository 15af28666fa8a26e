import type * as TF from '@tensorflow/tfjs';
import { DataArray, readDataFile } from './data';
import { InputError } from './errors';
import { buildGraph } from './graph';
import { normalSamples, uniformSamples } from './random';
import { readTfjsModel, TfjsModelFile } from './tfjs/read';
import { sizeOf } from './tensor';

export interface ProbeOptions {
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

export const DEFAULT_SAMPLES = 256;

/** Loads a model into tfjs from what our reader decoded (identical to tfjs's own decoding). */
export async function toLayersModel(tf: typeof TF, model: TfjsModelFile): Promise<TF.LayersModel> {
  const weightSpecs = model.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype }));
  const total = model.weights.reduce((s, w) => s + w.data.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const w of model.weights) {
    weightData.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), offset);
    offset += w.data.byteLength;
  }
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: model.json.modelTopology as TF.io.ModelJSON['modelTopology'], weightSpecs, weightData: weightData.buffer }),
    );
  } catch (e) {
    throw new InputError(model.path, `tfjs cannot build this model: ${(e as Error).message}`);
  }
}

export async function verifyModels(tf: typeof TF, originalPath: string, reducedPath: string, options: ProbeOptions = {}): Promise<Fidelity> {
  const [original, reduced] = await Promise.all([readTfjsModel(originalPath), readTfjsModel(reducedPath)]);
  const [a, b] = [await toLayersModel(tf, original), await toLayersModel(tf, reduced)];
  try {
    const shapes = a.inputs.map((i) => i.shape.slice(1));
    const reducedShapes = b.inputs.map((i) => i.shape.slice(1));
    if (JSON.stringify(shapes) !== JSON.stringify(reducedShapes)) {
      throw new InputError(reducedPath, `its inputs ${JSON.stringify(reducedShapes)} differ from the original's ${JSON.stringify(shapes)}`);
    }
    const { inputs, description, samples } = await probeInputs(originalPath, shapes, options);
    const run = (m: TF.LayersModel): Float32Array[] =>
      tf.tidy(() => {
        const out = m.predict(inputs.map((x, i) => tf.tensor(x, [samples, ...(shapes[i] as number[])])));
        return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
      });
    const ya = run(a);
    const yb = run(b);
    if (ya.length !== yb.length || ya.some((y, i) => y.length !== yb[i].length)) {
      throw new InputError(reducedPath, 'its outputs have different shapes from the original\'s');
    }
    return { samples, inputs: description, ...compare(ya, yb, a.outputs.map((o) => o.shape[o.shape.length - 1] ?? 1), samples, isClassifier(original)) };
  } finally {
    a.dispose();
    b.dispose();
  }
}

async function probeInputs(
  modelPath: string,
  shapes: (number | null)[][],
  options: ProbeOptions,
): Promise<{ inputs: Float32Array[]; description: string; samples: number }> {
  for (const shape of shapes) {
    if (shape.some((d) => d === null)) throw new InputError(modelPath, `an input has an unknown size ${JSON.stringify(shape)}; pass --data`);
  }
  if (options.data) {
    if (shapes.length !== 1) throw new InputError(options.data, 'data files are supported for single-input models only');
    const array: DataArray = await readDataFile(options.data);
    const per = sizeOf(shapes[0] as number[]);
    if (array.data.length % per !== 0 || array.data.length === 0) {
      throw new InputError(options.data, `holds ${array.data.length} values, not a whole number of inputs of shape [${shapes[0].join(', ')}]`);
    }
    const samples = array.data.length / per;
    return { inputs: [array.data], description: `${samples} rows of ${options.data}`, samples };
  }
  const samples = options.samples ?? DEFAULT_SAMPLES;
  const seed = options.seed ?? 1;
  const inputs = shapes.map((shape, i) => {
    const n = samples * sizeOf(shape as number[]);
    return options.range ? uniformSamples(n, options.range[0], options.range[1], seed + i) : normalSamples(n, seed + i);
  });
  const description = options.range ? `${samples} uniform samples in [${options.range.join(', ')}]` : `${samples} standard-normal samples`;
  return { inputs, description, samples };
}

function isClassifier(model: TfjsModelFile): boolean {
  const graph = buildGraph(model.path, model.json, model.weights);
  return graph.outputs.some((name) => {
    const layer = graph.byName.get(name)!;
    return layer.config.activation === 'softmax' || layer.className === 'Softmax';
  });
}

function compare(ya: Float32Array[], yb: Float32Array[], widths: number[], samples: number, classifier: boolean): Omit<Fidelity, 'samples' | 'inputs'> {
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
      const width = widths[0];
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
