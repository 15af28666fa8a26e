/**
 * Zip archives, as torch.save and Keras 3 `.keras` files store them. Reading: central directory
 * (zip64 included), stored and deflated entries, every offset and length checked against the file,
 * every CRC verified. Writing: stored or deflated entries, no zip64. Entry names that would climb
 * out of the archive are refused.
 */
import { deflateRawSync, inflateRawSync } from 'zlib';
import { InputError } from '../model/errors';
import { checkInflation, DEFAULT_MAX_MODEL_BYTES, formatBytes, ModelReading } from '../model/files';

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;

/** Lists the archive's entries by name. */
export function readZipDirectory(file: string, zip: Buffer): Map<string, ZipEntry> {
  const bad = (problem: string): InputError => new InputError(file, `not a readable zip archive: ${problem}`);
  const eocd = findEndOfCentralDirectory(zip);
  if (eocd < 0) throw bad('no end-of-central-directory record (the file is truncated or not a zip)');
  let count = zip.readUInt16LE(eocd + 10);
  let directorySize = zip.readUInt32LE(eocd + 12);
  let directoryOffset = zip.readUInt32LE(eocd + 16);
  if (eocd >= 20 && zip.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const record = safeNumber(zip.readBigUInt64LE(eocd - 12));
    if (record === null || record + 56 > zip.length || zip.readUInt32LE(record) !== ZIP64_EOCD) throw bad('broken zip64 end record');
    const values = [zip.readBigUInt64LE(record + 32), zip.readBigUInt64LE(record + 40), zip.readBigUInt64LE(record + 48)].map(safeNumber);
    if (values.some((v) => v === null)) throw bad('zip64 sizes out of range');
    [count, directorySize, directoryOffset] = values as number[];
  }
  if (directoryOffset + directorySize > zip.length) throw bad('the central directory lies beyond the end of the file (truncated?)');

  const entries = new Map<string, ZipEntry>();
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== CENTRAL) throw bad(`central directory entry ${i + 1} is damaged`);
    const flags = zip.readUInt16LE(at + 8);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const end = at + 46 + nameLength + extraLength + commentLength;
    if (end > zip.length) throw bad(`central directory entry ${i + 1} is damaged`);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    if (flags & 1) throw bad(`entry "${name}" is encrypted`);
    const entry: ZipEntry = {
      name,
      method: zip.readUInt16LE(at + 10),
      crc: zip.readUInt32LE(at + 16),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localHeaderOffset: zip.readUInt32LE(at + 42),
    };
    applyZip64Extra(zip.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength), entry, () => bad(`entry "${name}" has a damaged zip64 field`));
    entries.set(name, entry);
    at = end;
  }
  return entries;
}

/**
 * An entry's bytes, inflated if needed and checked against its size and CRC. Its declared size is
 * checked first (against the limit and the inflation ratio; counted in `reading` when inflated).
 */
export function readZipEntry(file: string, zip: Buffer, entry: ZipEntry, reading?: ModelReading): Buffer {
  const bad = (problem: string): InputError => new InputError(file, `zip entry "${entry.name}" ${problem}`);
  const limit = reading?.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  if (entry.size > limit) throw bad(`would inflate to ${formatBytes(entry.size)}, more than the limit of ${formatBytes(limit)}; refused`);
  if (entry.method === DEFLATED) checkInflation(file, `zip entry "${entry.name}"`, entry.compressedSize, entry.size);
  if (entry.method === DEFLATED) reading?.inflate(file, entry.size, `zip entry "${entry.name}"`);
  const local = entry.localHeaderOffset;
  if (local + 30 > zip.length || zip.readUInt32LE(local) !== LOCAL) throw bad('has no local header where the directory says (truncated or damaged file)');
  // The local header's own name and extra lengths decide where the data starts (torch pads it for alignment).
  const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
  if (start + entry.compressedSize > zip.length) throw bad('runs past the end of the file (truncated?)');
  const stored = zip.subarray(start, start + entry.compressedSize);
  let data: Buffer;
  if (entry.method === STORED) {
    if (entry.compressedSize !== entry.size) throw bad('has inconsistent sizes');
    data = stored;
  } else if (entry.method === DEFLATED) {
    try {
      data = inflateRawSync(stored, { maxOutputLength: Math.max(1, entry.size) });
    } catch (e) {
      throw bad(`cannot be inflated: ${(e as Error).message}`);
    }
  } else {
    throw bad(`uses compression method ${entry.method}; only stored and deflated entries are supported`);
  }
  if (data.length !== entry.size) throw bad(`holds ${data.length} bytes, not the ${entry.size} its directory entry says`);
  if (crc32(data) !== entry.crc) throw bad('fails its CRC check (the file is damaged)');
  return data;
}

function findEndOfCentralDirectory(zip: Buffer): number {
  // The record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
  const last = zip.length - 22;
  for (let at = last; at >= 0 && at >= last - 65535; at--) {
    if (zip.readUInt32LE(at) === EOCD && at + 22 + zip.readUInt16LE(at + 20) === zip.length) return at;
  }
  return -1;
}

/** Sizes and offsets too large for 32 bits live in the zip64 extra field (id 1), in this order. */
function applyZip64Extra(extra: Buffer, entry: ZipEntry, bad: () => InputError): void {
  const fields = (['size', 'compressedSize', 'localHeaderOffset'] as const).filter((key) => entry[key] === 0xffffffff);
  if (fields.length === 0) return;
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(at);
    const length = extra.readUInt16LE(at + 2);
    if (id === 1) {
      if (length < 8 * fields.length || at + 4 + length > extra.length) throw bad();
      fields.forEach((key, k) => {
        const value = safeNumber(extra.readBigUInt64LE(at + 4 + 8 * k));
        if (value === null) throw bad();
        entry[key] = value;
      });
      return;
    }
    at += 4 + length;
  }
  throw bad();
}

function safeNumber(value: bigint): number | null {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

// zlib.crc32 is missing from the Node that older VS Code versions ship, so the table is built here.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Refuses an archive with an entry whose name is absolute or climbs out ("../x", "a/../../x"):
 * unpacking it (as Python's tools for such formats may do) could write outside the target folder.
 */
export function refuseClimbingEntries(file: string, names: Iterable<string>): void {
  for (const name of names) {
    const segments = name.split(/[\\/]/);
    if (/^([\\/]|[a-z]:)/i.test(name) || segments.includes('..')) {
      throw new InputError(file, `zip entry "${name}" points outside the archive; refused`);
    }
  }
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflated. */
  method: 0 | 8;
}

const VERSION = 20;
/** 1980-01-01 00:00 in DOS format: the output depends on its inputs only. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
/** Names are UTF-8 (general purpose bit 11). */
const UTF8_NAMES = 0x800;

function record(size: number, signature: number): Buffer {
  const bytes = Buffer.alloc(size);
  bytes.writeUInt32LE(signature, 0);
  return bytes;
}

interface EntryFields {
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  nameLength: number;
}

/**
 * The fields a local header and its central directory record share, in the same order from `at`
 * (4 in a local header; 6 in a central record, after the version it was made by). The time stays 0.
 */
function writeEntryFields(header: Buffer, at: number, fields: EntryFields): void {
  header.writeUInt16LE(VERSION, at);
  header.writeUInt16LE(UTF8_NAMES, at + 2);
  header.writeUInt16LE(fields.method, at + 4);
  header.writeUInt16LE(DOS_DATE, at + 8);
  header.writeUInt32LE(fields.crc, at + 10);
  header.writeUInt32LE(fields.compressedSize, at + 14);
  header.writeUInt32LE(fields.size, at + 18);
  header.writeUInt16LE(fields.nameLength, at + 22);
}

/** A zip archive of the entries in order (no zip64: each entry and the whole archive stay below 4 GiB). */
export function writeZip(entries: ZipInput[]): Buffer {
  if (entries.length > 0xffff) throw new Error('too many entries for a zip archive without zip64');
  const parts: Buffer[] = [];
  const directory: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const stored = entry.method === 8 ? deflateRawSync(entry.data) : Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength);
    if (stored.length > 0xfffffffe || entry.data.length > 0xfffffffe || offset > 0xfffffffe) {
      throw new Error(`zip entry "${entry.name}" is too large for a zip archive without zip64`);
    }
    const fields: EntryFields = { method: entry.method, crc: crc32(entry.data), compressedSize: stored.length, size: entry.data.length, nameLength: name.length };
    const local = record(30, LOCAL);
    writeEntryFields(local, 4, fields);
    const central = record(46, CENTRAL);
    central.writeUInt16LE(VERSION, 4); // made by
    writeEntryFields(central, 6, fields);
    central.writeUInt32LE(offset, 42);
    parts.push(local, name, stored);
    directory.push(central, name);
    offset += local.length + name.length + stored.length;
  }
  const directoryBytes = Buffer.concat(directory);
  const end = record(22, EOCD);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directoryBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directoryBytes, end]);
}
