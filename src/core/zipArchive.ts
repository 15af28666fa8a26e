/**
 * What formats stored as zip archives share beyond reading (src/core/torch/zip.ts reads): entry
 * names that must stay inside the archive, and writing an archive of stored or deflated entries.
 */
import { deflateRawSync } from 'zlib';
import { InputError } from './errors';
import { crc32 } from './torch/zip';

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

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const EOCD = 0x06054b50;
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
    const crc = crc32(entry.data);
    const local = record(30, LOCAL);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(UTF8_NAMES, 6);
    local.writeUInt16LE(entry.method, 8);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(entry.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = record(46, CENTRAL);
    central.writeUInt16LE(VERSION, 4);
    central.writeUInt16LE(VERSION, 6);
    central.writeUInt16LE(UTF8_NAMES, 8);
    central.writeUInt16LE(entry.method, 10);
    central.writeUInt16LE(DOS_DATE, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(entry.data.length, 24);
    central.writeUInt16LE(name.length, 28);
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
