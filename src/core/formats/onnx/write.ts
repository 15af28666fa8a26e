/**
 * Writes a reduced ONNX file from the original's bytes. Every field is copied byte for byte, so
 * opsets, metadata, doc strings, functions and fields newer than this tool's schema survive;
 * only these are rewritten:
 *  - the changed initializers (new dims and data, in their stored data type);
 *  - the declared shapes (graph inputs, outputs, value_info) of tensors whose channels changed;
 *  - integer attributes of nodes whose channels changed (a depthwise Conv's group);
 *  - external data: every initializer kept in another file goes to one new file next to the model.
 * Field numbers are those of onnx.proto.
 */
import { bytesField, concatBytes, LENGTH_DELIMITED, scanFields, varintField } from '../../codecs/protobuf';
import { OnnxModelFile } from './read';
import { asInputError, GRAPH, MODEL_GRAPH, NODE } from './scan';

const ATTRIBUTE = { name: 1, i: 3 };
const TENSOR = { dims: 1, name: 8, rawData: 9, externalData: 13, dataLocation: 14 };
/** float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data, external_data, data_location. */
const TENSOR_DATA = new Set([4, 5, 6, 7, 9, 10, 11, 13, 14]);
const EXTERNAL = 1;

/** New contents of an initializer, in the file's layout and stored data type. */
export interface TensorUpdate {
  dims: number[];
  bytes: Uint8Array;
}

/** New sizes for a declared shape (null: a symbolic or unknown size). */
export type ShapeEdit = (dims: (number | null)[]) => (number | null)[];

/** New values of integer attributes, by attribute name. */
export type IntAttributes = Record<string, number>;

/** `nodes`: by node index (in the graph's order), integer attributes to set. */
export function writeOnnxModel(
  source: OnnxModelFile,
  updates: Map<string, TensorUpdate>,
  shapes: Map<string, ShapeEdit>,
  dataFile: string,
  nodes: Map<number, IntAttributes> = new Map(),
): { model: Uint8Array; data: Uint8Array | null } {
  return asInputError(source.path, () => writeScanned(source, updates, shapes, dataFile, nodes));
}

function writeScanned(
  source: OnnxModelFile,
  updates: Map<string, TensorUpdate>,
  shapes: Map<string, ShapeEdit>,
  dataFile: string,
  nodes: Map<number, IntAttributes>,
): { model: Uint8Array; data: Uint8Array | null } {
  const external: Uint8Array[] = [];
  let offset = 0;
  const rewriteInitializer = (tensor: Uint8Array): Uint8Array => {
    const name = stringField(tensor, TENSOR.name);
    const update = updates.get(name);
    const original = source.initializers.get(name)!;
    if (!original.external) return update ? rewriteTensor(tensor, update.dims, [bytesField(TENSOR.rawData, update.bytes)]) : tensor;
    const bytes = update?.bytes ?? original.bytes!;
    const location = [
      entry('location', dataFile),
      entry('offset', String(offset)),
      entry('length', String(bytes.length)),
      varintField(TENSOR.dataLocation, EXTERNAL),
    ];
    external.push(bytes);
    offset += bytes.length;
    return rewriteTensor(tensor, update?.dims ?? null, location);
  };
  const rewriteValueInfo = (info: Uint8Array): Uint8Array => {
    const edit = shapes.get(stringField(info, 1));
    // ValueInfoProto.type → TypeProto.tensor_type → TypeProto.Tensor.shape
    return edit ? rewrite(info, 2, (type) => rewrite(type, 1, (tensorType) => rewrite(tensorType, 2, (shape) => editShape(shape, edit)))) : info;
  };
  let nodeIndex = 0;
  const model = rewrite(source.bytes, MODEL_GRAPH, (graph) =>
    concatBytes(scanFields(graph).map((f) => {
      if (f.field === GRAPH.node) {
        const ints = nodes.get(nodeIndex++);
        return ints ? bytesField(f.field, rewrite(f.body, NODE.attribute, (attribute) => setInt(attribute, ints))) : f.raw;
      }
      if (f.field === GRAPH.initializer) return bytesField(f.field, rewriteInitializer(f.body));
      if (f.field === GRAPH.input || f.field === GRAPH.output || f.field === GRAPH.valueInfo) return bytesField(f.field, rewriteValueInfo(f.body));
      return f.raw;
    })),
  );
  return { model, data: external.length ? concatBytes(external) : null };
}

/** A message with every occurrence of one length-delimited field replaced. */
function rewrite(message: Uint8Array, field: number, change: (body: Uint8Array) => Uint8Array): Uint8Array {
  return concatBytes(scanFields(message).map((f) => (f.field === field && f.wireType === LENGTH_DELIMITED ? bytesField(field, change(f.body)) : f.raw)));
}

/** A TensorProto with new data fields (and new dims, when given); every other field kept. */
function rewriteTensor(tensor: Uint8Array, dims: number[] | null, data: Uint8Array[]): Uint8Array {
  const kept = scanFields(tensor).filter((f) => !TENSOR_DATA.has(f.field) && !(dims && f.field === TENSOR.dims));
  return concatBytes([...(dims ?? []).map((d) => varintField(TENSOR.dims, d)), ...kept.map((f) => f.raw), ...data]);
}

/** TensorShapeProto: each Dimension's dim_value (field 1) set where the edit changes it. */
function editShape(shape: Uint8Array, edit: ShapeEdit): Uint8Array {
  const fields = scanFields(shape);
  const dims = fields.filter((f) => f.field === 1);
  const before = dims.map((d) => {
    const value = scanFields(d.body).find((f) => f.field === 1);
    return value ? value.value : null;
  });
  const after = edit(before);
  return concatBytes(fields.map((f) => {
    const i = dims.indexOf(f);
    if (i < 0 || after[i] === before[i] || after[i] === null) return f.raw;
    const rest = scanFields(f.body).filter((g) => g.field !== 1 && g.field !== 2).map((g) => g.raw);
    return bytesField(1, varintField(1, after[i]), ...rest);
  }));
}

/** An AttributeProto with its integer value replaced when `ints` names it; every other field kept. */
function setInt(attribute: Uint8Array, ints: IntAttributes): Uint8Array {
  const value = ints[stringField(attribute, ATTRIBUTE.name)];
  if (value === undefined) return attribute;
  return concatBytes([...scanFields(attribute).filter((f) => f.field !== ATTRIBUTE.i).map((f) => f.raw), varintField(ATTRIBUTE.i, value)]);
}

function entry(key: string, value: string): Uint8Array {
  return bytesField(TENSOR.externalData, bytesField(1, key), bytesField(2, value));
}

function stringField(message: Uint8Array, field: number): string {
  const found = scanFields(message).find((f) => f.field === field && f.wireType === LENGTH_DELIMITED);
  return found ? new TextDecoder().decode(found.body) : '';
}
