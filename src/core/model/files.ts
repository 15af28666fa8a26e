import { constants, promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from './errors';
import { excerpt } from '../codecs/json';

/**
 * The default limit on one model, applied to the bytes its tensors declare (all together), to the
 * bytes of its files, and to what its compressed parts inflate to: each is checked against it before
 * anything is allocated for it.
 */
export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3;

/** Data files (calibration and validation inputs) are refused above this size. */
export const MAX_DATA_FILE_BYTES = 2 * 1024 ** 3;

/**
 * Deflate reaches about 1032:1 at best and stored weights compress far less: data declaring more
 * than this many times the bytes that hold it (beyond a megabyte, where zeros may) is a bomb.
 */
const MAX_INFLATION_RATIO = 100;
const RATIO_FREE_BYTES = 1 << 20;

/** Refuses `what`, held in `stored` bytes of `file`, when it declares `declared` bytes past the inflation ratio. */
export function checkInflation(file: string, what: string, stored: number, declared: number): void {
  if (declared > RATIO_FREE_BYTES && declared > MAX_INFLATION_RATIO * stored) {
    throw new InputError(file, `${what} would inflate ${formatBytes(stored)} to ${formatBytes(declared)} (more than ${MAX_INFLATION_RATIO}:1); refused as a compression bomb`);
  }
}

/** A file as it was when it was read: a later change to any of these makes an analysis stale. */
export interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024 ** 2) return `${bytes} bytes`;
  return bytes < 1024 ** 3 ? `${(bytes / 1024 ** 2).toFixed(1)} MiB` : `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

/**
 * What reading one model shares: its byte limit (tensor sizes declared in headers are reserved
 * against it before anything is allocated for them; files and inflated parts are counted apart) and
 * the stamp of every file, taken before the file is read, so that a change during or after reading
 * is noticed.
 */
export class ModelReading {
  private reserved = 0;
  private fileBytes = 0;
  private inflatedBytes = 0;
  private readonly stamps = new Map<string, FileStamp>();

  constructor(readonly maxBytes: number = DEFAULT_MAX_MODEL_BYTES) {
    if (!(maxBytes > 0)) throw new Error(`the model byte limit must be positive, got ${maxBytes}`);
  }

  /** Counts `bytes` that `file` declares for `what` against the budget; refuses past it. */
  reserve(file: string, bytes: number, what: string): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InputError(file, `${what} declares an invalid size (${bytes} bytes)`);
    if (this.reserved + bytes > this.maxBytes) {
      throw new InputError(file, `${what} would take ${formatBytes(bytes)} more, past the limit of ${formatBytes(this.maxBytes)} for the whole model; refused before reading it (raise the limit with --max-model-mb if the model is really this large)`);
    }
    this.reserved += bytes;
  }

  /** Counts the bytes a compressed part of `file` declares it inflates to (kept apart from the tensors it holds). */
  inflate(file: string, bytes: number, what: string): void {
    if (this.inflatedBytes + bytes > this.maxBytes) {
      throw new InputError(file, `${what} inflates to ${formatBytes(bytes)}, which takes the model past the limit of ${formatBytes(this.maxBytes)}; refused before inflating it`);
    }
    this.inflatedBytes += bytes;
  }

  /** A file of the model (the model file itself, a shard, external data): checked and stamped, then read whole. */
  async read(file: string, target: string = file, what = 'the file'): Promise<Buffer> {
    const opened = await this.open(file, target, what);
    try {
      return await readExactly(file, opened.handle, opened.size, what);
    } finally {
      await opened.handle.close();
    }
  }

  /** Opens a file of the model for reading parts of it; the caller closes the handle. */
  async open(file: string, target: string, what: string): Promise<{ handle: fs.FileHandle; size: number }> {
    const absolute = path.resolve(target);
    const opened = await openRegularFile(file, absolute, what, this.maxBytes);
    try {
      this.record(file, stampOf(absolute, opened.stat), what);
    } catch (e) {
      await opened.handle.close();
      throw e;
    }
    return { handle: opened.handle, size: opened.stat.size };
  }

  /** A file of the model's size, checked (a regular file within the limit) and stamped without reading it. */
  async size(file: string, target: string, what: string): Promise<number> {
    const absolute = path.resolve(target);
    let stat;
    try {
      stat = await fs.stat(absolute);
    } catch (e) {
      throw unreadable(file, absolute, what, e);
    }
    checkRegular(file, stat, what, this.maxBytes);
    this.record(file, stampOf(absolute, stat), what);
    return stat.size;
  }

  /** Keeps the first stamp of each file (counting its bytes once); a file seen again must not have changed. */
  private record(file: string, stamp: FileStamp, what: string): void {
    const known = this.stamps.get(stamp.path);
    if (known) {
      if (known.size !== stamp.size || known.mtimeMs !== stamp.mtimeMs || known.ino !== stamp.ino) {
        throw new InputError(file, `${what} changed while the model was being read; open it again`);
      }
      return;
    }
    if (this.fileBytes + stamp.size > this.maxBytes) {
      throw new InputError(file, `the model's files hold more than the limit of ${formatBytes(this.maxBytes)}; refused (raise the limit with --max-model-mb)`);
    }
    this.fileBytes += stamp.size;
    this.stamps.set(stamp.path, stamp);
  }

  /** Every file read so far, as it was before it was read. */
  fingerprint(): FileStamp[] {
    return [...this.stamps.values()].map((s) => ({ ...s }));
  }

  /** Refuses when any file read changed (or vanished) since it was stamped. */
  async checkUnchanged(file: string): Promise<void> {
    for (const before of this.stamps.values()) {
      const now = await fs.stat(before.path).then((s) => stampOf(before.path, s), () => null);
      if (!now || now.size !== before.size || now.mtimeMs !== before.mtimeMs || now.ino !== before.ino) {
        const which = path.resolve(file) === before.path ? 'the model file' : excerpt(path.basename(before.path));
        throw new InputError(file, `${which} changed while the model was being read or analysed; open it again`);
      }
    }
  }
}

function stampOf(target: string, stat: { size: number; mtimeMs: number; ino: number }): FileStamp {
  return { path: target, size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino };
}

/**
 * Opens `target` for reading only if it is a regular file (through symlinks) of at most `maxBytes`:
 * a device (/dev/zero) or a pipe would be read forever. Checked before opening, since opening a pipe
 * blocks, and again on the open handle, in case the path was swapped in between.
 */
async function openRegularFile(
  file: string,
  target: string,
  what: string,
  maxBytes: number,
): Promise<{ handle: fs.FileHandle; stat: import('fs').Stats }> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch (e) {
    throw unreadable(file, target, what, e);
  }
  checkRegular(file, stat, what, maxBytes);
  let handle: fs.FileHandle;
  try {
    // Non-blocking, where the platform has it, in case a pipe was swapped in after the check.
    handle = await fs.open(target, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw unreadable(file, target, what, e);
  }
  const opened = await handle.stat();
  if (opened.ino !== stat.ino || opened.dev !== stat.dev) {
    await handle.close();
    throw new InputError(file, `${what} was replaced while it was being opened; refused`);
  }
  return { handle, stat: opened };
}

function unreadable(file: string, target: string, what: string, e: unknown): InputError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' && path.resolve(file) !== target) return new InputError(file, `${what} is missing (looked for ${target})`);
  return new InputError(file, `cannot read ${what} (${code ?? String(e)})`);
}

function checkRegular(file: string, stat: import('fs').Stats, what: string, maxBytes: number): void {
  if (!stat.isFile()) {
    const kind = stat.isDirectory() ? 'a folder' : stat.isFIFO() ? 'a pipe' : stat.isSocket() ? 'a socket' : 'a device';
    throw new InputError(file, `${what} is ${kind}, not a regular file; refused`);
  }
  if (stat.size > maxBytes) {
    throw new InputError(file, `${what} is ${formatBytes(stat.size)}, more than the limit of ${formatBytes(maxBytes)}; refused (raise the limit with --max-model-mb)`);
  }
}

/** Reads exactly `size` bytes; a file that turns out shorter or longer changed while it was read. */
async function readExactly(file: string, handle: fs.FileHandle, size: number, what: string): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const { bytesRead } = await handle.read(bytes, at, size - at, at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  const extra = await handle.read(Buffer.alloc(1), 0, 1, size);
  if (at !== size || extra.bytesRead !== 0) throw new InputError(file, `${what} changed size while it was being read`);
  return bytes;
}

/**
 * Reads a file the user named (a data file, a model file outside a model reading) if it is a
 * regular file of at most `maxBytes`; failures become an InputError naming it.
 */
export async function readRegularFile(file: string, maxBytes: number, what = 'the file'): Promise<Buffer> {
  const { handle, stat } = await openRegularFile(file, path.resolve(file), what, maxBytes);
  try {
    return await readExactly(file, handle, stat.size, what);
  } finally {
    await handle.close();
  }
}

/**
 * Resolves a path a model file names for its weights (a TF.js shard, ONNX external data) inside the
 * model's folder (`realDir`, already resolved through symlinks); anything that climbs out is refused.
 */
export async function confinedPath(file: string, realDir: string, rel: string): Promise<string> {
  if (path.isAbsolute(rel) || /^[a-z][a-z0-9+.-]*:\/\//i.test(rel)) {
    throw new InputError(file, `weight path ${excerpt(rel)} is not a relative path inside the model's folder`);
  }
  const resolved = path.resolve(realDir, rel);
  let real = resolved;
  try {
    real = await fs.realpath(resolved);
  } catch {
    // A missing file is reported by the caller; the lexical check below still applies.
  }
  for (const candidate of [resolved, real]) {
    if (!isInside(realDir, candidate)) {
      throw new InputError(file, `weight path ${excerpt(rel)} climbs out of the model's folder; refused`);
    }
  }
  return resolved;
}

/** True when `candidate` is `dir` or lies below it ("..w.bin" in `dir` is inside; "../w.bin" is not). */
export function isInside(dir: string, candidate: string): boolean {
  const relative = path.relative(dir, candidate);
  return !(relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative));
}
