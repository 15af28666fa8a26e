/**
 * How ONNX tensors sit in the engine: weights bound to the engine's layout (Dense [in, out],
 * Conv2D [kh, kw, in, out]) and back, NCHW images given channels-last, and conv/pool padding as
 * the engine's graph reads it.
 */
import { Shape } from '../../model/graph';
import { NamedWeight, Tensor, transpose } from '../../model/tensor';
import { Node } from './node';

/** How an engine weight sits in the file. */
export interface WeightBinding {
  /** The ONNX axis of each engine axis; null: the engine holds the values as a vector (a bias of shape [1, out]). */
  perm: number[] | null;
  /** The engine holds scale × the stored values (Gemm's alpha and beta). */
  scale: number;
}

/** A stored weight in the engine's layout. */
export function toEngine(w: NamedWeight, binding: WeightBinding): NamedWeight {
  const t = binding.perm ? transpose(w, w.shape, binding.perm) : { ...w, shape: [w.data.length] };
  return { ...w, shape: t.shape, data: scaled(t.data, binding.scale) };
}

/** Engine values back in the file's layout: the stored dims with the engine's sizes. */
export function toStored(t: Tensor, binding: WeightBinding, storedDims: number[]): Tensor {
  if (!binding.perm) {
    return { ...t, shape: [...storedDims.slice(0, -1), t.data.length], data: scaled(t.data, 1 / binding.scale) };
  }
  const inverse = binding.perm.map((_, i) => binding.perm!.indexOf(i));
  const back = transpose(t, t.shape, inverse);
  return { ...back, data: scaled(back.data, 1 / binding.scale) };
}

function scaled(data: Float32Array | Int32Array, factor: number): Float32Array | Int32Array {
  if (factor === 1) return data;
  const out = Float32Array.from(data);
  for (let i = 0; i < out.length; i++) out[i] *= factor;
  return out;
}

/** An ONNX axis as a Keras axis (batch = 0) of the engine's shape: NCHW images are given channels-last. */
export function kerasAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? [0, 3, 1, 2][a] : a;
}

/** A shape with the batch axis, channels-last when it is an NCHW image. */
export function channelsLast(shape: Shape): Shape {
  return shape.length === 4 ? [shape[0], shape[2], shape[3], shape[1]] : shape;
}

/** Conv/pool padding as the engine's graph reads it: "same", "valid" or [[top, bottom], [left, right]]. */
export function padding(node: Node, strides: number[], ceilMode: boolean): unknown {
  const auto = node.string('auto_pad', 'NOTSET');
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return 'same';
  const [top, left, bottom, right] = auto === 'VALID' ? [0, 0, 0, 0] : node.ints('pads') ?? [0, 0, 0, 0];
  // Rounding the output size up is padding the end by stride − 1 more.
  const [extraH, extraW] = ceilMode ? [strides[0] - 1, strides[1] - 1] : [0, 0];
  if (top + left + bottom + right + extraH + extraW === 0) return 'valid';
  return [[top, bottom + extraH], [left, right + extraW]];
}
