/**
 * Tensors as PyTorch and safetensors files hold them (raw little-endian bytes in any dtype), and
 * their conversion to and from the engine's float32/int32 tensors.
 */
import { InputError } from '../model/errors';
import { float16ToFloat32, float32ToFloat16 } from './float16';
import { excerpt } from './json';
import { MAX_TENSOR_ELEMENTS, NamedWeight, sizeOf, STORAGE_BYTES, StorageDtype } from '../model/tensor';

/** One named tensor of a state dict: row-major, contiguous, little-endian. */
export interface RawTensor {
  name: string;
  dtype: StorageDtype;
  shape: number[];
  bytes: Uint8Array;
}

export type FloatDtype = 'float64' | 'float32' | 'float16' | 'bfloat16';

export function isFloatDtype(dtype: StorageDtype): dtype is FloatDtype {
  return dtype === 'float64' || dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16';
}

/** Refuses shapes that are not lists of non-negative integers or would need absurd memory, before anything is allocated. */
export function checkShape(file: string, name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || !shape.every((d: unknown): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new InputError(file, `tensor ${excerpt(name)} has an invalid shape ${excerpt(shape)}`);
  }
  const n = sizeOf(shape);
  if (n > MAX_TENSOR_ELEMENTS) {
    throw new InputError(file, `tensor ${excerpt(name)} has shape [${shape.join(', ')}] (${n.toExponential(2)} values), more than this tool will allocate`);
  }
  return shape;
}

export function byteLengthOf(dtype: StorageDtype, shape: readonly number[]): number {
  return sizeOf(shape) * STORAGE_BYTES[dtype];
}

/**
 * The engine's view of a tensor: floats as float32 (NaN and infinities refused, as for every
 * format), integers as int32. Only float weights are ever changed; every other tensor is written
 * back from its original bytes, so clamping int64 values to int32 here loses nothing.
 */
export function decodeTensor(file: string, t: RawTensor): NamedWeight {
  const n = sizeOf(t.shape);
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const base = { name: t.name, shape: t.shape.slice(), storage: t.dtype };
  if (isFloatDtype(t.dtype)) {
    const data = new Float32Array(n);
    const read = FLOAT_READERS[t.dtype];
    let bad = 0;
    for (let i = 0; i < n; i++) {
      data[i] = read(view, i);
      if (!Number.isFinite(data[i])) bad++;
    }
    if (bad > 0) throw new InputError(file, `tensor ${excerpt(t.name)} holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'}; refusing to analyse it`);
    return { ...base, dtype: 'float32', data };
  }
  const data = new Int32Array(n);
  const read = INT_READERS[t.dtype];
  for (let i = 0; i < n; i++) data[i] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, read(view, i)));
  return { ...base, dtype: 'int32', data };
}

/** Encodes float32 values in a float dtype (round to nearest even where it is narrower). */
export function encodeFloats(dtype: FloatDtype, values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * STORAGE_BYTES[dtype]);
  const view = new DataView(bytes.buffer);
  const write = FLOAT_WRITERS[dtype];
  for (let i = 0; i < values.length; i++) write(view, i, values[i]);
  return bytes;
}

type Reader = (view: DataView, index: number) => number;
type Writer = (view: DataView, index: number, value: number) => void;

const FLOAT_READERS: Record<FloatDtype, Reader> = {
  float64: (v, i) => v.getFloat64(i * 8, true),
  float32: (v, i) => v.getFloat32(i * 4, true),
  float16: (v, i) => float16ToFloat32(v.getUint16(i * 2, true)),
  // bfloat16 is the upper half of a float32.
  bfloat16: (v, i) => {
    scratchBits[0] = v.getUint16(i * 2, true) << 16;
    return scratch[0];
  },
};

const FLOAT_WRITERS: Record<FloatDtype, Writer> = {
  float64: (v, i, x) => v.setFloat64(i * 8, x, true),
  float32: (v, i, x) => v.setFloat32(i * 4, x, true),
  float16: (v, i, x) => v.setUint16(i * 2, float32ToFloat16(x), true),
  bfloat16: (v, i, x) => v.setUint16(i * 2, float32ToBfloat16(x), true),
};

const INT_READERS: Record<Exclude<StorageDtype, FloatDtype>, Reader> = {
  int64: (v, i) => Number(v.getBigInt64(i * 8, true)),
  int32: (v, i) => v.getInt32(i * 4, true),
  int16: (v, i) => v.getInt16(i * 2, true),
  int8: (v, i) => v.getInt8(i),
  uint16: (v, i) => v.getUint16(i * 2, true),
  uint8: (v, i) => v.getUint8(i),
  bool: (v, i) => v.getUint8(i),
};

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

function float32ToBfloat16(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0];
  if (Number.isNaN(value)) return 0x7fc0;
  // Round to nearest even on the 16 bits dropped.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
