import { Rng } from './random';
import { hostileNameBytes } from './values';

/**
 * A protobuf message as a list of fields, nested where a length-delimited value parses completely as
 * a message itself (a guess without the schema; names that happen to parse are mutated either way).
 */
export interface Field {
  number: number;
  wire: number;
  /** varint as bigint, fixed32/64 and length-delimited as bytes */
  value: bigint | Buffer;
  children?: Field[];
}

function readVarint(data: Buffer, at: number): [bigint, number] | null {
  let result = 0n;
  for (let shift = 0n, i = at; i < data.length && shift < 70n; shift += 7n, i++) {
    result |= BigInt(data[i] & 0x7f) << shift;
    if ((data[i] & 0x80) === 0) return [result, i + 1];
  }
  return null;
}

/** The fields of a message, nested messages parsed too; null when it is not one. */
export function parseProtobuf(data: Buffer, depth = 0): Field[] | null {
  const fields: Field[] = [];
  let at = 0;
  while (at < data.length) {
    const key = readVarint(data, at);
    if (!key) return null;
    at = key[1];
    const number = Number(key[0] >> 3n);
    const wire = Number(key[0] & 7n);
    if (number === 0) return null;
    if (wire === 0) {
      const v = readVarint(data, at);
      if (!v) return null;
      fields.push({ number, wire, value: v[0] });
      at = v[1];
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      if (at + size > data.length) return null;
      fields.push({ number, wire, value: data.subarray(at, at + size) });
      at += size;
    } else if (wire === 2) {
      const len = readVarint(data, at);
      if (!len || len[1] + Number(len[0]) > data.length) return null;
      const value = data.subarray(len[1], len[1] + Number(len[0]));
      const children = depth < 12 && value.length > 1 ? parseProtobuf(value, depth + 1) : null;
      fields.push({ number, wire, value, children: children ?? undefined });
      at = len[1] + Number(len[0]);
    } else return null;
  }
  return fields;
}

function varint(value: bigint): Buffer {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? byte | 0x80 : byte);
  } while (v > 0n);
  return Buffer.from(out);
}

export function encodeProtobuf(fields: Field[]): Buffer {
  return Buffer.concat(fields.map(encodeField));
}

function encodeField(f: Field): Buffer {
  const key = varint(BigInt(f.number) << 3n | BigInt(f.wire));
  if (f.wire === 0) return Buffer.concat([key, varint(f.value as bigint)]);
  if (f.wire !== 2) return Buffer.concat([key, f.value as Buffer]);
  const body = f.children ? encodeProtobuf(f.children) : (f.value as Buffer);
  return Buffer.concat([key, varint(BigInt(body.length)), body]);
}

interface Site {
  list: Field[];
  index: number;
  path: string;
}

function sites(fields: Field[], path: string, out: Site[] = []): Site[] {
  fields.forEach((f, index) => {
    const here = `${path}/${f.number}`;
    out.push({ list: fields, index, path: here });
    if (f.children) sites(f.children, here, out);
  });
  return out;
}

const EDGE_VARINTS = [0n, 1n, 2n, 16n, 255n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n - 1n, -1n, -(2n ** 31n)];
/** ONNX TensorProto data types the readers might not handle: undefined, string, bool, float16, double, uint64, bfloat16, the float8s, int4, and none at all. */
const ONNX_DATA_TYPES = [0n, 3n, 8n, 9n, 10n, 11n, 13n, 16n, 17n, 19n, 21n, 22n, 99n];

export interface ProtobufMutation {
  data: Buffer;
  description: string;
}

/**
 * One field-level change to a protobuf message (written for ONNX): a varint set to an edge value, a
 * tensor's data_type changed, a string replaced by a hostile name, a field dropped, duplicated or
 * given the wrong wire type, or a length prefix that no longer matches its contents.
 */
export function mutateProtobuf(rng: Rng, source: Buffer): ProtobufMutation {
  const root = parseProtobuf(source);
  if (!root || root.length === 0) return { data: source, description: 'protobuf: does not parse, unchanged' };
  const all = sites(root, '');
  const site = rng.pick(all);
  const field = site.list[site.index];
  const kind = rng.weighted<string>([[4, 'value'], [2, 'delete'], [1, 'duplicate'], [1, 'wire'], [1, 'length']]);
  let description: string;
  switch (kind) {
    case 'value':
      if (field.wire === 0) {
        // field 2 of a message with field 9 or 4 beside it is most likely TensorProto.data_type
        const isDataType = field.number === 2 && site.list.some((f) => f.number === 9 || f.number === 4);
        const value = isDataType && rng.chance(0.7) ? rng.pick(ONNX_DATA_TYPES) : rng.pick(EDGE_VARINTS);
        field.value = value;
        description = `${site.path} = ${value}`;
      } else if (field.wire === 2) {
        const replacement = rng.pick<() => [Buffer, string]>([
          () => [hostileNameBytes(rng), 'a hostile name'],
          () => [(field.value as Buffer).subarray(0, rng.int((field.value as Buffer).length)), 'truncated'],
          () => [Buffer.concat([field.value as Buffer, rng.bytes(rng.pick([1, 3, 64]))]), 'extended'],
          () => [Buffer.alloc(0), 'empty'],
          () => [Buffer.from(rng.pick(['/dev/zero', '../../../../etc/passwd', '.', 'mlp-external.onnx', 'missing.data'])), 'a path'],
        ])();
        field.value = replacement[0];
        field.children = undefined;
        description = `${site.path} bytes ${replacement[1]}`;
      } else {
        const value = Buffer.alloc(field.wire === 1 ? 8 : 4, rng.pick([0x00, 0xff, 0x7f]));
        field.value = value;
        description = `${site.path} fixed = 0x${value.toString('hex')}`;
      }
      break;
    case 'delete':
      site.list.splice(site.index, 1);
      description = `delete ${site.path}`;
      break;
    case 'duplicate': {
      const copies = rng.pick([1, 1, 1000]);
      site.list.splice(site.index, 0, ...Array.from({ length: copies }, () => field));
      description = `${site.path} repeated ${copies + 1}×`;
      break;
    }
    case 'wire': {
      const wire = rng.pick([0, 1, 2, 5].filter((w) => w !== field.wire));
      const raw = field.wire === 0 ? varint(field.value as bigint) : field.wire === 2 && field.children ? encodeProtobuf(field.children) : (field.value as Buffer);
      field.wire = wire;
      field.children = undefined;
      field.value = wire === 0 ? BigInt(raw.length) : wire === 2 ? raw : Buffer.concat([raw, Buffer.alloc(8)]).subarray(0, wire === 1 ? 8 : 4);
      description = `${site.path} wire type → ${wire}`;
      break;
    }
    default: {
      // A length prefix that lies: encode, then rewrite the prefix of one length-delimited field.
      const lengthDelimited = all.filter((s) => s.list[s.index].wire === 2);
      if (lengthDelimited.length === 0) return { data: source, description: 'protobuf: no length-delimited field' };
      const target = rng.pick(lengthDelimited);
      const f = target.list[target.index];
      const body = f.children ? encodeProtobuf(f.children) : (f.value as Buffer);
      const claimed = rng.pick([body.length + 1, body.length + 1000, 2 ** 31, 2 ** 32 + body.length, Math.max(0, body.length - 1)]);
      const marker = Buffer.from('\u0000fuzz-length\u0000');
      f.children = undefined;
      f.value = marker;
      const encoded = encodeProtobuf(root);
      const pos = encoded.indexOf(marker);
      const prefix = varint(BigInt(marker.length));
      const data = Buffer.concat([encoded.subarray(0, pos - prefix.length), varint(BigInt(claimed)), body, encoded.subarray(pos + marker.length)]);
      return { data, description: `protobuf: ${target.path} length ${body.length} claimed as ${claimed}` };
    }
  }
  return { data: encodeProtobuf(root), description: `protobuf: ${description}` };
}
