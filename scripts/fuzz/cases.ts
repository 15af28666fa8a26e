import { readdirSync, readFileSync } from 'fs';
import * as path from 'path';
import { mutateBytes } from './bytes';
import { mutateHdf5 } from './hdf5';
import { mutateJson } from './json';
import { mutatePickle } from './pickle';
import { mutateProtobuf } from './protobuf';
import { Rng, caseSeed } from './random';
import { mutateZipEntries, mutateZipHeaders, readZip, writeZip } from './zip';

export const FORMATS = ['tfjs', 'onnx', 'keras', 'torch', 'safetensors'] as const;
export type Format = (typeof FORMATS)[number];

/** A file system entry a case puts in place of a file: what readers must refuse rather than read. */
type Special =
  | { path: string; kind: 'symlink'; target: string }
  | { path: string; kind: 'fifo' }
  | { path: string; kind: 'dir' };

export interface FuzzCase {
  id: string;
  index: number;
  format: Format;
  /** the fixture it was made from, relative to the repository */
  fixture: string;
  /** what was changed, one line */
  mutation: string;
  /** the case folder's regular files, by relative path */
  files: Map<string, Buffer>;
  specials: Special[];
  /** the model file given to the CLI, relative to the case folder */
  model: string;
  /** whether reduce finds an older output folder to replace (with --force) */
  replaceOutput: boolean;
}

interface Fixture {
  format: Format;
  /** relative to the repository */
  source: string;
  model: string;
  files: Map<string, Buffer>;
}

/** The committed models of every format: the examples' TF.js folders and test/fixtures/{onnx,keras,torch}. */
export function loadFixtures(root: string): Fixture[] {
  const fixtures: Fixture[] = [];
  const read = (dir: string, names: string[]) => new Map(names.map((n) => [n, readFileSync(path.join(root, dir, n))]));
  for (const example of readdirSync(path.join(root, 'examples')).sort()) {
    const dir = path.join('examples', example);
    const names = readdirSync(path.join(root, dir)).filter((n) => n === 'model.json' || n.endsWith('.bin')).sort();
    if (names.includes('model.json')) fixtures.push({ format: 'tfjs', source: dir, model: 'model.json', files: read(dir, names) });
  }
  const byExtension: [string, Format][] = [['.onnx', 'onnx'], ['.h5', 'keras'], ['.keras', 'keras'], ['.pt', 'torch'], ['.pth', 'torch'], ['.safetensors', 'safetensors']];
  for (const sub of ['onnx', 'keras', 'torch']) {
    const dir = path.join('test', 'fixtures', sub);
    const all = readdirSync(path.join(root, dir)).sort();
    for (const name of all) {
      const format = byExtension.find(([ext]) => name.endsWith(ext))?.[1];
      if (!format) continue;
      // ONNX external data travels with its model.
      const names = [name, ...all.filter((n) => n === `${name}.data`)];
      fixtures.push({ format, source: path.join(dir, name), model: name, files: read(dir, names) });
    }
  }
  return fixtures;
}

type Mutator = (rng: Rng, c: FuzzCase) => string;

/** Applies `mutate` to the bytes of one file of the case. */
function onFile(file: string, mutate: (rng: Rng, data: Buffer) => { data: Buffer; description: string }): Mutator {
  return (rng, c) => {
    const result = mutate(rng, c.files.get(file)!);
    c.files.set(file, result.data);
    return `${file}: ${result.description}`;
  };
}

const json = (rng: Rng, data: Buffer) => {
  const m = mutateJson(rng, data);
  return { data: m.text, description: m.description };
};

/** Changes one entry of a zip archive (rewritten stored, with correct sizes) by `mutate`. */
function inZipEntry(file: string, pick: (name: string) => boolean, mutate: (rng: Rng, data: Buffer) => { data: Buffer; description: string }): Mutator {
  return (rng, c) => {
    const entries = readZip(c.files.get(file)!);
    const candidates = entries?.filter((e) => pick(e.name.toString('latin1'))) ?? [];
    if (!entries || candidates.length === 0) return onFile(file, mutateBytes)(rng, c);
    const entry = rng.pick(candidates);
    const result = mutate(rng, entry.data);
    entry.data = result.data;
    c.files.set(file, writeZip(entries));
    return `${file}!${entry.name.toString('latin1')}: ${result.description}`;
  };
}

function zipEntries(file: string): Mutator {
  return (rng, c) => {
    const entries = readZip(c.files.get(file)!);
    if (!entries || entries.length === 0) return onFile(file, mutateBytes)(rng, c);
    const result = mutateZipEntries(rng, entries);
    c.files.set(file, writeZip(result.entries));
    return `${file}: ${result.description}`;
  };
}

/** Puts a special file system entry where `file` was. */
function special(file: string): Mutator {
  return (rng, c) => {
    const choice = rng.pick<Special | 'empty'>([
      { path: file, kind: 'symlink', target: '/dev/zero' },
      { path: file, kind: 'symlink', target: '/etc/passwd' },
      { path: file, kind: 'symlink', target: 'no-such-file' },
      { path: file, kind: 'symlink', target: path.basename(file) },
      { path: file, kind: 'fifo' },
      { path: file, kind: 'dir' },
      'empty',
    ]);
    if (choice === 'empty') {
      c.files.set(file, Buffer.alloc(0));
      return `${file}: empty`;
    }
    c.files.delete(file);
    c.specials.push(choice);
    return `${file}: ${choice.kind === 'symlink' ? `symlink to ${choice.target}` : choice.kind === 'fifo' ? 'a FIFO' : 'a directory'}`;
  };
}

/** safetensors: an 8-byte little-endian header length, the header JSON, the tensor data. */
function safetensorsHeader(rng: Rng, data: Buffer): { data: Buffer; description: string } {
  if (data.length < 8) return mutateBytes(rng, data);
  const length = Number(data.readBigUInt64LE(0));
  const header = data.subarray(8, 8 + length);
  const rest = data.subarray(8 + length);
  const m = mutateJson(rng, header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(m.text.length));
  return { data: Buffer.concat([prefix, m.text, rest]), description: `header ${m.description}` };
}

function safetensorsLength(rng: Rng, data: Buffer): { data: Buffer; description: string } {
  const out = Buffer.from(data);
  if (out.length < 8) return mutateBytes(rng, data);
  const old = out.readBigUInt64LE(0);
  const value = rng.pick([0n, 1n, 2n, old - 1n, old + 1n, BigInt(out.length), BigInt(out.length) - 7n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n, 100_000_001n]);
  out.writeBigUInt64LE(BigInt.asUintN(64, value), 0);
  return { data: out, description: `header length ${old} → ${BigInt.asUintN(64, value)}` };
}

function isZip(data: Buffer | undefined): boolean {
  return !!data && data.length > 4 && data.readUInt32LE(0) === 0x04034b50;
}

/** The mutators that fit a fixture, each with its weight. */
function mutators(f: Fixture): [number, Mutator][] {
  const main = f.model;
  const others = [...f.files.keys()].filter((n) => n !== main);
  const menu: [number, Mutator][] = [[2, onFile(main, mutateBytes)], [1, special(main)]];
  switch (f.format) {
    case 'tfjs':
      menu.push([8, onFile(main, json)]);
      for (const shard of others) menu.push([1, onFile(shard, mutateBytes)], [0.5, special(shard)]);
      break;
    case 'onnx':
      menu.push([8, onFile(main, mutateProtobuf)]);
      for (const data of others) menu.push([1, onFile(data, mutateBytes)], [0.5, special(data)]);
      break;
    case 'keras':
      if (main.endsWith('.h5')) menu.push([8, onFile(main, mutateHdf5)]);
      else {
        menu.push(
          [2, onFile(main, mutateZipHeaders)],
          [1, zipEntries(main)],
          [4, inZipEntry(main, (n) => n.endsWith('.json'), json)],
          [3, inZipEntry(main, (n) => n.endsWith('.h5'), mutateHdf5)],
        );
      }
      break;
    case 'torch':
      if (isZip(f.files.get(main))) {
        menu.push(
          [2, onFile(main, mutateZipHeaders)],
          [1, zipEntries(main)],
          [6, inZipEntry(main, (n) => n.endsWith('.pkl'), mutatePickle)],
          [1, inZipEntry(main, (n) => /\/data\/\d+$/.test(n), mutateBytes)],
        );
      } else menu.push([8, onFile(main, mutatePickle)]);
      break;
    case 'safetensors':
      menu.push([6, onFile(main, safetensorsHeader)], [2, onFile(main, safetensorsLength)]);
      break;
  }
  return menu;
}

/**
 * Case `index` of the campaign `seed`: the formats take turns, the fixture and the mutation (now
 * and then two stacked) come from the case's own seeded generator.
 */
export function makeCase(fixtures: Fixture[], seed: number, index: number, formats: readonly Format[] = FORMATS): FuzzCase {
  const rng = new Rng(caseSeed(seed, index));
  const format = formats[index % formats.length];
  const fixture = rng.pick(fixtures.filter((f) => f.format === format));
  const c: FuzzCase = {
    id: `s${seed}-${index}`,
    index,
    format,
    fixture: fixture.source,
    mutation: '',
    files: new Map([...fixture.files].map(([n, d]) => [n, Buffer.from(d)])),
    specials: [],
    model: fixture.model,
    replaceOutput: rng.chance(0.3),
  };
  const menu = mutators(fixture);
  const steps = rng.chance(0.2) ? 2 : 1;
  const done: string[] = [];
  for (let i = 0; i < steps; i++) {
    done.push(rng.weighted(menu)(rng, c));
    // A file replaced by a special entry is not mutated again.
    if (c.specials.length > 0) break;
  }
  c.mutation = done.join(' + ');
  return c;
}
