/**
 * Dense and Conv2D layers: the rows they multiply by their kernel (input vectors, or im2col patches),
 * which the least-squares refit and the data-aware similarity read too, and their outputs.
 */
import { LayerNode } from '../../model/graph';
import { sizeOf, Tensor } from '../../model/tensor';
import { ProductEngine, transposeMatrix, typescriptProducts } from '../linalg';
import { isUnsupported, Outcome, Unsupported, Value } from '../value';
import { ownActivation } from './activation';
import { convGeometry } from './geometry';
import { Kernel } from './kernel';
import { excerpt } from '../../codecs/json';

/** Rows a Dense or Conv2D layer multiplies by its kernel: input vectors, or im2col patches in kernel order (kh, kw, channels). */
export interface LayerRows {
  /** rows × width, row-major. */
  data: Float64Array;
  rows: number;
  width: number;
  /** Shape of the layer's output without its channel axis (sample axis first). */
  outer: number[];
}

/**
 * The rows a Dense/Conv2D layer sees on input x. `pick` (ascending row indices) keeps a subset,
 * which the least-squares fit uses to bound its cost on large feature maps.
 */
export function layerRows(layer: LayerNode, x: Value, pick?: Int32Array): LayerRows | Unsupported {
  if (layer.className === 'DepthwiseConv2D') return { unsupported: `${excerpt(layer.name)} is a DepthwiseConv2D, which has no rows` };
  if (layer.className === 'Dense') {
    const width = x.shape[x.shape.length - 1];
    const rows = x.data.length / width;
    if (!pick) return { data: x.data, rows, width, outer: x.shape.slice(0, -1) };
    const data = new Float64Array(pick.length * width);
    pick.forEach((r, i) => data.set(x.data.subarray(r * width, (r + 1) * width), i * width));
    return { data, rows: pick.length, width, outer: [pick.length] };
  }
  const g = convGeometry(layer, x.shape);
  if (isUnsupported(g)) return g;
  const { kh, kw, sh, sw, dh, dw, top, left, outH, outW } = g;
  const [n, height, width, channels] = x.shape;
  const patch = kh * kw * channels;
  const total = n * outH * outW;
  const count = pick ? pick.length : total;
  const data = new Float64Array(count * patch);
  for (let r = 0; r < count; r++) {
    const row = pick ? pick[r] : r;
    const s = Math.floor(row / (outH * outW));
    const oy = Math.floor(row / outW) % outH;
    const ox = row % outW;
    let at = r * patch;
    for (let i = 0; i < kh; i++) {
      const y = oy * sh + i * dh - top;
      for (let j = 0; j < kw; j++, at += channels) {
        const xx = ox * sw + j * dw - left;
        if (y < 0 || y >= height || xx < 0 || xx >= width) continue;
        const from = ((s * height + y) * width + xx) * channels;
        data.set(x.data.subarray(from, from + channels), at);
      }
    }
  }
  return { data, rows: count, width: patch, outer: pick ? [count] : [n, outH, outW] };
}

/** How many rows layerRows gives for input of this shape (samples × output positions for a convolution). */
export function rowCount(layer: LayerNode, shape: number[]): { rows: number } | Unsupported {
  if (layer.className === 'DepthwiseConv2D') return { unsupported: `${excerpt(layer.name)} is a DepthwiseConv2D, which has no rows` };
  if (layer.className === 'Dense') return { rows: sizeOf(shape.slice(0, -1)) };
  const g = convGeometry(layer, shape);
  return isUnsupported(g) ? g : { rows: shape[0] * g.outH * g.outW };
}

/** A Dense/Conv2D layer's pre-activation (kernel and bias, no activation) on input x. */
export async function linearOutput(layer: LayerNode, x: Value, weight: (role: string) => Tensor | undefined, products: ProductEngine = typescriptProducts): Promise<Outcome> {
  const kernel = weight('kernel');
  if (!kernel) return { unsupported: `${excerpt(layer.name)} has no kernel` };
  const rows = layerRows(layer, x);
  if (isUnsupported(rows)) return rows;
  const out = kernel.shape[kernel.shape.length - 1];
  if (rows.width * out !== kernel.data.length) return { unsupported: `${excerpt(layer.name)}'s kernel does not match its input` };
  const bias = layer.config.use_bias === false ? undefined : weight('bias');
  return { shape: [...rows.outer, out], data: await applyKernel(rows, kernel, bias, products) };
}

/** rows · kernel (+ bias): kernel is [width, out] in row-major order (conv kernels flattened over kh, kw, channels). */
async function applyKernel(rows: LayerRows, kernel: Tensor, bias: Tensor | undefined, products: ProductEngine): Promise<Float64Array> {
  const out = kernel.shape[kernel.shape.length - 1];
  const z = await products.multiplyRows(rows.data, rows.rows, transposeMatrix(kernel.data, rows.width, out), out, rows.width);
  if (bias) for (let r = 0; r < rows.rows; r++) for (let j = 0; j < out; j++) z[r * out + j] += bias.data[j];
  return z;
}

/** Dense and Conv2D: the pre-activation the walker keeps, then the layer's own activation. */
export const linearKernel: Kernel = { reads: 'one', run: async (layer, _, context) => ownActivation(layer, await context.preActivation()) };
