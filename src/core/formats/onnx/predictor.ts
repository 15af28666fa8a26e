/** Runs an ONNX file with onnxruntime-node for the fidelity check. */
import type * as Ort from 'onnxruntime-node';
import { loadOnnxRuntime } from '../../compute/engines';
import { InputError } from '../../model/errors';
import { Predictor } from '../../model/registry';
import { sizeOf } from '../../model/tensor';
import { float16ToFloat32, float32ToFloat16 } from '../../codecs/float16';

/** A graph input as the file declares it. */
export interface OnnxInput {
  name: string;
  /** TensorProto.DataType. */
  elemType: number;
  /** With the batch axis first; null where symbolic or unknown (the whole list when no shape is declared). */
  dims: (number | null)[] | null;
}

/** Float element types an input can be fed with (the probes are float32). */
const FEEDS: Partial<Record<number, (ort: typeof Ort, data: Float32Array, dims: number[]) => Ort.Tensor>> = {
  1: (ort, data, dims) => new ort.Tensor('float32', data, dims),
  10: (ort, data, dims) => new ort.Tensor('float16', Uint16Array.from(data, float32ToFloat16), dims),
  11: (ort, data, dims) => new ort.Tensor('float64', Float64Array.from(data), dims),
};

/** `threads`: onnxruntime's intra-op threads (absent: its default, one per core). */
export async function onnxPredictor(file: string, inputs: OnnxInput[], classifier: boolean, threads?: number): Promise<Predictor> {
  let ort: typeof Ort;
  try {
    ort = loadOnnxRuntime();
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    throw new InputError(file, `running ONNX models needs onnxruntime-node (an optional dependency), which cannot be loaded here: ${why}`);
  }
  for (const input of inputs) {
    if (!FEEDS[input.elemType]) throw new InputError(file, `input "${input.name}" is not a float tensor; only float inputs can be probed`);
    if (!input.dims?.length) throw new InputError(file, `input "${input.name}" declares no shape with a batch axis`);
  }
  const dims = inputs.map((i) => i.dims!);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], ...(threads ? { intraOpNumThreads: threads } : {}) });
  } catch (e) {
    throw new InputError(file, `onnxruntime cannot load this model: ${(e as Error).message.split('\n')[0]}`);
  }
  // A batch size fixed in the file (often 1, as exported) is run in chunks of that size.
  const fixedBatch = dims.map((d) => d[0]).find((d): d is number => d !== null);
  return {
    inputShapes: dims.map((d) => d.slice(1)),
    classifier,
    async run(data, samples, shapes) {
      const chunk = fixedBatch ?? samples;
      const outputs: Float32Array[] = [];
      for (let start = 0; start < samples; start += chunk) {
        const count = Math.min(chunk, samples - start);
        const feeds: Record<string, Ort.Tensor> = {};
        inputs.forEach((input, k) => {
          const per = sizeOf(shapes[k]);
          const batch = new Float32Array(chunk * per);
          batch.set(data[k].subarray(start * per, (start + count) * per));
          feeds[input.name] = FEEDS[input.elemType]!(ort, batch, [chunk, ...shapes[k]]);
        });
        const results = await session.run(feeds);
        session.outputNames.forEach((name, o) => {
          const values = floats(results[name]);
          const per = values.length / chunk;
          outputs[o] ??= new Float32Array(per * samples);
          outputs[o].set(values.subarray(0, per * count), start * per);
        });
      }
      return outputs;
    },
    dispose: () => void session.release(),
  };
}

function floats(t: Ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return Float32Array.from(t.data as Uint16Array, float16ToFloat32);
  return Float32Array.from(t.data as ArrayLike<number | bigint>, Number);
}
