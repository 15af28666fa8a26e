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
