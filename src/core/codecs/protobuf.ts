/**
 * Protocol Buffers wire format without a schema: a message scanned into its fields (so a writer can
 * copy every field it does not change byte for byte, whatever schema version made the file), and
 * fields encoded from parts. Integers are exact up to 2^53, which every size and offset is.
 */

const VARINT = 0;
const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

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
  let pos = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (pos >= message.length) throw new MalformedMessage('truncated varint');
      if (shift > 63) throw new MalformedMessage('varint longer than 10 bytes');
      const byte = message[pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < message.length) {
    const start = pos;
    const tag = readVarint();
    const wireType = tag % 8;
    const field = Math.floor(tag / 8);
    let value = 0;
    let body = message.subarray(pos, pos);
    if (wireType === VARINT) value = readVarint();
    else if (wireType === FIXED64 || wireType === FIXED32) pos += wireType === FIXED64 ? 8 : 4;
    else if (wireType === LENGTH_DELIMITED) {
      const length = readVarint();
      body = message.subarray(pos, pos + length);
      pos += length;
    } else throw new MalformedMessage(`unsupported wire type ${wireType}`);
    if (pos > message.length || field === 0) throw new MalformedMessage('truncated or malformed message');
    fields.push({ field, wireType, raw: message.subarray(start, pos), value, body });
  }
  return fields;
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
