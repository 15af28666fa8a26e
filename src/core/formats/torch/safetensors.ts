/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}`, then the
 * tensors' raw little-endian bytes. Validated as strictly as the reference implementation: offsets
 * must tile the data exactly (no overlaps, gaps or trailing bytes).
 */
import { InputError } from '../../model/errors';
import { ModelReading } from '../../model/files';
import { StorageDtype } from '../../model/tensor';
import { excerpt, isRecord, parseJsonInput } from '../../codecs/json';
import { byteLengthOf, checkShape, RawTensor } from '../../codecs/dtypes';

const DTYPES: ReadonlyMap<string, StorageDtype> = new Map([
  ['F64', 'float64'], ['F32', 'float32'], ['F16', 'float16'], ['BF16', 'bfloat16'],
  ['I64', 'int64'], ['I32', 'int32'], ['I16', 'int16'], ['I8', 'int8'], ['U16', 'uint16'], ['U8', 'uint8'], ['BOOL', 'bool'],
]);
const NAMES = new Map<StorageDtype, string>([...DTYPES].map(([name, dtype]) => [dtype, name]));

/** The reference implementation refuses larger headers too. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsFile {
  /** In header order. */
  tensors: RawTensor[];
  metadata: Record<string, string> | null;
}

export function parseSafetensors(file: string, bytes: Buffer, reading: ModelReading = new ModelReading()): SafetensorsFile {
  const bad = (problem: string): InputError => new InputError(file, problem);
  if (bytes.length < 8) throw bad('too short to be a safetensors file');
  const headerLength = bytes.readBigUInt64LE(0);
  if (headerLength > BigInt(bytes.length - 8)) throw bad(`the header length (${headerLength} bytes) runs past the end of the file (truncated?)`);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw bad(`the header is ${headerLength} bytes, more than this tool reads`);
  const dataStart = 8 + Number(headerLength);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch (e) {
    throw bad(`the header is not valid UTF-8: ${(e as Error).message}`);
  }
  const header = parseJsonInput(file, text, 'the header');
  if (!isRecord(header)) throw bad('the header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const specs: { name: string; dtype: StorageDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(value) || !Object.values(value).every((v) => typeof v === 'string')) throw bad('"__metadata__" must map strings to strings');
      metadata = value as Record<string, string>;
      continue;
    }
    if (!isRecord(value)) throw bad(`header entry ${excerpt(name)} is not an object`);
    const dtype = typeof value.dtype === 'string' ? DTYPES.get(value.dtype) : undefined;
    if (!dtype) throw bad(`tensor ${excerpt(name)} has dtype ${excerpt(value.dtype)}; supported: ${[...DTYPES.keys()].join(', ')}`);
    const shape = checkShape(file, name, value.shape);
    const offsets = value.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw bad(`tensor ${excerpt(name)} has invalid data_offsets ${excerpt(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    const needed = byteLengthOf(dtype, shape);
    if (end - begin !== needed) {
      throw bad(`tensor ${excerpt(name)}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape.join(', ')}] in ${String(value.dtype)} needs ${needed}`);
    }
    reading.reserve(file, needed, `tensor ${excerpt(name)}`);
    specs.push({ name, dtype, shape, begin, end });
  }

  const dataLength = bytes.length - dataStart;
  let covered = 0;
  let previous = '';
  for (const spec of [...specs].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (spec.begin < covered) throw bad(`tensor ${excerpt(spec.name)} overlaps tensor ${excerpt(previous)}`);
    if (spec.begin > covered) throw bad(`${spec.begin - covered} bytes before tensor ${excerpt(spec.name)} belong to no tensor`);
    if (spec.end > dataLength) throw bad(`tensor ${excerpt(spec.name)} ends at byte ${spec.end} of the data, but the file holds only ${dataLength} (truncated?)`);
    covered = spec.end;
    previous = spec.name;
  }
  if (covered !== dataLength) throw bad(`${dataLength - covered} bytes after the last tensor belong to no tensor`);

  // Views into the file's bytes, not copies: they are all kept (unchanged tensors are written back as they are).
  const tensors = specs.map(({ name, dtype, shape, begin, end }) => ({
    name,
    dtype,
    shape,
    bytes: new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin),
  }));
  return { tensors, metadata };
}

/** A safetensors file holding the tensors in the given order. */
export function encodeSafetensors(tensors: RawTensor[], metadata: Record<string, string> | null): Uint8Array {
  // No prototype, so that a tensor named "__proto__" is an ordinary key.
  const header = Object.create(null) as Record<string, unknown>;
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: NAMES.get(t.dtype), shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  // Padded with spaces to a multiple of 8, as the reference writer does, so the data stays aligned.
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}
