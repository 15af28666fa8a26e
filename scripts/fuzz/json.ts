import { Rng } from './random';
import { EDGE_INTEGERS, HOSTILE_NAMES, ODD_DTYPES, hostileNameBytes, oddJsonValue, oddShape } from './values';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

/** Positions deeper than this are not visited: an earlier mutation may have nested 100,000 deep. */
const MAX_DEPTH = 100;

/** The deepest nesting of arrays and objects in JSON text, strings skipped. */
function nesting(text: Buffer): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Every position in the document down to MAX_DEPTH, root excluded. */
function positions(value: Json, path: Path = [], out: Path[] = []): Path[] {
  if (path.length >= MAX_DEPTH) return out;
  if (Array.isArray(value)) value.forEach((v, i) => { out.push([...path, i]); positions(v, [...path, i], out); });
  else if (value && typeof value === 'object') for (const key of Object.keys(value)) { out.push([...path, key]); positions(value[key], [...path, key], out); }
  return out;
}

/** An array or object of the document; a mutation may have put any value in it. */
type Container = unknown[] | Record<string, unknown>;

/** The array or object holding `path`'s last step (`positions` lists only paths through containers). */
function parentOf(root: Json, path: Path): Container {
  let at: unknown = root;
  for (const key of path.slice(0, -1)) at = (at as Record<string | number, unknown>)[key];
  return at as Container;
}

/** Sets an own property even for "__proto__", which plain assignment would turn into a prototype change. */
function setOwn(obj: object, key: string | number, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Keys whose values readers size allocations or look files up by; mutated more often. */
const SHAPE_KEY = /shape|dims|units|filters|kernel_size|kernelSize|strides|pool_size|input_dim|output_dim|size|axis/i;
const DTYPE_KEY = /dtype|data_type/i;
const NAME_KEY = /^(name|class_name|className|inbound_nodes|layer_name|registered_name|module)$/;
const PATH_KEY = /^(paths|weightsManifest|location)$/;
const OFFSET_KEY = /data_offsets|offset|length|byteOffset/i;

/** Stands in for deep nesting until the text is written: JSON.stringify itself would overflow the stack. */
const NEST_MARK = '\u0001nest\u0001';

/** Describes `path` like a JSON pointer, short enough for a one-line summary. */
function pointer(path: Path): string {
  const text = '/' + path.map((k) => String(k).slice(0, 40)).join('/');
  return text.length > 120 ? `…${text.slice(-117)}` : text;
}

/** What a value at `key` would plausibly break as. */
function targetedValue(rng: Rng, key: string): unknown {
  if (DTYPE_KEY.test(key)) return rng.pick(ODD_DTYPES);
  if (OFFSET_KEY.test(key)) return rng.pick<unknown>([[0, 2 ** 40], [100, 50], [-8, 8], [0, 1e300], rng.pick(EDGE_INTEGERS), [2 ** 53 + 2, 2 ** 53 + 10]]);
  if (SHAPE_KEY.test(key)) return rng.chance(0.5) ? oddShape(rng) : rng.pick(EDGE_INTEGERS);
  if (PATH_KEY.test(key)) return rng.pick<unknown>([['/dev/zero'], ['../../../../etc/passwd'], ['.'], ['missing.bin'], ['model.json'], [], ['group1-shard1of1.bin', 'group1-shard1of1.bin']]);
  return rng.pick(HOSTILE_NAMES);
}

export interface JsonMutation {
  text: Buffer;
  description: string;
}

/**
 * One structure-aware change to a JSON document: a value replaced (by another type, an extreme, a
 * hostile name, a wrong shape or dtype), a key removed, renamed or added ("__proto__" among them),
 * an array element duplicated, deep nesting, or a string made non-UTF-8.
 */
export function mutateJson(rng: Rng, source: Buffer): JsonMutation {
  if (nesting(source) > MAX_DEPTH) {
    // Too deep to rewrite (JSON.stringify would overflow the stack): cut the text instead.
    const cut = rng.int(source.length);
    return { text: source.subarray(0, cut), description: `json: truncated at byte ${cut} of ${source.length}` };
  }
  let doc: Json;
  try {
    doc = JSON.parse(source.toString('utf8')) as Json;
  } catch {
    return { text: source, description: 'json: not JSON, unchanged' };
  }
  const all = positions(doc);
  if (all.length === 0) return { text: Buffer.from(JSON.stringify(oddJsonValue(rng))), description: 'json: root replaced' };
  const interesting = all.filter((p) => {
    const key = String(p[p.length - 1]);
    return SHAPE_KEY.test(key) || DTYPE_KEY.test(key) || NAME_KEY.test(key) || PATH_KEY.test(key) || OFFSET_KEY.test(key);
  });
  const path = interesting.length > 0 && rng.chance(0.6) ? rng.pick(interesting) : rng.pick(all);
  const parent = parentOf(doc, path);
  const key = path[path.length - 1];
  const at = pointer(path);
  const kind = rng.weighted<string>([
    [4, 'targeted'], [3, 'odd'], [2, 'delete'], [1, 'rename'], [1, 'add'], [1, 'duplicate'], [1, 'nest'], [1, 'non-utf8'], [1, 'truncate'],
  ]);
  let description: string;
  switch (kind) {
    case 'targeted': {
      const value = targetedValue(rng, String(key));
      setOwn(parent, key, value);
      description = `${at} = ${JSON.stringify(value)?.slice(0, 60)}`;
      break;
    }
    case 'odd': {
      const value = oddJsonValue(rng);
      setOwn(parent, key, value);
      description = `${at} = ${JSON.stringify(value)?.slice(0, 60)}`;
      break;
    }
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      description = `delete ${at}`;
      break;
    case 'rename': {
      const name = rng.pick(HOSTILE_NAMES);
      if (Array.isArray(parent)) {
        setOwn(parent, key, name);
      } else {
        const value = parent[key];
        delete parent[key];
        setOwn(parent, name, value);
      }
      description = `rename ${at} to ${JSON.stringify(name.slice(0, 40))}`;
      break;
    }
    case 'add': {
      const target = parent && typeof parent === 'object' && !Array.isArray(parent) ? parent : doc;
      if (target && typeof target === 'object' && !Array.isArray(target)) {
        const name = rng.pick(['__proto__', 'constructor', 'prototype', rng.pick(HOSTILE_NAMES)]);
        setOwn(target, name, oddJsonValue(rng));
        description = `add key ${JSON.stringify(name.slice(0, 40))} beside ${at}`;
      } else {
        description = `nothing to add at ${at}`;
      }
      break;
    }
    case 'duplicate':
      if (Array.isArray(parent)) {
        parent.splice(key as number, 0, structuredClone(parent[key as number]));
        description = `duplicate ${at}`;
      } else {
        setOwn(parent, `${String(key)}_copy`, structuredClone(parent[key]));
        setOwn(parent, key, [parent[key], parent[key]]);
        description = `${at} = [it, it]`;
      }
      break;
    case 'nest': {
      const depth = rng.pick([1000, 100_000]);
      setOwn(parent, key, NEST_MARK);
      const text = JSON.stringify(doc).replace(JSON.stringify(NEST_MARK), `${'['.repeat(depth)}1${']'.repeat(depth)}`);
      return { text: Buffer.from(text), description: `json: ${at} = array nested ${depth} deep` };
    }
    case 'non-utf8': {
      const text = Buffer.from(JSON.stringify(doc));
      const quotes: number[] = [];
      for (let i = 0; i < text.length; i++) if (text[i] === 0x22) quotes.push(i);
      const at2 = quotes.length > 0 ? rng.pick(quotes) + 1 : 0;
      return { text: Buffer.concat([text.subarray(0, at2), hostileNameBytes(rng), text.subarray(at2)]), description: `json: non-UTF-8/hostile bytes inserted in a string at byte ${at2}` };
    }
    default: {
      const text = Buffer.from(JSON.stringify(doc));
      const cut = rng.int(text.length);
      return { text: text.subarray(0, cut), description: `json: truncated at byte ${cut} of ${text.length}` };
    }
  }
  return { text: Buffer.from(JSON.stringify(doc)), description: `json: ${description}` };
}
