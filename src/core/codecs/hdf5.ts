/**
 * HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly, loaded on first use): read a
 * file's groups, attributes and datasets, and write a copy of a file with some datasets and
 * attributes replaced, every other group, attribute and dataset mirrored with its type and shape.
 */
import type * as H5 from 'h5wasm';
import { InputError } from '../model/errors';

type H5wasm = typeof H5;
export type Hdf5Group = H5.Group;
export type Hdf5Dataset = H5.Dataset;

let loading: Promise<H5wasm> | undefined;

function h5wasm(): Promise<H5wasm> {
  loading ??= (async () => {
    // The ESM build embeds its wasm and does not need import.meta, so esbuild bundles it into our CommonJS bundles.
    const h5 = await import('h5wasm');
    const module = await h5.ready;
    // HDF5 errors become thrown JavaScript errors instead of HDF5-DIAG lines printed on stderr.
    module.activate_throwing_error_handler();
    return h5;
  })();
  return loading;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** The HDF5 signature sits at offset 0, or at 512, 1024, 2048, … after a user block. */
export function isHdf5(bytes: Uint8Array): boolean {
  for (let at = 0; at + SIGNATURE.length <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (SIGNATURE.every((b, i) => bytes[at + i] === b)) return true;
  }
  return false;
}

let fileCounter = 0;

/** A fresh name in h5wasm's in-memory file system. */
function memoryName(): string {
  return `/condense-${++fileCounter}.h5`;
}

/** The innermost HDF5 error message (e.g. "truncated file: eof = …"), or the error itself. */
function hdf5Problem(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const messages = [...text.matchAll(/^\s*#\d+:.*? in [\w.]+\(\): (.+)$/gm)].map((m) => m[1].trim());
  return messages.length ? messages[messages.length - 1] : text.split('\n')[0];
}

/** HDF5 reading and writing, synchronous once h5wasm is loaded. */
export interface Hdf5 {
  /** Opens an HDF5 file's bytes and calls `read` on its root group; a truncated or damaged file is an InputError naming `file`. */
  read<T>(file: string, bytes: Uint8Array, read: (root: H5.Group) => T): T;
  /**
   * A new HDF5 file with the original's groups, attributes and datasets, names, types and shapes,
   * except where `edits` say otherwise. h5wasm cannot choose a string's padding, so fixed-length
   * strings are written null-terminated and variable-length UTF-8 ones space-padded (h5py writes
   * both null-padded): HDF5 readers, h5py among them, return the same values.
   */
  rewrite(file: string, bytes: Uint8Array, edits: Hdf5Edits): Uint8Array;
  isGroup(entity: unknown): entity is H5.Group;
  isDataset(entity: unknown): entity is H5.Dataset;
  /**
   * The bytes every dataset under `root` declares (elements × element size), from the headers only:
   * what reading or copying them would allocate. Refuses a tree deeper than any model's (a hard link
   * to an ancestor makes it endless) or with more objects than any model has. Groups in `omit`
   * (never read nor copied) are left out.
   */
  declaredBytes(file: string, root: H5.Group, omit: ReadonlySet<string>): number;
}

const MAX_DEPTH = 64;
const MAX_OBJECTS = 1_000_000;

export async function loadHdf5(): Promise<Hdf5> {
  const h5 = await h5wasm();
  const read = <T>(file: string, bytes: Uint8Array, use: (root: H5.Group) => T): T => {
    if (!isHdf5(bytes)) throw new InputError(file, 'not an HDF5 file (no HDF5 signature)');
    const name = memoryName();
    h5.FS!.writeFile(name, bytes);
    let root: H5.File | undefined;
    try {
      root = new h5.File(name, 'r');
      return use(root);
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(file, `cannot be read as HDF5 (truncated or damaged?): ${hdf5Problem(e)}`);
    } finally {
      root?.close();
      h5.FS!.unlink(name);
    }
  };
  return {
    read,
    rewrite: (file, bytes, edits) =>
      read(file, bytes, (source) => {
        const name = memoryName();
        try {
          // h5py's default: the earliest format versions (superblock 0); capped at HDF5 1.8's, so the
          // libraries of the Keras 2.0 era read the file.
          const target = new h5.File(name, 'w', { libver: ['earliest', 'v108'] });
          try {
            copyGroup(h5, source, target, edits);
          } finally {
            target.close();
          }
          return h5.FS!.readFile(name);
        } catch (e) {
          if (e instanceof InputError) throw e;
          throw new InputError(file, `cannot write a reduced copy: ${hdf5Problem(e)}`);
        } finally {
          if (h5.FS!.analyzePath(name).exists) h5.FS!.unlink(name);
        }
      }),
    isGroup: (entity): entity is H5.Group => entity instanceof h5.Group,
    isDataset: (entity): entity is H5.Dataset => entity instanceof h5.Dataset,
    declaredBytes: (file, root, omit) => {
      let objects = 0;
      const walk = (group: H5.Group, depth: number): number => {
        if (depth > MAX_DEPTH) throw new InputError(file, `groups nest deeper than ${MAX_DEPTH} levels at ${group.path} (a link back to a parent?); refused`);
        let bytes = 0;
        for (const name of group.keys()) {
          if (++objects > MAX_OBJECTS) throw new InputError(file, `holds more than ${MAX_OBJECTS} groups and datasets; refused`);
          const child = group.get(name);
          if (child instanceof h5.Group) bytes += omit.has(child.path) ? 0 : walk(child, depth + 1);
          else if (child instanceof h5.Dataset) bytes += child.metadata.total_size * child.metadata.size;
        }
        return bytes;
      };
      return walk(root, 0);
    },
  };
}

/** A dataset's new contents, stored in the original dataset's type. */
export interface DatasetValues {
  shape: number[];
  data: Float32Array | Int32Array;
}

interface Hdf5Edits {
  /** New contents by dataset path ("/model_weights/dense_1/dense_1/kernel:0"). */
  datasets: Map<string, DatasetValues>;
  /** New string values by object path, then attribute name. */
  attributes: Map<string, Map<string, string>>;
  /** Groups and datasets left out of the copy, by path. */
  omit: ReadonlySet<string>;
}

function copyGroup(h5: H5wasm, source: H5.Group, target: H5.Group, edits: Hdf5Edits): void {
  copyAttributes(source, target, edits.attributes.get(source.path));
  for (const name of source.keys()) {
    const child = source.get(name);
    if (child instanceof h5.Group) {
      if (!edits.omit.has(child.path)) copyGroup(h5, child, target.create_group(name), edits);
    } else if (child instanceof h5.Dataset) {
      if (edits.omit.has(child.path)) continue;
      const replacement = edits.datasets.get(child.path);
      const dtype = littleEndian(child.dtype);
      const copy = replacement
        ? target.create_dataset({ name, data: typedAs(dtype, replacement.data), shape: replacement.shape, dtype })
        : target.create_dataset({ name, data: valueOf(child.value, dtype), shape: child.shape ?? [], dtype });
      copyAttributes(child, copy, edits.attributes.get(child.path));
    } else {
      throw new Error(`"${source.path}/${name}" is a link or named type, which this tool does not copy`);
    }
  }
}

function copyAttributes(source: H5.Group | H5.Dataset, target: H5.Group | H5.Dataset, replaced?: Map<string, string>): void {
  for (const [name, attribute] of Object.entries(source.attrs)) {
    const value = replaced?.get(name);
    if (value === undefined) {
      target.create_attribute(name, valueOf(attribute.value, attribute.dtype), attribute.shape, littleEndian(attribute.dtype));
    } else {
      // A fixed-length string keeps its kind with the new value's length.
      const fixed = typeof attribute.dtype === 'string' && /^[AS]\d+$/.test(attribute.dtype);
      const dtype = fixed ? `${(attribute.dtype as string)[0]}${Buffer.byteLength(value)}` : attribute.dtype;
      target.create_attribute(name, value, attribute.shape, dtype);
    }
  }
}

/** h5wasm reads big-endian numbers as little-endian values and writes little-endian only. */
function littleEndian<T>(dtype: T): T {
  return (typeof dtype === 'string' ? dtype.replace(/^>/, '<') : dtype) as T;
}

type Writable = H5.GuessableDataTypes;

const TYPED: ReadonlyMap<string, { from(values: ArrayLike<number>): Writable }> = new Map<string, { from(values: ArrayLike<number>): Writable }>([
  ['<f', Float32Array], ['<d', Float64Array], ['<i', Int32Array], ['<h', Int16Array], ['<b', Int8Array],
  ['<I', Uint32Array], ['<H', Uint16Array], ['<B', Uint8Array],
]);

function typedAs(dtype: H5.Dtype, values: ArrayLike<number>): Writable {
  const make = typeof dtype === 'string' ? TYPED.get(dtype) : undefined;
  if (!make) throw new Error(`cannot store numbers as ${JSON.stringify(dtype)}`);
  return make.from(values);
}

/** A value as read, in a form h5wasm writes back as the same type (scalars as one-element arrays). */
function valueOf(value: H5.OutputData | null, dtype: H5.Dtype): Writable {
  if (value === null) throw new Error('an empty dataspace cannot be copied');
  if (ArrayBuffer.isView(value) || typeof value === 'string') return value as Writable;
  if (typeof value === 'number') return typedAs(dtype, [value]);
  if (typeof value === 'bigint') return dtype === '<Q' ? BigUint64Array.of(value) : BigInt64Array.of(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new Error(`a value of type ${JSON.stringify(dtype)} cannot be copied`);
}
