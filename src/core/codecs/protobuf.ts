/**
 * Protocol Buffers wire format without a schema: a message scanned into its fields (so a writer can
 * copy every field it does not change byte for byte, whatever schema version made the file), and
 * fields encoded from parts. Integers are exact up to 2^53, which every size and offset is.
 */

export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;

export interface WireField {
  field: number;
  wireType: number;
  /** The whole field, tag included: these bytes reproduce it unchanged. */
  raw: Uint8Array;
  /** The value of a varint field (0 for other wire types). */
  value: number;
  /** The payload of a length-delimited field (a string, bytes, an embedded message or a packed array). */
  body: Uint8Array;
}

/** A message the scanner cannot read: the file is malformed, whatever a schema-driven decoder made of it. */
export class MalformedMessage extends RangeError {}

/** The fields of one message in file order; throws MalformedMessage on a truncated or malformed message. */
export function scanFields(message: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  for (let pos = 0; pos < message.length;) {
    const f = readFieldAt(message, pos, message.length);
    fields.push({
      field: f.field,
      wireType: f.wireType,
      raw: message.subarray(pos, f.end),
      value: f.value,
      body: message.subarray(f.wireType === LENGTH_DELIMITED ? f.bodyStart : f.end, f.end),
    });
    pos = f.end;
  }
  return fields;
}

/** One field located in place: positions into the bytes it was read from. */
export interface FieldAt {
  field: number;
  wireType: number;
  /** The value of a varint field (0 for other wire types). */
  value: number;
  /** Where the value starts: the payload of a length-delimited field, after its length. */
  bodyStart: number;
  /** Where the field ends (the next one starts). */
  end: number;
}

/**
 * The field whose tag is at `pos`, which must end by `end` (the end of the message holding it), so
 * that a reader can walk embedded messages in place, each byte read once. Groups (wire types 3 and
 * 4, long deprecated) are refused as malformed: they cannot be skipped or copied as one field.
 */
export function readFieldAt(bytes: Uint8Array, pos: number, end: number): FieldAt {
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= end) throw new MalformedMessage('truncated varint');
      if (shift > 63) throw new MalformedMessage('varint longer than 10 bytes');
      const byte = bytes[pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  const tag = readVarint();
  const wireType = tag % 8;
  const field = Math.floor(tag / 8);
  let value = 0;
  if (wireType === VARINT) value = readVarint();
  else if (wireType === FIXED64 || wireType === FIXED32) pos += wireType === FIXED64 ? 8 : 4;
  else if (wireType === LENGTH_DELIMITED) {
    const length = readVarint();
    const bodyStart = pos;
    if (length > end - pos || field === 0) throw new MalformedMessage('truncated or malformed message');
    return { field, wireType, value, bodyStart, end: pos + length };
  } else throw new MalformedMessage(`unsupported wire type ${wireType}`);
  if (pos > end || field === 0) throw new MalformedMessage('truncated or malformed message');
  return { field, wireType, value, bodyStart: pos, end: pos };
}

/**
 * Whether `body` (a packed repeated field's payload) is a whole number of values of `wireType`:
 * varints of at most 10 bytes, the last one complete, or 4- or 8-byte values.
 */
export function isPacked(body: Uint8Array, wireType: number): boolean {
  if (wireType === FIXED32) return body.length % 4 === 0;
  if (wireType === FIXED64) return body.length % 8 === 0;
  if (wireType !== VARINT) return false;
  let run = 0;
  for (const byte of body) {
    run = byte < 0x80 ? 0 : run + 1;
    if (run >= 10) return false;
  }
  return run === 0;
}

/** A non-negative integer as a varint. */
function varint(value: number): Uint8Array {
  const out: number[] = [];
  for (; value > 0x7f; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  out.push(value);
  return Uint8Array.from(out);
}

export function varintField(field: number, value: number): Uint8Array {
  return concatBytes([varint(field * 8 + VARINT), varint(value)]);
}

/** A length-delimited field: a string, or the concatenated parts of bytes or an embedded message. */
export function bytesField(field: number, ...parts: (Uint8Array | string)[]): Uint8Array {
  const body = concatBytes(parts.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : p)));
  return concatBytes([varint(field * 8 + LENGTH_DELIMITED), varint(body.length), body]);
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
