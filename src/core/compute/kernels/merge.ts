/** Layers joining branches: residual Add and channel Concatenate. */
import { Outcome } from '../value';
import { Kernel } from './kernel';
import { excerpt } from '../../codecs/json';

/** Elementwise sum of inputs of one shape (a residual connection). */
export const addKernel: Kernel = {
  reads: 'all',
  run(layer, inputs): Outcome {
    const [first] = inputs;
    if (inputs.some((v) => v.shape.join() !== first.shape.join())) return { unsupported: `${excerpt(layer.name)} adds tensors of different shapes` };
    const data = Float64Array.from(first.data);
    for (const v of inputs.slice(1)) for (let i = 0; i < data.length; i++) data[i] += v.data[i];
    return { shape: first.shape, data };
  },
};

/** Concatenation along the last (channel) axis, the one the engine's channel bookkeeping knows. */
export const concatenateKernel: Kernel = {
  reads: 'all',
  run(layer, inputs): Outcome {
    const rank = inputs[0].shape.length;
    const axis = Number(layer.config.axis ?? -1);
    if (axis !== -1 && axis !== rank - 1) return { unsupported: `${excerpt(layer.name)} concatenates along axis ${axis}, not the channels` };
    const outer = inputs[0].data.length / inputs[0].shape[rank - 1];
    if (inputs.some((v) => v.shape.length !== rank || v.data.length / v.shape[rank - 1] !== outer)) return { unsupported: `${excerpt(layer.name)} concatenates tensors of different shapes` };
    const widths = inputs.map((v) => v.shape[rank - 1]);
    const total = widths.reduce((a, b) => a + b, 0);
    const data = new Float64Array(outer * total);
    for (let r = 0; r < outer; r++) {
      let at = r * total;
      inputs.forEach((v, k) => {
        data.set(v.data.subarray(r * widths[k], (r + 1) * widths[k]), at);
        at += widths[k];
      });
    }
    return { shape: [...inputs[0].shape.slice(0, -1), total], data };
  },
};
