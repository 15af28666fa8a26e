/**
 * The wire-type check of ONNX reading (src/core/formats/onnx/scan.ts): a small model written by
 * hand, then the same model with one field's wire type changed (the kind of file protobufjs and
 * onnxruntime read differently), refused through the CLI with exit 2 and one line naming the field;
 * packed and unpacked repeated numbers, and unknown fields, still read.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { bytesField, concatBytes, varint, varintField, WireField, scanFields } from '../../../../../src/core/codecs/protobuf';
import { readOnnxModel } from '../../../../../src/core/formats/onnx/read';
import { assertRefused, runCli } from '../../../../helpers/cli';
import { tempDir } from '../../../../helpers/models';

const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const GROUP_START = 3;
const FIXED32 = 5;

const key = (field: number, wireType: number): Uint8Array => varint(field * 8 + wireType);
const floatField = (field: number, value: number): Uint8Array => concatBytes([key(field, FIXED32), new Uint8Array(Float32Array.of(value).buffer)]);
const packedFloats = (field: number, values: number[]): Uint8Array => bytesField(field, new Uint8Array(Float32Array.from(values).buffer));
const packedVarints = (field: number, values: number[]): Uint8Array => bytesField(field, concatBytes(values.map(varint)));

/** A ValueInfoProto (as graph field `field`) of a float tensor: a string is a symbolic size. */
function valueInfo(field: number, name: string, dims: (number | string)[], extra: Uint8Array[] = []): Uint8Array {
  const dim = (d: number | string): Uint8Array => bytesField(1, typeof d === 'number' ? varintField(1, d) : bytesField(2, d));
  return bytesField(field, bytesField(1, name), bytesField(2, bytesField(1, varintField(1, 1), bytesField(2, ...dims.map(dim)))), ...extra);
}

/**
 * y = x·Wᵀ + b as one Gemm: W [2, 3] with packed dims and float_data, b [2] with both unpacked;
 * `extra` fields are added to the graph.
 */
function gemmModel(extra: Uint8Array[] = []): Uint8Array {
  const node = bytesField(1,
    bytesField(1, 'x'), bytesField(1, 'W'), bytesField(1, 'b'), bytesField(2, 'y'), bytesField(3, 'gemm'), bytesField(4, 'Gemm'),
    bytesField(5, bytesField(1, 'alpha'), floatField(2, 1), varintField(20, 1)),
    bytesField(5, bytesField(1, 'transB'), varintField(3, 1), varintField(20, 2)));
  const weight = bytesField(5, packedVarints(1, [2, 3]), varintField(2, 1), bytesField(8, 'W'), packedFloats(4, [1, 2, 3, 4, 5, 6]));
  const bias = bytesField(5, varintField(1, 2), varintField(2, 1), bytesField(8, 'b'), floatField(4, 0.5), floatField(4, -0.5));
  const graph = bytesField(7, node, bytesField(2, 'hand'), weight, bias, valueInfo(11, 'x', ['N', 3]), valueInfo(12, 'y', ['N', 2]), ...extra);
  return concatBytes([varintField(1, 8), bytesField(8, varintField(2, 13)), bytesField(2, 'by hand'), graph]);
}

/** A field reached by [field number, occurrence] steps from the ModelProto. */
type FieldPath = [number, number][];

/** The message with the field at `at` replaced by `change(field)` (its raw bytes, tag included). */
function replaced(message: Uint8Array, at: FieldPath, change: (f: WireField) => Uint8Array): Uint8Array {
  const [[number, occurrence], ...rest] = at;
  let seen = 0;
  return concatBytes(scanFields(message).map((f) => {
    if (f.field !== number || seen++ !== occurrence) return f.raw;
    return rest.length ? bytesField(number, replaced(f.body, rest, change)) : change(f);
  }));
}

/** The field at `at` written with another wire type: its payload kept where the new type can hold it. */
function retyped(model: Uint8Array, at: FieldPath, wireType: number): Uint8Array {
  return replaced(model, at, (f) => {
    const payload = f.wireType === LENGTH_DELIMITED ? f.body : f.raw.subarray(key(f.field, f.wireType).length);
    const value = wireType === LENGTH_DELIMITED ? concatBytes([varint(payload.length), payload])
      : wireType === FIXED32 || wireType === FIXED64 ? new Uint8Array(wireType === FIXED32 ? 4 : 8)
        : varint(payload.length);
    return concatBytes([key(f.field, wireType), value]);
  });
}

const GRAPH: FieldPath = [[7, 0]];
const NODE: FieldPath = [...GRAPH, [1, 0]];
const WEIGHT: FieldPath = [...GRAPH, [5, 0]];
const BIAS: FieldPath = [...GRAPH, [5, 1]];

describe('ONNX reading checks each field\'s wire type against onnx.proto', function () {
  let root: string;
  let cases = 0;

  before(async () => {
    root = await tempDir();
  });

  async function write(bytes: Uint8Array): Promise<string> {
    const dir = path.join(root, `case${++cases}`);
    await fs.mkdir(dir);
    const file = path.join(dir, 'model.onnx');
    await fs.writeFile(file, bytes);
    return file;
  }

  /** analyze and reduce both refuse the file with the same line, and reduce writes nothing. */
  async function refused(bytes: Uint8Array, problem: RegExp): Promise<void> {
    const file = await write(bytes);
    assertRefused(await runCli('analyze', file, '--backend', 'cpu'), file, problem);
    const outputs = path.join(path.dirname(file), 'outputs');
    assertRefused(await runCli('reduce', file, '--out', path.join(outputs, 'out'), '--backend', 'cpu'), file, problem);
    await assert.rejects(fs.stat(outputs));
  }

  async function accepted(bytes: Uint8Array): Promise<string> {
    const file = await write(bytes);
    const run = await runCli('analyze', file, '--backend', 'cpu');
    assert.strictEqual(run.code, 0, run.err.join('\n'));
    return file;
  }

  it('the model written by hand reads, its packed and unpacked dims and floats alike', async () => {
    const source = await readOnnxModel(await accepted(gemmModel()));
    const values = (name: string): number[] => {
      const t = source.initializers.get(name)!;
      return [...t.dims, ...new Float32Array(Uint8Array.from(t.bytes!).buffer)];
    };
    assert.deepStrictEqual(values('W'), [2, 3, 1, 2, 3, 4, 5, 6]);
    assert.deepStrictEqual(values('b'), [2, 0.5, -0.5]);
    // The same model with W unpacked and b packed reads the same.
    const swapped = replaced(replaced(gemmModel(), WEIGHT, () => bytesField(5,
      varintField(1, 2), varintField(1, 3), varintField(2, 1), bytesField(8, 'W'), ...[1, 2, 3, 4, 5, 6].map((v) => floatField(4, v)))),
    BIAS, () => bytesField(5, packedVarints(1, [2]), varintField(2, 1), bytesField(8, 'b'), packedFloats(4, [0.5, -0.5])));
    const other = await readOnnxModel(await accepted(swapped));
    assert.deepStrictEqual([...other.initializers.values()].map((t) => [t.name, t.dims, [...new Float32Array(Uint8Array.from(t.bytes!).buffer)]]),
      [['W', [2, 3], [1, 2, 3, 4, 5, 6]], ['b', [2], [0.5, -0.5]]]);
  });

  it('unknown fields (newer than onnx.proto) read with any wire type but a group', async () => {
    const unknown = [varintField(99, 7), concatBytes([key(98, FIXED64), new Uint8Array(8)]), bytesField(97, 'later'), concatBytes([key(96, FIXED32), new Uint8Array(4)])];
    await accepted(concatBytes([replaced(gemmModel(), NODE, (f) => bytesField(1, f.body, ...unknown)), ...unknown]));
    await refused(replaced(gemmModel(), NODE, (f) => bytesField(1, f.body, key(99, GROUP_START))),
      /not a valid ONNX file: truncated or malformed protobuf \(unsupported wire type 3 in NodeProto at graph\.node\[0\]\)$/);
  });

  const wrongWireTypes: { what: string; at: FieldPath; wireType: number; problem: RegExp }[] = [
    { what: 'a node\'s attribute (a message) as a varint', at: [...NODE, [5, 0]], wireType: 0, problem: /field 5 \(attribute\) of NodeProto at graph\.node\[0\] has wire type 0 \(varint\); expected length-delimited$/ },
    { what: 'a node\'s name (a string) as a varint', at: [...NODE, [3, 0]], wireType: 0, problem: /field 3 \(name\) of NodeProto at graph\.node\[0\] has wire type 0 \(varint\); expected length-delimited$/ },
    { what: 'the model\'s graph as 64-bit', at: GRAPH, wireType: FIXED64, problem: /field 7 \(graph\) of ModelProto has wire type 1 \(64-bit\); expected length-delimited$/ },
    { what: 'the opset version (an int64) as length-delimited', at: [[8, 0], [2, 0]], wireType: LENGTH_DELIMITED, problem: /field 2 \(version\) of OperatorSetIdProto at opset_import\[0\] has wire type 2 \(length-delimited\); expected varint$/ },
    { what: 'a tensor\'s data_type (an int32) as length-delimited', at: [...WEIGHT, [2, 0]], wireType: LENGTH_DELIMITED, problem: /field 2 \(data_type\) of TensorProto at graph\.initializer\[0\] has wire type 2 \(length-delimited\); expected varint$/ },
    { what: 'an attribute\'s f (a float) as a varint', at: [...NODE, [5, 0], [2, 0]], wireType: 0, problem: /field 2 \(f\) of AttributeProto at graph\.node\[0\]\.attribute\[0\] has wire type 0 \(varint\); expected 32-bit$/ },
    { what: 'an unpacked dim of a tensor as 32-bit', at: [...BIAS, [1, 0]], wireType: FIXED32, problem: /field 1 \(dims\) of TensorProto at graph\.initializer\[1\] has wire type 5 \(32-bit\); expected varint, or length-delimited when packed$/ },
    { what: 'an unpacked float of a tensor as 64-bit', at: [...BIAS, [4, 1]], wireType: FIXED64, problem: /field 4 \(float_data\) of TensorProto at graph\.initializer\[1\] has wire type 1 \(64-bit\); expected 32-bit, or length-delimited when packed$/ },
    { what: 'a declared size as length-delimited', at: [...GRAPH, [11, 0], [2, 0], [1, 0], [2, 0], [1, 1], [1, 0]], wireType: LENGTH_DELIMITED, problem: /field 1 \(dim_value\) of TensorShapeProto\.Dimension at graph\.input\[0\]\.type\.tensor_type\.shape\.dim\[1\] has wire type 2 \(length-delimited\); expected varint$/ },
    { what: 'a graph output\'s type as a varint', at: [...GRAPH, [12, 0], [2, 0]], wireType: 0, problem: /field 2 \(type\) of ValueInfoProto at graph\.output\[0\] has wire type 0 \(varint\); expected length-delimited$/ },
  ];
  for (const { what, at, wireType, problem } of wrongWireTypes) {
    it(`${what}: exit 2, naming the field`, async () => {
      await refused(retyped(gemmModel(), at, wireType), problem);
    });
  }

  it('packed arrays that are no whole number of values', async () => {
    await refused(replaced(gemmModel(), [...WEIGHT, [4, 0]], () => bytesField(4, new Uint8Array(7))),
      /field 4 \(float_data\) of TensorProto at graph\.initializer\[0\] is a packed array of 7 bytes that is not a whole number of 32-bit values$/);
    await refused(replaced(gemmModel(), [...WEIGHT, [1, 0]], () => bytesField(1, Uint8Array.of(2, 0x83))),
      /field 1 \(dims\) of TensorProto at graph\.initializer\[0\] is a packed array of 2 bytes that is not a whole number of varint values$/);
  });

  it('varints protobufjs would read otherwise: an int32 in 6 to 9 bytes (alone or packed), a tag in more than 5 bytes or over 32 bits', async () => {
    await refused(replaced(gemmModel(), [...WEIGHT, [2, 0]], () => varintField(2, 2 ** 53)),
      /field 2 \(data_type\) of TensorProto at graph\.initializer\[0\] is an int32 written in 8 bytes; it takes 5 at most, or 10 when negative$/);
    await refused(replaced(gemmModel(), BIAS, (f) => bytesField(5, f.body, bytesField(5, varint(1), varint(2 ** 40)))),
      /field 5 \(int32_data\) of TensorProto at graph\.initializer\[1\] is a packed array of 7 bytes that is not a whole number of int32 values$/);
    const paddedTag = Uint8Array.of(0x8a, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 0x7a);
    await refused(replaced(gemmModel(), NODE, (f) => bytesField(1, f.body, paddedTag)),
      /not a valid ONNX file: truncated or malformed protobuf \(tag longer than 5 bytes in NodeProto at graph\.node\[0\]\)$/);
    // 2^32 + (field 3, length-delimited): protobufjs would read a second name.
    const wideTag = Uint8Array.of(0x9a, 0x80, 0x80, 0x80, 0x10, 1, 0x7a);
    await refused(replaced(gemmModel(), NODE, (f) => bytesField(1, f.body, wideTag)),
      /not a valid ONNX file: truncated or malformed protobuf \(field number out of range in NodeProto at graph\.node\[0\]\)$/);
  });

  it('messages nested 100 deep read (onnxruntime parses them), 101 deep are refused before any is decoded', async () => {
    /** A value_info whose type is `levels` sequences deep around a tensor, with a shape when asked. */
    const nested = (levels: number, shape: boolean): Uint8Array => {
      let type = bytesField(1, varintField(1, 1), ...(shape ? [bytesField(2)] : []));
      for (let i = 0; i < levels; i++) type = bytesField(4, bytesField(1, type));
      return bytesField(13, bytesField(1, 'deep'), bytesField(2, type));
    };
    // ModelProto → GraphProto (1) → ValueInfoProto (2) → TypeProto (3) → 48 × (Sequence, TypeProto) → Tensor (100) → shape (101).
    await accepted(gemmModel([nested(48, false)]));
    await refused(gemmModel([nested(48, true)]), /not a valid ONNX file: messages are nested more than 100 deep in TypeProto\.Tensor at graph\.value_info\[0\]\.…\.sequence_type\.elem_type\.tensor_type$/);
  });
});
