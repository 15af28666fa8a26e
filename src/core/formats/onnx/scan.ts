/**
 * Which embedded messages of an ONNX file the writer scans field by field, and the check that the
 * reader runs so that a file the writer could not scan is refused on opening. Field numbers are those
 * of onnx.proto.
 */
import { LENGTH_DELIMITED, MalformedMessage, scanFields } from '../../codecs/protobuf';
import { InputError } from '../../model/errors';

export const MODEL_GRAPH = 7;
export const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 };
export const NODE = { attribute: 5 };

/** Embedded messages to scan, by field number, each with its own embedded messages to scan. */
type ScannedFields = Map<number, ScannedFields>;
/** A message whose fields the writer does not scan further. */
const LEAF: ScannedFields = new Map();
/** Value info → type → tensor_type → shape → dim. */
const VALUE_INFO_SCANNED: ScannedFields = new Map([[2, new Map([[1, new Map([[2, new Map([[1, LEAF]])]])]])]]);
/** The embedded messages the writer scans, by field number, from the ModelProto down. */
const SCANNED: ScannedFields = new Map([[MODEL_GRAPH, new Map<number, ScannedFields>([
  [GRAPH.node, new Map([[NODE.attribute, LEAF]])],
  [GRAPH.initializer, LEAF],
  [GRAPH.input, VALUE_INFO_SCANNED],
  [GRAPH.output, VALUE_INFO_SCANNED],
  [GRAPH.valueInfo, VALUE_INFO_SCANNED],
])]]);

/**
 * Refuses a model the writer could not scan (a length past the end, a bad wire type), checked when
 * reading: the schema-driven decoder accepts some of these (it reads lengths as 32 bits), and analyze
 * must not accept what reduce then fails on.
 */
export function checkScannable(file: string, model: Uint8Array): void {
  const check = (message: Uint8Array, scanned: ScannedFields): void => {
    for (const f of scanFields(message)) {
      const inner = f.wireType === LENGTH_DELIMITED ? scanned.get(f.field) : undefined;
      if (inner) check(f.body, inner);
    }
  };
  asInputError(file, () => check(model, SCANNED));
}

/** Runs a scan of `file`'s bytes, a malformed message becoming one InputError naming the file. */
export function asInputError<T>(file: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof MalformedMessage) throw new InputError(file, `not a valid ONNX file: malformed protobuf (${e.message})`);
    throw e;
  }
}
