import { Rng } from './random';
import { EDGE_INTEGERS, HOSTILE_NAMES, hostileNameBytes } from './values';

/** How an opcode's argument is laid out. */
type Arg = 'none' | 'u1' | 'u2' | 'i4' | 'u4' | 'f8' | 'len1' | 'len4' | 'len8' | 'u8' | 'line' | 'line2';

const OPCODES: Record<string, Arg> = {};
const define = (arg: Arg, codes: string) => { for (const c of codes) OPCODES[c] = arg; };
define('none', '(.012NRabd}el]ost)u\x81\x85\x86\x87\x88\x89Q\x8f\x90\x91\x92\x93\x94\x97\x98');
define('u1', 'Khq\x80\x82');
define('u2', 'M\x83');
define('i4', 'J');
define('u4', 'jr\x84');
define('f8', 'G');
define('len1', 'UC\x8c\x8a');
define('len4', 'TXB\x8b');
define('len8', '\x8d\x8e\x96');
define('u8', '\x95');
define('line', 'ILSVFgpP');
define('line2', 'ci');

export interface Op {
  code: string;
  arg: Buffer;
}

function argLength(arg: Arg, data: Buffer, at: number): number | null {
  const fixed: Partial<Record<Arg, number>> = { none: 0, u1: 1, u2: 2, i4: 4, u4: 4, f8: 8, u8: 8 };
  if (fixed[arg] !== undefined) return fixed[arg];
  if (arg === 'len1') return at < data.length ? 1 + data[at] : null;
  if (arg === 'len4') return at + 4 <= data.length ? 4 + data.readUInt32LE(at) : null;
  if (arg === 'len8') return at + 8 <= data.length ? 8 + Number(data.readBigUInt64LE(at)) : null;
  const first = data.indexOf(0x0a, at);
  if (first < 0) return null;
  if (arg === 'line') return first + 1 - at;
  const second = data.indexOf(0x0a, first + 1);
  return second < 0 ? null : second + 1 - at;
}

/** The opcodes of a pickle up to STOP; null when it does not parse. */
export function parsePickle(data: Buffer): { ops: Op[]; rest: Buffer } | null {
  const ops: Op[] = [];
  let at = 0;
  while (at < data.length) {
    const code = String.fromCharCode(data[at]);
    const arg = OPCODES[code];
    if (arg === undefined) return null;
    const length = argLength(arg, data, at + 1);
    if (length === null || at + 1 + length > data.length) return null;
    ops.push({ code, arg: data.subarray(at + 1, at + 1 + length) });
    at += 1 + length;
    if (code === '.') return { ops, rest: data.subarray(at) };
  }
  return null;
}

export function encodePickle(ops: Op[], rest: Buffer): Buffer {
  return Buffer.concat([...ops.flatMap((op) => [Buffer.from(op.code, 'latin1'), op.arg]), rest]);
}

function withLength(width: 1 | 4 | 8, body: Buffer): Buffer {
  const prefix = Buffer.alloc(width);
  if (width === 1) prefix[0] = Math.min(255, body.length);
  else if (width === 4) prefix.writeUInt32LE(body.length);
  else prefix.writeBigUInt64LE(BigInt(body.length));
  return Buffer.concat([prefix, body.subarray(0, width === 1 ? 255 : body.length)]);
}

/** Storage types and dtypes a reader maps to element sizes; swapped for one another or for nonsense. */
const STORAGE_NAMES = ['FloatStorage', 'HalfStorage', 'DoubleStorage', 'LongStorage', 'BoolStorage', 'BFloat16Storage', 'ComplexFloatStorage', 'QInt8Storage', 'UntypedStorage', 'NoSuchStorage', '__proto__'];
const DANGEROUS_GLOBALS = ['os\nsystem\n', 'builtins\neval\n', 'subprocess\nPopen\n', 'torch._utils\n_rebuild_parameter\n', 'collections\nOrderedDict\n', 'torch\nFloatStorage\n', 'torch._utils\n_rebuild_tensor_v2\n'];

export interface PickleMutation {
  data: Buffer;
  description: string;
}

/**
 * One opcode-level change to a pickle: an integer argument (shape, stride, offset, memo index) set to
 * an edge value, a string (storage type, key, tensor name) swapped for another or a hostile one, a
 * length prefix that lies, an opcode dropped, duplicated or replaced, a GLOBAL pointed at something
 * dangerous, or thousands of MARKs.
 */
export function mutatePickle(rng: Rng, source: Buffer): PickleMutation {
  const parsed = parsePickle(source);
  if (!parsed) return { data: source, description: 'pickle: does not parse, unchanged' };
  const { rest } = parsed;
  let ops = parsed.ops;
  const indexed = ops.map((op, i) => ({ op, i }));
  const ints = indexed.filter(({ op }) => 'KMJ'.includes(op.code));
  const strings = indexed.filter(({ op }) => '\x8cXV'.includes(op.code));
  const memo = indexed.filter(({ op }) => 'hjgqrp'.includes(op.code));
  const globals = indexed.filter(({ op }) => op.code === 'c');
  const kind = rng.weighted<string>([[4, 'int'], [3, 'string'], [1, 'memo'], [1, 'global'], [2, 'drop'], [1, 'duplicate'], [1, 'replace'], [1, 'length'], [1, 'marks']]);
  let description: string;
  if (kind === 'int' && ints.length > 0) {
    const { op, i } = rng.pick(ints);
    const value = rng.pick([...EDGE_INTEGERS.filter((v) => Math.abs(v) < 2 ** 31), 2 ** 31 - 1, -2]);
    const arg = Buffer.alloc(4);
    arg.writeInt32LE(value | 0);
    ops[i] = { code: 'J', arg };
    description = `op ${i} (${op.code === 'J' ? 'BININT' : op.code === 'M' ? 'BININT2' : 'BININT1'}) → BININT ${value | 0}`;
  } else if (kind === 'string' && strings.length > 0) {
    const { op, i } = rng.pick(strings);
    const old = op.code === 'V' ? op.arg.subarray(0, -1).toString('latin1') : op.arg.subarray(op.code === 'X' ? 4 : 1).toString('utf8');
    const body = /Storage$/.test(old) || rng.chance(0.3) ? Buffer.from(rng.pick([...STORAGE_NAMES, rng.pick(HOSTILE_NAMES)])) : hostileNameBytes(rng);
    ops[i] = { code: 'X', arg: withLength(4, body) };
    description = `string op ${i} ${JSON.stringify(old.slice(0, 30))} → ${JSON.stringify(body.toString('latin1').slice(0, 40))}`;
  } else if (kind === 'memo' && memo.length > 0) {
    const { i } = rng.pick(memo);
    const arg = Buffer.alloc(4);
    const value = rng.pick([0, 1, 0x7fffffff, 0xffffffff, 1000]);
    arg.writeUInt32LE(value);
    ops[i] = { code: rng.pick(['j', 'r']), arg };
    description = `memo op ${i} index → ${value}`;
  } else if (kind === 'global' && globals.length > 0) {
    const { op, i } = rng.pick(globals);
    const target = rng.pick(DANGEROUS_GLOBALS);
    ops[i] = { code: 'c', arg: Buffer.from(target, 'latin1') };
    description = `GLOBAL ${JSON.stringify(op.arg.toString('latin1'))} → ${JSON.stringify(target)}`;
  } else if (kind === 'duplicate') {
    const i = rng.int(ops.length);
    ops.splice(i, 0, ops[i]);
    description = `op ${i} (${JSON.stringify(ops[i].code)}) duplicated`;
  } else if (kind === 'replace') {
    const i = rng.int(ops.length);
    const code = rng.pick(Object.keys(OPCODES).filter((c) => OPCODES[c] === 'none'));
    const old = ops[i].code;
    ops[i] = { code, arg: Buffer.alloc(0) };
    description = `op ${i} ${JSON.stringify(old)} → ${JSON.stringify(code)}`;
  } else if (kind === 'length' && strings.length > 0) {
    const { i } = rng.pick(strings);
    const body = ops[i].code === 'V' ? ops[i].arg.subarray(0, -1) : ops[i].arg.subarray(ops[i].code === 'X' ? 4 : 1);
    const claimed = rng.pick([0xffffffff, 0x7fffffff, body.length + 1, body.length + 100]);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(claimed);
    ops[i] = { code: 'X', arg: Buffer.concat([prefix, body]) };
    description = `string op ${i} length ${body.length} claimed as ${claimed}`;
  } else if (kind === 'marks') {
    const count = rng.pick([10_000, 1_000_000]);
    const i = rng.int(ops.length);
    const opener = { code: rng.pick(['(', ']']), arg: Buffer.alloc(0) };
    ops = [...ops.slice(0, i), ...new Array<Op>(count).fill(opener), ...ops.slice(i)];
    description = `${count} MARK/EMPTY_LIST ops at ${i}`;
  } else {
    const i = rng.int(ops.length);
    const old = ops[i].code;
    ops.splice(i, 1);
    description = `op ${i} (${JSON.stringify(old)}) dropped`;
  }
  return { data: encodePickle(ops, rest), description: `pickle: ${description}` };
}
