/** A dense tensor as the engine passes it around: row-major, last axis fastest. */
export interface Tensor {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major transpose: axis i of the result is axis perm[i] of the input (viewed with `shape`). */
export function transpose(t: Tensor, shape: number[], perm: number[]): Tensor {
  const outShape = perm.map((axis) => shape[axis]);
  const strides = shape.map((_, axis) => sizeOf(shape.slice(axis + 1)));
  const outStrides = perm.map((axis) => strides[axis]);
  const n = sizeOf(shape);
  const data = new Float32Array(n);
  const index = new Array<number>(perm.length).fill(0);
  let source = 0;
  for (let i = 0; i < n; i++) {
    data[i] = t.data[source];
    for (let axis = perm.length - 1; axis >= 0; axis--) {
      source += outStrides[axis];
      if (++index[axis] < outShape[axis]) break;
      source -= outStrides[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
  return { shape: outShape, dtype: 'float32', data };
}

/** Largest tensor the engine agrees to allocate (elements); larger shapes are refused up front. */
export const MAX_TENSOR_ELEMENTS = 2 ** 29;

/** How a weight was stored in its file: writers store it back the same way. */
export type StorageDtype =
  | 'float32' | 'int32' | 'uint8' | 'uint16' | 'float16'
  // Seen in PyTorch and safetensors files.
  | 'float64' | 'bfloat16' | 'int64' | 'int16' | 'int8' | 'bool';

/** Bytes per stored value. */
export const STORAGE_BYTES: Record<StorageDtype, number> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint16: 2, uint8: 1, bool: 1,
};

/** TF.js weight quantisation (uint8/uint16 affine, or float16). */
export interface Quantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  min?: number;
  scale?: number;
  original_dtype?: string;
}

/** A model weight as read from its file, in the engine's layout. */
export interface NamedWeight extends Tensor {
  name: string;
  storage: StorageDtype;
  quantization?: Quantization;
}
