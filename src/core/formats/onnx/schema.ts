/**
 * The fields of onnx.proto (ONNX 1.17, IR version 10) for every message protobufjs's onnx-proto
 * decodes, with the newer fields of those messages: number, name and declared type. The reader
 * checks each field's wire type against it (scan.ts), since protobufjs reads a known field by its
 * declared type whatever its wire type says, where onnxruntime sets such a field aside as unknown.
 * Numbers missing here (reserved, newer than this table, the multi-device configuration messages
 * that neither condense nor protobufjs reads) are unknown fields, allowed with any wire type.
 */
import { FIXED32, FIXED64, LENGTH_DELIMITED, VARINT } from '../../codecs/protobuf';

export interface FieldSpec {
  name: string;
  repeated: boolean;
  /** The wire type of one value: varint, 32- or 64-bit, or length-delimited (strings, bytes, messages). */
  wireType: number;
  /** Declared int32 or enum: a varint that protobufjs reads as 32 bits. */
  int32: boolean;
  /** The declared message type, for an embedded message. */
  message: MessageSpec | null;
}

export interface MessageSpec {
  name: string;
  fields: Map<number, FieldSpec>;
}

/** Each message's fields as onnx.proto declares them (enums written `enum`), `;`-separated. */
const ONNX_PROTO: [string, string][] = [
  ['ModelProto', `int64 ir_version = 1; repeated OperatorSetIdProto opset_import = 8; string producer_name = 2;
    string producer_version = 3; string domain = 4; int64 model_version = 5; string doc_string = 6; GraphProto graph = 7;
    repeated StringStringEntryProto metadata_props = 14; repeated TrainingInfoProto training_info = 20;
    repeated FunctionProto functions = 25`],
  ['GraphProto', `repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5;
    repeated SparseTensorProto sparse_initializer = 15; string doc_string = 10; repeated ValueInfoProto input = 11;
    repeated ValueInfoProto output = 12; repeated ValueInfoProto value_info = 13;
    repeated TensorAnnotation quantization_annotation = 14; repeated StringStringEntryProto metadata_props = 16`],
  ['NodeProto', `repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4;
    string domain = 7; string overload = 8; repeated AttributeProto attribute = 5; string doc_string = 6;
    repeated StringStringEntryProto metadata_props = 9`],
  ['AttributeProto', `string name = 1; string ref_attr_name = 21; string doc_string = 13; enum type = 20; float f = 2;
    int64 i = 3; bytes s = 4; TensorProto t = 5; GraphProto g = 6; SparseTensorProto sparse_tensor = 22; TypeProto tp = 14;
    repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9; repeated TensorProto tensors = 10;
    repeated GraphProto graphs = 11; repeated SparseTensorProto sparse_tensors = 23; repeated TypeProto type_protos = 15`],
  ['ValueInfoProto', 'string name = 1; TypeProto type = 2; string doc_string = 3; repeated StringStringEntryProto metadata_props = 4'],
  ['TensorProto', `repeated int64 dims = 1; int32 data_type = 2; TensorProto.Segment segment = 3; repeated float float_data = 4;
    repeated int32 int32_data = 5; repeated bytes string_data = 6; repeated int64 int64_data = 7; string name = 8;
    string doc_string = 12; bytes raw_data = 9; repeated StringStringEntryProto external_data = 13; enum data_location = 14;
    repeated double double_data = 10; repeated uint64 uint64_data = 11; repeated StringStringEntryProto metadata_props = 16`],
  ['TensorProto.Segment', 'int64 begin = 1; int64 end = 2'],
  ['SparseTensorProto', 'TensorProto values = 1; TensorProto indices = 2; repeated int64 dims = 3'],
  ['TensorShapeProto', 'repeated TensorShapeProto.Dimension dim = 1'],
  ['TensorShapeProto.Dimension', 'int64 dim_value = 1; string dim_param = 2; string denotation = 3'],
  ['TypeProto', `TypeProto.Tensor tensor_type = 1; TypeProto.Sequence sequence_type = 4; TypeProto.Map map_type = 5;
    TypeProto.Optional optional_type = 9; TypeProto.SparseTensor sparse_tensor_type = 8; TypeProto.Opaque opaque_type = 7;
    string denotation = 6`],
  ['TypeProto.Tensor', 'int32 elem_type = 1; TensorShapeProto shape = 2'],
  ['TypeProto.Sequence', 'TypeProto elem_type = 1'],
  ['TypeProto.Map', 'int32 key_type = 1; TypeProto value_type = 2'],
  ['TypeProto.Optional', 'TypeProto elem_type = 1'],
  ['TypeProto.SparseTensor', 'int32 elem_type = 1; TensorShapeProto shape = 2'],
  ['TypeProto.Opaque', 'string domain = 1; string name = 2'],
  ['OperatorSetIdProto', 'string domain = 1; int64 version = 2'],
  ['StringStringEntryProto', 'string key = 1; string value = 2'],
  ['TensorAnnotation', 'string tensor_name = 1; repeated StringStringEntryProto quant_parameter_tensor_names = 2'],
  ['TrainingInfoProto', `GraphProto initialization = 1; GraphProto algorithm = 2;
    repeated StringStringEntryProto initialization_binding = 3; repeated StringStringEntryProto update_binding = 4`],
  ['FunctionProto', `string name = 1; repeated string input = 4; repeated string output = 5; repeated string attribute = 6;
    repeated AttributeProto attribute_proto = 11; repeated NodeProto node = 7; string doc_string = 8;
    repeated OperatorSetIdProto opset_import = 9; string domain = 10; string overload = 13; repeated ValueInfoProto value_info = 12;
    repeated StringStringEntryProto metadata_props = 14`],
];

const SCALARS: ReadonlyMap<string, number> = new Map([
  ['int32', VARINT], ['int64', VARINT], ['uint64', VARINT], ['enum', VARINT],
  ['float', FIXED32], ['double', FIXED64], ['string', LENGTH_DELIMITED], ['bytes', LENGTH_DELIMITED],
]);
const INT32_TYPES = new Set(['int32', 'enum']);

function buildSchema(): Map<string, MessageSpec> {
  const messages = new Map(ONNX_PROTO.map(([name]) => [name, { name, fields: new Map<number, FieldSpec>() }]));
  for (const [name, declaration] of ONNX_PROTO) {
    for (const line of declaration.split(';')) {
      const parts = /^(repeated )?([\w.]+) (\w+) = (\d+)$/.exec(line.trim().replace(/\s+/g, ' '));
      if (!parts) throw new Error(`onnx schema: cannot read ${JSON.stringify(line)} in ${name}`);
      const [, repeated, type, fieldName, number] = parts;
      const message = SCALARS.has(type) ? null : messages.get(type);
      if (message === undefined) throw new Error(`onnx schema: ${name}.${fieldName} has unknown type ${type}`);
      messages.get(name)!.fields.set(Number(number), {
        name: fieldName, repeated: !!repeated, wireType: SCALARS.get(type) ?? LENGTH_DELIMITED, int32: INT32_TYPES.has(type), message,
      });
    }
  }
  return messages;
}

export const MODEL_PROTO: MessageSpec = buildSchema().get('ModelProto')!;

/** The wire types a field may be written with: packed (length-delimited) too for repeated numbers. */
export function allowsWireType(spec: FieldSpec, wireType: number): boolean {
  return wireType === spec.wireType || (spec.repeated && spec.wireType !== LENGTH_DELIMITED && wireType === LENGTH_DELIMITED);
}
