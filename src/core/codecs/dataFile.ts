import * as path from 'path';
import { InputError } from '../model/errors';
import { MAX_DATA_FILE_BYTES, readRegularFile } from '../model/files';
import { MAX_TENSOR_ELEMENTS, sizeOf } from '../model/tensor';
import { excerpt, parseJsonInput } from './json';

/** A numeric array read from a user's data file. */
export interface DataArray {
  shape: number[];
  data: Float32Array;
}

/** Reads `.npy` (float32/64, int32/64, uint8, C order), `.json` (nested arrays) or `.csv` (a header row is skipped). */
export async function readDataFile(file: string): Promise<DataArray> {
  const bytes = await readRegularFile(file, MAX_DATA_FILE_BYTES, 'the data file');
  const ext = path.extname(file).toLowerCase();
  const array = ext === '.npy' ? parseNpy(file, bytes) : ext === '.json' ? parseJson(file, bytes.toString('utf8')) : ext === '.csv' ? parseCsv(file, bytes.toString('utf8')) : null;
  if (!array) throw new InputError(file, 'unknown data format: use .npy, .json or .csv');
  const perRow = array.shape.length > 1 ? sizeOf(array.shape.slice(1)) : 1;
  for (let i = 0; i < array.data.length; i++) {
    if (!Number.isFinite(array.data[i])) {
      const where = array.shape.length > 1 ? `row ${Math.floor(i / perRow) + 1}, column ${(i % perRow) + 1}` : `value ${i + 1}`;
      throw new InputError(file, `${where} is not a finite number (${array.data[i]})`);
    }
  }
  return array;
}

/** By .npy descr (a string from the file: a Map, so "constructor" is no reader). */
const NPY_READERS: ReadonlyMap<string, [number, (view: DataView, at: number) => number]> = new Map<string, [number, (view: DataView, at: number) => number]>([
  ['<f4', [4, (v, a) => v.getFloat32(a, true)]],
  ['<f8', [8, (v, a) => v.getFloat64(a, true)]],
  ['<i4', [4, (v, a) => v.getInt32(a, true)]],
  ['<i8', [8, (v, a) => Number(v.getBigInt64(a, true))]],
  ['|u1', [1, (v, a) => v.getUint8(a)]],
]);

function parseNpy(file: string, bytes: Buffer): DataArray {
  if (bytes.length < 10 || bytes.toString('latin1', 0, 6) !== '\x93NUMPY') throw new InputError(file, 'not an .npy file (bad magic)');
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.toString('latin1', headerStart, headerStart + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new InputError(file, 'the .npy header cannot be read');
  if (fortran) throw new InputError(file, 'Fortran-ordered .npy arrays are not supported; save with C order');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InputError(file, `the .npy shape (${shapeText}) is not a list of sizes`);
  const n = sizeOf(shape);
  if (n > MAX_TENSOR_ELEMENTS) throw new InputError(file, `the array has ${n} values, more than this tool will read`);
  const reader = NPY_READERS.get(descr);
  if (!reader) throw new InputError(file, `dtype ${descr} is not supported (use float32 or float64)`);
  const [width, read] = reader;
  const offset = headerStart + headerLength;
  if (bytes.length - offset !== n * width) {
    throw new InputError(file, `the .npy data holds ${bytes.length - offset} bytes but shape (${shape.join(', ')}) needs ${n * width}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, n * width);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = read(view, i * width);
  return { shape, data };
}

function parseJson(file: string, text: string): DataArray {
  const value = parseJsonInput(file, text);
  const shape: number[] = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  if (shape.length === 0) throw new InputError(file, 'expected a (nested) array of numbers');
  // Each value takes at least one character: more values than that means the first rows lie about the rest.
  if (sizeOf(shape) > text.length) throw new InputError(file, 'the nested arrays are ragged (rows of different lengths)');
  const data = new Float32Array(sizeOf(shape));
  let at = 0;
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw new InputError(file, `expected a number at position ${at}, found ${excerpt(v)}`);
      data[at++] = v;
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) throw new InputError(file, 'the nested arrays are ragged (rows of different lengths)');
    for (const item of v) walk(item, depth + 1);
  };
  walk(value, 0);
  return { shape, data };
}

function parseCsv(file: string, text: string): DataArray {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const rows = lines.map((l) => l.split(',').map((c) => c.trim()));
  if (rows.length && rows[0].some((c) => c === '' || Number.isNaN(Number(c)))) rows.shift();
  if (rows.length === 0) throw new InputError(file, 'the CSV file has no numeric rows');
  const width = rows[0].length;
  const data = new Float32Array(rows.length * width);
  rows.forEach((row, r) => {
    if (row.length !== width) throw new InputError(file, `row ${r + 1} has ${row.length} columns, expected ${width}`);
    row.forEach((cell, c) => {
      const v = Number(cell);
      if (cell === '' || Number.isNaN(v)) throw new InputError(file, `row ${r + 1}, column ${c + 1} is not a number: ${excerpt(cell)}`);
      data[r * width + c] = v;
    });
  });
  return { shape: [rows.length, width], data };
}
