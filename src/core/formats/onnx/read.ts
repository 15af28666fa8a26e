/**
 * Reads an ONNX file: the ModelProto decoded with onnx-proto (protobufjs code generated from
 * onnx.proto), and the stored bytes of every graph initializer, kept inline (raw_data or the typed
 * fields) or as external data in files next to the model.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { InputError } from '../../model/errors';
import { confinedPath, ModelReading } from '../../model/files';
import { sizeOf, STORAGE_BYTES, StorageDtype, Tensor } from '../../model/tensor';
import { checkShape, decodeTensor, encodeFloats } from '../../codecs/dtypes';
import { checkWireTypes } from './scan';
import { excerpt } from '../../codecs/json';

/** TensorProto.DataType values this tool decodes; other types are carried through as stored. */
const DTYPES: ReadonlyMap<number, StorageDtype> = new Map([
  [1, 'float32'], [2, 'uint8'], [3, 'int8'], [4, 'uint16'], [5, 'int16'], [6, 'int32'], [7, 'int64'], [9, 'bool'], [10, 'float16'], [11, 'float64'], [16, 'bfloat16'],
]);

const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

interface OnnxInitializer {
  name: string;
  dims: number[];
  /** null for types this tool does not decode (strings, complex, 4- and 8-bit floats…). */
  dtype: StorageDtype | null;
  /** Stored bytes, little-endian (typed fields converted); null when not decoded and stored inline. */
  bytes: Uint8Array | null;
  external: boolean;
}

export interface OnnxModelFile {
  /** Absolute path of the .onnx file. */
  path: string;
  /** The file as read: the writer copies every part it does not change. */
  bytes: Uint8Array;
  /** The decoded ModelProto's graph. */
  graph: onnx.IGraphProto;
  /** The graph's initializers, by name, in file order. */
  initializers: Map<string, OnnxInitializer>;
  /** Absolute paths of the external data files read. */
  externalFiles: string[];
  /** A tensor outside the graph's initializers (a node attribute, a subgraph) that keeps its data in another file. */
  externalElsewhere: string | null;
}

/** int64 fields arrive as numbers, or as Long objects when the `long` package is around. */
export type Int64 = number | { toNumber(): number; toString(): string };

export function toNumber(value: Int64 | null | undefined): number {
  return typeof value === 'number' ? value : value ? value.toNumber() : 0;
}

/** A declared tensor shape (graph input, output, value_info): sizes, null where symbolic or unknown; null without a shape. */
export function declaredDims(info: onnx.IValueInfoProto): (number | null)[] | null {
  const dims = info.type?.tensorType?.shape?.dim;
  return dims ? dims.map((d) => (toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : null)) : null;
}

function dtypeOf(dataType: number | null | undefined): StorageDtype | null {
  return DTYPES.get(dataType ?? 0) ?? null;
}

export async function readOnnxModel(file: string, reading: ModelReading = new ModelReading()): Promise<OnnxModelFile> {
  const modelPath = path.resolve(file);
  const bytes = await reading.read(file, modelPath);
  // First, so that protobufjs only decodes what onnxruntime and the writer read the same way.
  checkWireTypes(file, bytes);
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new InputError(file, `not a valid ONNX file: truncated or malformed protobuf (${(e as Error).message})`);
  }
  const graph = model.graph;
  if (!graph || (!graph.node?.length && !graph.initializer?.length)) throw new InputError(file, 'not an ONNX model: it has no graph');

  // Every initializer's shape is checked and its bytes reserved before any is decoded or read.
  const declared = (graph.initializer ?? []).map((t) => {
    const name = t.name ?? '';
    const dims = checkShape(file, name, (t.dims ?? []).map(toNumber));
    const dtype = dtypeOf(t.dataType);
    reading.reserve(file, dtype ? sizeOf(dims) * STORAGE_BYTES[dtype] : 0, `initializer ${excerpt(name)}`);
    return { t, name, dims, dtype };
  });
  const realDir = await fs.realpath(path.dirname(modelPath));
  const external = new ExternalData(file, realDir, reading);
  const initializers = new Map<string, OnnxInitializer>();
  try {
    for (const { t, name, dims, dtype } of declared) {
      if (initializers.has(name)) throw new InputError(file, `two initializers are named ${excerpt(name)}`);
      if (t.dataLocation === EXTERNAL) {
        const expected = dtype ? sizeOf(dims) * STORAGE_BYTES[dtype] : null;
        initializers.set(name, { name, dims, dtype, bytes: await external.read(t, expected), external: true });
      } else {
        initializers.set(name, { name, dims, dtype, bytes: dtype ? inlineBytes(file, t, dtype, dims) : null, external: false });
      }
    }
  } finally {
    await external.close();
  }
  return {
    path: modelPath,
    bytes,
    graph,
    initializers,
    externalFiles: external.files(),
    externalElsewhere: externalOutsideInitializers(graph, true),
  };
}

/** A tensor stored inline, as little-endian bytes of its dtype (the typed fields hold values, or float16 bits in int32_data). */
function inlineBytes(file: string, t: onnx.ITensorProto, dtype: StorageDtype, dims: number[]): Uint8Array {
  const name = t.name ?? '';
  const n = sizeOf(dims);
  const size = STORAGE_BYTES[dtype];
  const shape = `[${dims.join(', ')}]`;
  if (t.rawData?.length) {
    if (t.rawData.length !== n * size) {
      throw new InputError(file, `initializer ${excerpt(name)} has shape ${shape} (${n * size} bytes of ${dtype}) but its data holds ${t.rawData.length} bytes`);
    }
    return t.rawData;
  }
  const values: Int64[] =
    (dtype === 'float32' ? t.floatData : dtype === 'float64' ? t.doubleData : dtype === 'int64' ? t.int64Data : t.int32Data) ?? [];
  if (values.length !== n) throw new InputError(file, `initializer ${excerpt(name)} has shape ${shape} (${n} values) but its data holds ${values.length}`);
  if (dtype === 'float32' || dtype === 'float64') return encodeFloats(dtype, values as number[]);
  const bytes = new Uint8Array(n * size);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => {
    if (dtype === 'int64') view.setBigInt64(i * 8, BigInt(v.toString()), true);
    else if (size === 4) view.setInt32(i * 4, toNumber(v), true);
    else if (size === 2) view.setUint16(i * 2, toNumber(v) & 0xffff, true);
    else view.setUint8(i, toNumber(v) & 0xff);
  });
  return bytes;
}

/**
 * The values of a Constant node's tensor, or null when this tool does not read them: a type it does
 * not decode, external data, non-finite values (-inf masks), or a malformed tensor. Constants are
 * only looked at to recognise patterns, never analysed or written.
 */
export function tensorValues(file: string, t: onnx.ITensorProto): Tensor | null {
  const dtype = dtypeOf(t.dataType);
  if (!dtype || t.dataLocation === EXTERNAL) return null;
  try {
    const shape = checkShape(file, t.name ?? '', (t.dims ?? []).map(toNumber));
    return decodeTensor(file, { name: t.name ?? '', dtype, shape, bytes: inlineBytes(file, t, dtype, shape) });
  } catch (e) {
    if (e instanceof InputError) return null;
    throw e;
  }
}

/** Reads external data (`location`, `offset`, `length` entries) from files confined to the model's folder. */
class ExternalData {
  private readonly handles = new Map<string, Promise<{ handle: fs.FileHandle; size: number }>>();

  constructor(
    private readonly file: string,
    private readonly realDir: string,
    private readonly reading: ModelReading,
  ) {}

  async read(t: onnx.ITensorProto, expected: number | null): Promise<Uint8Array> {
    const name = t.name ?? '';
    const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location');
    if (!location) throw new InputError(this.file, `initializer ${excerpt(name)} is stored externally but names no location`);
    const offset = this.integer(name, entries, 'offset') ?? 0;
    const length = this.integer(name, entries, 'length') ?? expected;
    if (length === null) throw new InputError(this.file, `initializer ${excerpt(name)} has a data type this tool does not decode and no external data length`);
    // Undecoded types reserve nothing up front: their length is only known here.
    if (expected === null) this.reading.reserve(this.file, length, `initializer ${excerpt(name)}`);
    if (expected !== null && length !== expected) {
      throw new InputError(this.file, `initializer ${excerpt(name)} has shape [${(t.dims ?? []).map(toNumber).join(', ')}] (${expected} bytes) but its external data length is ${length}`);
    }
    const target = await confinedPath(this.file, this.realDir, location);
    const { handle, size } = await this.open(target, location);
    if (offset + length > size) {
      throw new InputError(this.file, `external data of initializer ${excerpt(name)} is truncated: ${excerpt(location)} holds ${size} bytes, the tensor needs ${length} from offset ${offset}`);
    }
    const bytes = new Uint8Array(length);
    const { bytesRead } = await handle.read(bytes, 0, length, offset);
    if (bytesRead !== length) throw new InputError(this.file, `external data file ${excerpt(location)} changed size while it was being read`);
    return bytes;
  }

  files(): string[] {
    return [...this.handles.keys()];
  }

  async close(): Promise<void> {
    const opened = await Promise.allSettled(this.handles.values());
    await Promise.all(opened.filter((o) => o.status === 'fulfilled').map((o) => o.value.handle.close()));
  }

  private open(target: string, location: string): Promise<{ handle: fs.FileHandle; size: number }> {
    let opened = this.handles.get(target);
    if (!opened) {
      opened = this.reading.open(this.file, target, `external data file ${excerpt(location)}`);
      this.handles.set(target, opened);
    }
    return opened;
  }

  private integer(name: string, entries: Map<string, string>, key: string): number | null {
    const value = entries.get(key);
    if (value === undefined) return null;
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new InputError(this.file, `initializer ${excerpt(name)} has an invalid external data ${key} ${excerpt(value)}`);
    }
    return Number(value);
  }
}

/** The first tensor kept in an external file that is not one of the main graph's initializers (the writer only moves those). */
function externalOutsideInitializers(graph: onnx.IGraphProto, main: boolean): string | null {
  const tensors: onnx.ITensorProto[] = [
    ...(main ? [] : graph.initializer ?? []),
    ...(graph.sparseInitializer ?? []).flatMap((s) => [s.values, s.indices].filter((t): t is onnx.ITensorProto => !!t)),
  ];
  const subgraphs: onnx.IGraphProto[] = [];
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      if (a.t) tensors.push(a.t);
      tensors.push(...(a.tensors ?? []));
      if (a.g) subgraphs.push(a.g);
      subgraphs.push(...(a.graphs ?? []));
    }
  }
  const found = tensors.find((t) => t.dataLocation === EXTERNAL);
  if (found) return found.name || '(unnamed)';
  for (const sub of subgraphs) {
    const inner = externalOutsideInitializers(sub, false);
    if (inner) return inner;
  }
  return null;
}
