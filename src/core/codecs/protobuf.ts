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
  /** Where the value starts: after the tag, and after the length of a length-delimited field. */
  bodyStart: number;
  /** Where the field ends (the next one starts). */
  end: number;
}

/** The most bytes of a varint holding 32 bits (a tag, a length), and of one holding 64. */
const VARINT32_BYTES = 5;
const VARINT64_BYTES = 10;
/** The largest field number: a tag over 32 bits is read modulo 2^32 by protobufjs. */
const MAX_FIELD = 2 ** 29 - 1;

/**
 * The field whose tag is at `pos`, which must end by `end` (the end of the message holding it), so
 * that a reader can walk embedded messages in place, each byte read once. Tags and lengths longer
 * than 5 bytes are malformed (protobuf's C++ parser stops there; protobufjs would skip to a 10th
 * byte), and so are groups (wire types 3 and 4, long deprecated: they cannot be skipped or copied
 * as one field).
 */
export function readFieldAt(bytes: Uint8Array, pos: number, end: number): FieldAt {
  const tagEnd = varintEnd(bytes, pos, end, VARINT32_BYTES, 'tag');
  const tag = varintValue(bytes, pos, tagEnd);
  const wireType = tag % 8;
  const field = Math.floor(tag / 8);
  if (field === 0) throw new MalformedMessage('truncated or malformed message');
  if (field > MAX_FIELD) throw new MalformedMessage('field number out of range');
  if (wireType === VARINT) {
    const valueEnd = varintEnd(bytes, tagEnd, end, VARINT64_BYTES, 'varint');
    return { field, wireType, value: varintValue(bytes, tagEnd, valueEnd), bodyStart: tagEnd, end: valueEnd };
  }
  if (wireType === FIXED64 || wireType === FIXED32) {
    const valueEnd = tagEnd + (wireType === FIXED64 ? 8 : 4);
    if (valueEnd > end) throw new MalformedMessage('truncated or malformed message');
    return { field, wireType, value: 0, bodyStart: tagEnd, end: valueEnd };
  }
  if (wireType !== LENGTH_DELIMITED) throw new MalformedMessage(`unsupported wire type ${wireType}`);
  const bodyStart = varintEnd(bytes, tagEnd, end, VARINT32_BYTES, 'length');
  const length = varintValue(bytes, tagEnd, bodyStart);
  if (length > end - bodyStart) throw new MalformedMessage('truncated or malformed message');
  return { field, wireType, value: 0, bodyStart, end: bodyStart + length };
}

/** Where the varint at `pos` ends; throws MalformedMessage when it passes `end` or `maxBytes`. */
function varintEnd(bytes: Uint8Array, pos: number, end: number, maxBytes: number, what: string): number {
  for (let i = 0; ; i++) {
    if (pos + i >= end) throw new MalformedMessage(`truncated ${what}`);
    if (i >= maxBytes) throw new MalformedMessage(`${what} longer than ${maxBytes} bytes`);
    if (bytes[pos + i] < 0x80) return pos + i + 1;
  }
}

/** The value of the varint in bytes[start, stop), exact up to 2^53. */
function varintValue(bytes: Uint8Array, start: number, stop: number): number {
  let value = 0;
  for (let i = start; i < stop; i++) value += (bytes[i] & 0x7f) * 2 ** (7 * (i - start));
  return value;
}

/**
 * Whether a varint of `length` bytes is read alike as an int32 by protobufjs and protobuf's C++
 * parser: 5 bytes at most, or 10 (a negative number). From a 5th byte with its high bit set,
 * protobufjs skips to the 10th, whatever the bytes in between.
 */
export function isInt32Varint(length: number): boolean {
  return length <= VARINT32_BYTES || length === VARINT64_BYTES;
}

/**
 * Whether `body` (a packed repeated field's payload) is a whole number of values of `wireType`:
 * 4- or 8-byte values, or varints of at most 10 bytes (of 5 or 10 with `int32`), the last complete.
 */
export function isPacked(body: Uint8Array, wireType: number, int32 = false): boolean {
  if (wireType === FIXED32) return body.length % 4 === 0;
  if (wireType === FIXED64) return body.length % 8 === 0;
  if (wireType !== VARINT) return false;
  let length = 0;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    length++;
    if (length > VARINT64_BYTES) return false;
    if (byte >= 0x80) continue;
    if (int32 && !isInt32Varint(length)) return false;
    length = 0;
  }
  return length === 0;
}

/** A non-negative integer as a varint. */
export function varint(value: number): Uint8Array {
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
