/**
 * The check the reader runs on an ONNX file's bytes before decoding them: every message of
 * onnx.proto (schema.ts) walked in place, once, so that what protobufjs decodes, what onnxruntime
 * parses and what the writer scans are the same fields. Field numbers are those of onnx.proto.
 */
import { FieldAt, isInt32Varint, isPacked, LENGTH_DELIMITED, MalformedMessage, readFieldAt, VARINT } from '../../codecs/protobuf';
import { InputError } from '../../model/errors';
import { allowsWireType, FieldSpec, MessageSpec, MODEL_PROTO } from './schema';

export const MODEL_GRAPH = 7;
export const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 };
export const NODE = { attribute: 5 };

/**
 * Deepest embedded message accepted, the model being at depth 0: protobuf's default recursion
 * limit, with which onnxruntime parses (it refuses a message at depth 101).
 */
const MAX_DEPTH = 100;

const WIRE_TYPES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit', 'invalid', 'invalid'];

/** A message being walked: where it ends, and how to name it in a message. */
interface Frame {
  spec: MessageSpec;
  end: number;
  /** Its field name in its parent, with its index among the parent's values of that field when repeated. */
  label: string;
  /** Values seen so far of each repeated message field, to index the next one. */
  counts: Map<number, number> | null;
}

/**
 * Refuses a model whose bytes its readers would not read alike: a length past its message's end,
 * a group or an invalid wire type (wire types 3, 4, 6, 7 are refused in any field, known or not:
 * onnx.proto declares no group, and the writer could not copy one as a field), a known field
 * written with a wire type its declared type does not allow (protobufjs would read it by the
 * declared type, onnxruntime would set it aside as unknown), an int32 in 6 to 9 bytes (protobufjs
 * would read past it), a packed array that is no whole number of values, or messages nested
 * deeper than onnxruntime parses. Unknown fields (newer than the schema) pass with any other
 * wire type. Tags and lengths over 5 bytes are malformed (readFieldAt). Iterative and linear:
 * each byte is read once.
 */
export function checkWireTypes(file: string, model: Uint8Array): void {
  const stack: Frame[] = [{ spec: MODEL_PROTO, end: model.length, label: '', counts: null }];
  const refuse = (problem: string): InputError => new InputError(file, `not a valid ONNX file: ${problem}`);
  let pos = 0;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (pos === frame.end) {
      stack.pop();
      continue;
    }
    let f: FieldAt;
    try {
      f = readFieldAt(model, pos, frame.end);
    } catch (e) {
      if (e instanceof MalformedMessage) throw refuse(`truncated or malformed protobuf (${e.message} in ${where(stack)})`);
      throw e;
    }
    pos = f.end;
    const spec = frame.spec.fields.get(f.field);
    if (!spec) continue;
    if (!allowsWireType(spec, f.wireType)) throw refuse(`${describe(f, spec, stack)} has wire type ${f.wireType} (${WIRE_TYPES[f.wireType]}); expected ${expected(spec)}`);
    if (spec.int32 && f.wireType === VARINT && !isInt32Varint(f.end - f.bodyStart)) {
      throw refuse(`${describe(f, spec, stack)} is an int32 written in ${f.end - f.bodyStart} bytes; it takes 5 at most, or 10 when negative`);
    }
    if (f.wireType !== LENGTH_DELIMITED) continue;
    if (spec.wireType !== LENGTH_DELIMITED && !isPacked(model.subarray(f.bodyStart, f.end), spec.wireType, spec.int32)) {
      throw refuse(`${describe(f, spec, stack)} is a packed array of ${f.end - f.bodyStart} bytes that is not a whole number of ${spec.int32 ? 'int32' : WIRE_TYPES[spec.wireType]} values`);
    }
    if (!spec.message) continue;
    if (stack.length > MAX_DEPTH) throw refuse(`messages are nested more than ${MAX_DEPTH} deep in ${where(stack)}`);
    let label = spec.name;
    if (spec.repeated) {
      frame.counts ??= new Map();
      const index = frame.counts.get(f.field) ?? 0;
      frame.counts.set(f.field, index + 1);
      label += `[${index}]`;
    }
    stack.push({ spec: spec.message, end: f.end, label, counts: null });
    pos = f.bodyStart;
  }
}

function describe(f: FieldAt, spec: FieldSpec, stack: Frame[]): string {
  return `field ${f.field} (${spec.name}) of ${where(stack)}`;
}

function expected(spec: FieldSpec): string {
  const one = WIRE_TYPES[spec.wireType];
  return allowsWireType(spec, LENGTH_DELIMITED) && spec.wireType !== LENGTH_DELIMITED ? `${one}, or length-delimited when packed` : one;
}

/** The message being walked, by type and path from the model, e.g. "NodeProto at graph.node[3]"; a deep path is shortened. */
function where(stack: Frame[]): string {
  const labels = stack.slice(1).map((f) => f.label);
  const path = labels.length > 6 ? [...labels.slice(0, 2), '…', ...labels.slice(-3)] : labels;
  const type = stack[stack.length - 1].spec.name;
  return path.length ? `${type} at ${path.join('.')}` : type;
}

/** Runs a scan of `file`'s bytes, a malformed message becoming one InputError naming the file. */
export function asInputError<T>(file: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof MalformedMessage) throw new InputError(file, `not a valid ONNX file: truncated or malformed protobuf (${e.message})`);
    throw e;
  }
}
