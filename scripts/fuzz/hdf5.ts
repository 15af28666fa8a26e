import { Rng } from './random';
import { mutateJson } from './json';
import { hostileNameBytes } from './values';

export interface Hdf5Mutation {
  data: Buffer;
  description: string;
}

/** Where the Keras model configuration (a JSON string attribute) sits in the file, if anywhere. */
function configSpan(data: Buffer): [number, number] | null {
  const start = data.indexOf('{"class_name"');
  if (start < 0) return null;
  let depth = 0;
  let inString = false;
  for (let i = start; i < data.length; i++) {
    const c = data[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0) return [start, i + 1];
    }
  }
  return null;
}

/** Every place a v1 object-header message of `type` starts whose body begins with `version`. */
function messages(data: Buffer, type: number, version: (b: number) => boolean): number[] {
  const found: number[] = [];
  for (let i = 0; i + 16 < data.length; i++) {
    if (data[i] === type && data[i + 1] === 0 && data[i + 5] === 0 && data[i + 6] === 0 && data[i + 7] === 0 && version(data[i + 8])) {
      const size = data.readUInt16LE(i + 2);
      if (size >= 8 && size < 4096 && size % 8 === 0) found.push(i + 8);
    }
  }
  return found;
}

const SIGNATURES = ['TREE', 'HEAP', 'SNOD', 'GCOL', 'OHDR', 'FRHP', 'FHDB', 'BTHD', 'BTLF', 'OCHK'];

function edgeWrite(rng: Rng, data: Buffer, at: number, width: 1 | 2 | 4 | 8): string {
  if (at + width > data.length) return 'past the end';
  const value = rng.pick([0n, 1n, 0xffn, 0xffffn, 0xffffffffn, 0x7fffffffn, 0xffffffffffffffffn, BigInt(data.length), BigInt(data.length) + 8n, 2n ** 40n]);
  const v = BigInt.asUintN(width * 8, value);
  if (width === 1) data[at] = Number(v);
  else if (width === 2) data.writeUInt16LE(Number(v), at);
  else if (width === 4) data.writeUInt32LE(Number(v), at);
  else data.writeBigUInt64LE(v, at);
  return `${width * 8}-bit ${v} at ${at}`;
}

/**
 * One structure-aware change to an HDF5 file, sizes kept so the rest still parses: the Keras
 * config JSON mutated in place (padded to its length), a dataspace dimension, datatype class or
 * size, or contiguous-layout address/size set to an edge value, a field after a structure
 * signature (B-tree, heap, symbol node) or in the superblock overwritten, or a link name (layer and
 * weight names) replaced by a hostile one of the same length.
 */
export function mutateHdf5(rng: Rng, source: Buffer): Hdf5Mutation {
  const data = Buffer.from(source);
  const span = configSpan(data);
  const kind = rng.weighted<string>([[span ? 4 : 0, 'config'], [2, 'dataspace'], [1, 'datatype'], [2, 'layout'], [2, 'signature'], [1, 'superblock'], [2, 'name']]);
  switch (kind) {
    case 'config': {
      const [start, end] = span!;
      const length = end - start;
      for (let attempt = 0; attempt < 8; attempt++) {
        const m = mutateJson(rng, data.subarray(start, end));
        if (m.text.length <= length || attempt === 7) {
          const text = Buffer.concat([m.text, Buffer.alloc(Math.max(0, length - m.text.length), 0x20)]).subarray(0, length);
          text.copy(data, start);
          return { data, description: `hdf5 config ${m.description}${m.text.length > length ? ' (cut to fit)' : ''}` };
        }
      }
      return { data, description: 'hdf5: unreachable' };
    }
    case 'dataspace': {
      const found = messages(data, 1, (v) => v === 1 || v === 2);
      if (found.length === 0) break;
      const at = rng.pick(found);
      const rank = data[at + 1];
      const where = rng.chance(0.2) || rank === 0 ? at + 1 : at + 8 + 8 * rng.int(rank);
      return { data, description: `hdf5 dataspace rank ${rank}: ${edgeWrite(rng, data, where, where === at + 1 ? 1 : 8)}` };
    }
    case 'datatype': {
      const found = messages(data, 3, (v) => v >> 4 >= 1 && v >> 4 <= 3);
      if (found.length === 0) break;
      const at = rng.pick(found);
      if (rng.chance(0.5)) {
        const old = data[at];
        data[at] = (old & 0xf0) | rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        return { data, description: `hdf5 datatype class ${old & 0x0f} → ${data[at] & 0x0f} at ${at}` };
      }
      return { data, description: `hdf5 datatype element size: ${edgeWrite(rng, data, at + 4, 4)}` };
    }
    case 'layout': {
      const found = messages(data, 8, (v) => v === 3).filter((at) => data[at + 1] === 1);
      if (found.length === 0) break;
      const at = rng.pick(found);
      return { data, description: `hdf5 contiguous layout ${rng.chance(0.5) ? 'address' : 'size'}: ${edgeWrite(rng, data, at + 2 + (rng.chance(0.5) ? 0 : 8), 8)}` };
    }
    case 'signature': {
      const found: [string, number][] = [];
      for (const sig of SIGNATURES) for (let i = data.indexOf(sig); i >= 0; i = data.indexOf(sig, i + 1)) found.push([sig, i]);
      if (found.length === 0) break;
      const [sig, at] = rng.pick(found);
      return { data, description: `hdf5 after ${sig}: ${edgeWrite(rng, data, at + 4 + rng.int(40), rng.pick([1, 2, 4, 8] as const))}` };
    }
    case 'superblock':
      return { data, description: `hdf5 superblock: ${edgeWrite(rng, data, 8 + rng.int(88), rng.pick([1, 2, 4, 8] as const))}` };
    case 'name': {
      const names: [number, number][] = [];
      const re = /[A-Za-z_][A-Za-z0-9_:.-]{2,60}\0/g;
      const text = data.toString('latin1');
      for (let m = re.exec(text); m; m = re.exec(text)) names.push([m.index, m[0].length - 1]);
      if (names.length === 0) break;
      const [at, length] = rng.pick(names);
      const old = text.slice(at, at + length);
      const name = Buffer.concat([hostileNameBytes(rng), Buffer.alloc(length)]).subarray(0, length);
      name.copy(data, at);
      return { data, description: `hdf5 name ${JSON.stringify(old)} → ${JSON.stringify(name.toString('latin1').slice(0, 40))}` };
    }
  }
  return { data, description: `hdf5: no ${kind} found, unchanged` };
}
