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

/** Largest tensor the engine agrees to allocate (elements); larger shapes are refused up front. */
export const MAX_TENSOR_ELEMENTS = 2 ** 29;

/** How a weight was stored in its file: writers store it back the same way. */
export type StorageDtype = 'float32' | 'int32' | 'uint8' | 'uint16' | 'float16';

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
