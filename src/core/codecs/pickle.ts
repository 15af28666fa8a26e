/**
 * A restricted unpickler for PyTorch state dicts: a data-only interpreter of the pickle opcodes
 * torch.save emits, written without any way to run code.
 *
 * Why it is safe: a pickle is a program for a stack machine, and the only opcodes that can run
 * code are those that look up a Python object by name (GLOBAL, STACK_GLOBAL) and call it (REDUCE,
 * BUILD, NEWOBJ, INST, OBJ, …) or hand data to the host (BINPERSID). Here a name lookup yields
 * nothing but an inert tag, and only for the handful of names a state dict uses (OrderedDict,
 * torch's tensor rebuild function, the storage types); any other name is refused on the spot,
 * before anything after it is read. "Calling" a tag builds a plain record (a Map, a tensor
 * description); persistent ids become storage descriptions; BUILD only accepts a dict's state.
 * Every other opcode is refused. Nothing is evaluated, imported or executed.
 */
import { InputError } from '../model/errors';
import { StorageDtype } from '../model/tensor';

/** A storage the pickle refers to by key (its bytes are the archive entry `data/<key>`). */
interface StorageRef {
  kind: 'storage';
  dtype: StorageDtype;
  key: string;
  /** Elements of `dtype`. */
  numel: number;
}

/** torch._utils._rebuild_tensor_v2's arguments: a strided view of a storage. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

type Callable = 'OrderedDict' | 'rebuild_tensor';

/** An allowlisted Python name: a tag, never a function. */
interface GlobalRef {
  kind: 'global';
  name: string;
  callable?: Callable;
  storage?: StorageDtype;
}

class Tuple {
  constructor(readonly items: Value[]) {}
}

export type Value = null | boolean | number | string | Value[] | Tuple | Map<string, Value> | GlobalRef | StorageRef | TensorRef;

/** The storage classes torch pickles (torch.FloatStorage, …) and the element type of each. */
const STORAGE_TYPES: ReadonlyMap<string, StorageDtype> = new Map([
  ['DoubleStorage', 'float64'],
  ['FloatStorage', 'float32'],
  ['HalfStorage', 'float16'],
  ['BFloat16Storage', 'bfloat16'],
  ['LongStorage', 'int64'],
  ['IntStorage', 'int32'],
  ['ShortStorage', 'int16'],
  ['CharStorage', 'int8'],
  ['ByteStorage', 'uint8'],
  ['BoolStorage', 'bool'],
  // Untyped storages count bytes.
  ['UntypedStorage', 'uint8'],
]);

/** Names come from the file: looked up in a Map, so "constructor" or "__proto__" match nothing. */
function allowedGlobal(module: string, name: string): GlobalRef | null {
  const full = `${module}.${name}`;
  if (full === 'collections.OrderedDict') return { kind: 'global', name: full, callable: 'OrderedDict' };
  if (full === 'torch._utils._rebuild_tensor_v2') return { kind: 'global', name: full, callable: 'rebuild_tensor' };
  const storage = STORAGE_TYPES.get(name);
  if (storage && (module === 'torch' || (module === 'torch.storage' && name === 'UntypedStorage'))) {
    return { kind: 'global', name: full, storage };
  }
  return null;
}

const OP = {
  PROTO: 0x80, FRAME: 0x95, STOP: 0x2e, MARK: 0x28, POP: 0x30, POP_MARK: 0x31,
  NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, BININT: 0x4a, BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, BINFLOAT: 0x47,
  BINUNICODE: 0x58, SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d,
  EMPTY_TUPLE: 0x29, TUPLE: 0x74, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87,
  EMPTY_LIST: 0x5d, APPEND: 0x61, APPENDS: 0x65, EMPTY_DICT: 0x7d, SETITEM: 0x73, SETITEMS: 0x75,
  BINPUT: 0x71, LONG_BINPUT: 0x72, MEMOIZE: 0x94, BINGET: 0x68, LONG_BINGET: 0x6a,
  GLOBAL: 0x63, STACK_GLOBAL: 0x93, REDUCE: 0x52, BUILD: 0x62, BINPERSID: 0x51,
} as const;

const OPCODE_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]));

/** Interprets a state dict's data.pkl; every refusal is an InputError naming the problem. */
export function unpickle(file: string, bytes: Uint8Array): Value {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let at = 0;
  let stack: Value[] = [];
  const marks: Value[][] = [];
  const memo = new Map<number, Value>();
  const storages = new Map<string, StorageRef>();
  const fail: (problem: string) => never = (problem) => {
    throw new InputError(file, `cannot read the pickled state dict: ${problem}`);
  };

  const need = (n: number): number => {
    if (at + n > bytes.length) fail('it ends in the middle of an instruction (truncated file?)');
    const start = at;
    at += n;
    return start;
  };
  const u8 = (): number => view.getUint8(need(1));
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const u64 = (): number => {
    const value = view.getBigUint64(need(8), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('a length is out of range');
    return Number(value);
  };
  const text = (n: number): string => {
    const start = need(n);
    try {
      return decoder.decode(bytes.subarray(start, start + n));
    } catch {
      return fail('a string is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('a GLOBAL name is not terminated');
    return text(end - at + 1).slice(0, -1);
  };
  const pop = (): Value => {
    if (stack.length === 0) fail('stack underflow (damaged pickle)');
    return stack.pop()!;
  };
  const popMark = (): Value[] => {
    if (marks.length === 0) fail('no MARK to pop to (damaged pickle)');
    const items = stack;
    stack = marks.pop()!;
    return items;
  };
  const top = (): Value => {
    if (stack.length === 0) fail('stack underflow (damaged pickle)');
    return stack[stack.length - 1];
  };
  const lookUp = (module: string, name: string): GlobalRef => {
    const allowed = allowedGlobal(module, name);
    if (allowed) return allowed;
    const what = `${module}.${name}`;
    const isClass = /^[A-Z]/.test(name) || module === '__main__' || module.startsWith('torch.nn');
    return fail(
      isClass
        ? `it holds a whole pickled object (${what}), not a state dict; nothing from it was run. ` +
            'Save the weights with torch.save(model.state_dict(), path), or export the model to ONNX'
        : `it refers to ${what}, which a state dict never needs; refused without running anything. ` +
            'If you trust the file, re-save it with torch.save(model.state_dict(), path)',
    );
  };
  const setItems = (target: Value, items: Value[]): void => {
    if (!(target instanceof Map)) return fail('SETITEM on something that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (typeof key !== 'string' && typeof key !== 'number') return fail('a dict key is not a string or number');
      target.set(String(key), items[i + 1]);
    }
  };
  const tuple = (items: Value[]): Tuple => new Tuple(items);

  for (;;) {
    const position = at;
    const op = u8();
    switch (op) {
      case OP.PROTO:
        if (u8() > 5) fail('unknown pickle protocol');
        break;
      case OP.FRAME:
        u64();
        break;
      case OP.STOP:
        if (stack.length !== 1 || marks.length) fail('the pickle does not end with exactly one object');
        return stack[0];
      case OP.MARK:
        marks.push(stack);
        stack = [];
        break;
      case OP.POP:
        pop();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
      case OP.NEWFALSE:
        stack.push(op === OP.NEWTRUE);
        break;
      case OP.BININT:
        stack.push(view.getInt32(need(4), true));
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(u16());
        break;
      case OP.LONG1: {
        const n = u8();
        const start = need(n);
        let value = 0n;
        for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[start + i]);
        if (n > 0 && bytes[start + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) fail('an integer is out of range');
        stack.push(Number(value));
        break;
      }
      case OP.BINFLOAT:
        stack.push(view.getFloat64(need(8), false));
        break;
      case OP.BINUNICODE:
        stack.push(text(u32()));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(text(u8()));
        break;
      case OP.BINUNICODE8:
        stack.push(text(u64()));
        break;
      case OP.EMPTY_TUPLE:
        stack.push(tuple([]));
        break;
      case OP.TUPLE: {
        // Popping to the mark replaces `stack`, so it must happen before `stack.push` is looked up.
        const items = popMark();
        stack.push(tuple(items));
        break;
      }
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const items: Value[] = [];
        for (let i = op - OP.TUPLE1; i >= 0; i--) items.unshift(pop());
        stack.push(tuple(items));
        break;
      }
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.APPEND: {
        const item = pop();
        const list = top();
        if (!Array.isArray(list)) fail('APPEND to something that is not a list');
        list.push(item);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('APPENDS to something that is not a list');
        for (const item of items) list.push(item);
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.BINPUT:
      case OP.LONG_BINPUT:
        memo.set(op === OP.BINPUT ? u8() : u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const index = op === OP.BINGET ? u8() : u32();
        if (!memo.has(index)) fail(`memo entry ${index} is used before it is set`);
        stack.push(memo.get(index)!);
        break;
      }
      case OP.GLOBAL: {
        const module = line();
        stack.push(lookUp(module, line()));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL without two strings');
        stack.push(lookUp(module, name));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const callable = pop();
        if (!(args instanceof Tuple) || !isRecord(callable, 'global') || !callable.callable) {
          fail(`REDUCE at byte ${position} calls something other than OrderedDict or torch's tensor rebuild`);
        }
        stack.push(callable.callable === 'OrderedDict' ? orderedDict(args.items, fail) : rebuildTensor(args.items, fail));
        break;
      }
      case OP.BUILD: {
        // An OrderedDict's state is its attributes (torch stores `_metadata` there): not needed, dropped.
        const state = pop();
        if (!(top() instanceof Map) || !(state instanceof Map || state === null)) fail(`BUILD at byte ${position} on something other than a dict`);
        break;
      }
      case OP.BINPERSID:
        stack.push(persistentStorage(pop(), storages, fail));
        break;
      default: {
        const name = OPCODE_NAMES.get(op);
        fail(`opcode ${name ?? `0x${op.toString(16).padStart(2, '0')}`} at byte ${position} is not used by state dicts; refused`);
      }
    }
  }
}

function isRecord<K extends (GlobalRef | StorageRef | TensorRef)['kind']>(value: Value, kind: K): value is Extract<Value, { kind: K }> {
  return typeof value === 'object' && value !== null && 'kind' in value && value.kind === kind;
}

export function isTensor(value: Value): value is TensorRef {
  return isRecord(value, 'tensor');
}

/** OrderedDict() or OrderedDict([(key, value), …]). */
function orderedDict(args: Value[], fail: (problem: string) => never): Map<string, Value> {
  const dict = new Map<string, Value>();
  if (args.length === 0) return dict;
  const pairs = args[0];
  if (args.length > 1 || !Array.isArray(pairs)) return fail('OrderedDict called with unexpected arguments');
  for (const pair of pairs) {
    if (!(pair instanceof Tuple) || pair.items.length !== 2 || typeof pair.items[0] !== 'string') return fail('OrderedDict called with unexpected arguments');
    dict.set(pair.items[0], pair.items[1]);
  }
  return dict;
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(args: Value[], fail: (problem: string) => never): TensorRef {
  const [storage, offset, size, stride] = args;
  const ints = (v: Value): v is Tuple => v instanceof Tuple && v.items.every((d) => Number.isSafeInteger(d) && (d as number) >= 0);
  if (
    (args.length !== 6 && args.length !== 7) ||
    !isRecord(storage, 'storage') ||
    !Number.isSafeInteger(offset) ||
    (offset as number) < 0 ||
    !ints(size) ||
    !ints(stride) ||
    size.items.length !== stride.items.length
  ) {
    return fail('a tensor is described with arguments this reader does not understand');
  }
  return { kind: 'tensor', storage, offset: offset as number, shape: size.items as number[], stride: stride.items as number[] };
}

/** torch's persistent id for a storage: ('storage', storage_type, key, location, numel). */
function persistentStorage(pid: Value, storages: Map<string, StorageRef>, fail: (problem: string) => never): StorageRef {
  if (!(pid instanceof Tuple) || pid.items.length !== 5) return fail('a persistent id is not a storage reference');
  const [tag, type, key, location, numel] = pid.items;
  if (tag !== 'storage' || !isRecord(type, 'global') || !type.storage || typeof key !== 'string' || typeof location !== 'string' || !Number.isSafeInteger(numel) || (numel as number) < 0) {
    return fail('a persistent id is not a storage reference');
  }
  const known = storages.get(key);
  if (known && (known.dtype !== type.storage || known.numel !== numel)) fail(`storage ${key} is described twice, differently`);
  const storage: StorageRef = known ?? { kind: 'storage', dtype: type.storage, key, numel: numel as number };
  storages.set(key, storage);
  return storage;
}
