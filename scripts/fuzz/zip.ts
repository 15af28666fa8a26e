import * as zlib from 'zlib';
import { Rng } from './random';
import { EDGE_INTEGERS, hostileNameBytes } from './values';

export interface ZipEntry {
  name: Buffer;
  data: Buffer;
}

interface CentralRecord {
  /** offset of the central directory record */
  at: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function findEocd(zip: Buffer): number {
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) if (zip.readUInt32LE(i) === EOCD) return i;
  return -1;
}

function centralRecords(zip: Buffer): CentralRecord[] | null {
  const eocd = findEocd(zip);
  if (eocd < 0) return null;
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const records: CentralRecord[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== CENTRAL) return null;
    records.push({ at, localOffset: zip.readUInt32LE(at + 42) });
    at += 46 + zip.readUInt16LE(at + 28) + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return records;
}

/** The entries of a well-formed archive (stored or deflated), in order; null when it is not one. */
export function readZip(zip: Buffer): ZipEntry[] | null {
  try {
    return entriesOf(zip);
  } catch {
    return null; // an archive an earlier mutation broke
  }
}

function entriesOf(zip: Buffer): ZipEntry[] | null {
  const records = centralRecords(zip);
  if (!records) return null;
  const entries: ZipEntry[] = [];
  for (const r of records) {
    const method = zip.readUInt16LE(r.at + 10);
    const compressed = zip.readUInt32LE(r.at + 20);
    const name = Buffer.from(zip.subarray(r.at + 46, r.at + 46 + zip.readUInt16LE(r.at + 28)));
    const local = r.localOffset;
    if (zip.readUInt32LE(local) !== LOCAL) return null;
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressed);
    entries.push({ name, data: method === 8 ? zlib.inflateRawSync(raw) : Buffer.from(raw) });
  }
  return entries;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A stored (uncompressed) archive of `entries`, with correct sizes and CRCs. */
export function writeZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    // A name longer than the 16-bit length field allows is cut to fit.
    const e = { name: entry.name.subarray(0, 0xffff), data: entry.data };
    const crc = crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(e.name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(CENTRAL, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.data.length, 24);
    central.writeUInt16LE(e.name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, e.name, e.data);
    centrals.push(central, e.name);
    offset += 30 + e.name.length + e.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export interface ZipMutation {
  data: Buffer;
  description: string;
}

/** Header fields worth lying in: [where, offset, size in bytes]. */
const LOCAL_FIELDS: [string, number, number][] = [['method', 8, 2], ['flags', 6, 2], ['crc', 14, 4], ['compressed size', 18, 4], ['size', 22, 4], ['name length', 26, 2], ['extra length', 28, 2]];
const CENTRAL_FIELDS: [string, number, number][] = [['method', 10, 2], ['crc', 16, 4], ['compressed size', 20, 4], ['size', 24, 4], ['name length', 28, 2], ['extra length', 30, 2], ['local offset', 42, 4]];
const EOCD_FIELDS: [string, number, number][] = [['entries on disk', 8, 2], ['entries', 10, 2], ['directory size', 12, 4], ['directory offset', 16, 4], ['comment length', 20, 2]];

/**
 * One change to an archive's structure (its entries kept as they are): a size, offset, count, CRC,
 * method or name length in a local header, the central directory or its end record set to a wrong
 * or extreme value (0xffffffff among them, which means ZIP64).
 */
export function mutateZipHeaders(rng: Rng, source: Buffer): ZipMutation {
  const data = Buffer.from(source);
  const records = readZip(data) ? centralRecords(data) : null;
  const eocd = findEocd(data);
  if (!records || eocd < 0 || records.length === 0) return { data, description: 'zip: not an archive, unchanged' };
  const where = rng.weighted<'local' | 'central' | 'end'>([[3, 'local'], [3, 'central'], [1, 'end']]);
  const record = rng.pick(records);
  const [name, offset, size] = rng.pick(where === 'local' ? LOCAL_FIELDS : where === 'central' ? CENTRAL_FIELDS : EOCD_FIELDS);
  const base = where === 'local' ? record.localOffset : where === 'central' ? record.at : eocd;
  const max = size === 2 ? 0xffff : 0xffffffff;
  const old = size === 2 ? data.readUInt16LE(base + offset) : data.readUInt32LE(base + offset);
  const value = rng.pick([0, 1, max, old + 1, Math.max(0, old - 1), old * 2, ...EDGE_INTEGERS.filter((v) => v >= 0 && v <= max)]) % (max + 1);
  if (size === 2) data.writeUInt16LE(value, base + offset);
  else data.writeUInt32LE(value >>> 0, base + offset);
  const entryName = where === 'end' ? 'end record' : data.subarray(record.at + 46, record.at + 46 + source.readUInt16LE(record.at + 28)).toString('latin1');
  return { data, description: `zip: ${where} ${name} of ${entryName} ${old} → ${value}` };
}

/** One change to an archive's list of entries: one dropped, duplicated, renamed or emptied. */
export function mutateZipEntries(rng: Rng, entries: ZipEntry[]): { entries: ZipEntry[]; description: string } {
  const out = entries.map((e) => ({ ...e }));
  const i = rng.int(out.length);
  const name = out[i].name.toString('latin1');
  switch (rng.int(5)) {
    case 0:
      out.splice(i, 1);
      return { entries: out, description: `zip: entry ${name} removed` };
    case 1:
      out.push({ name: out[i].name, data: Buffer.from(rng.bytes(16)) });
      return { entries: out, description: `zip: entry ${name} appears twice, the second random` };
    case 2: {
      const renamed = rng.pick([Buffer.from(`../${name}`), Buffer.from(`/${name}`), Buffer.concat([Buffer.from(name.replace(/[^/]*$/, '')), hostileNameBytes(rng)])]);
      out[i].name = renamed;
      return { entries: out, description: `zip: entry ${name} renamed to ${JSON.stringify(renamed.toString('latin1').slice(0, 50))}` };
    }
    case 3:
      out[i].data = Buffer.alloc(0);
      return { entries: out, description: `zip: entry ${name} emptied` };
    default:
      out.splice(i, 0, ...Array.from({ length: 3000 }, (_, k) => ({ name: Buffer.from(`filler/${k}`), data: Buffer.alloc(0) })));
      return { entries: out, description: `zip: 3000 empty entries before ${name}` };
  }
}
