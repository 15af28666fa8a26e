import { Rng } from './random';

/**
 * Names that have broken tools before: markdown command links (rendered by VS Code), prototype
 * keys, paths, control characters, very long ones. Non-UTF-8 bytes are in `hostileNameBytes`.
 */
export const HOSTILE_NAMES: readonly string[] = [
  '[x](command:workbench.action.quit "t")',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  '',
  ' ',
  '../../../../etc/passwd',
  '/dev/zero',
  'a/b\\c',
  '<img src=x onerror=alert(1)>',
  '${name}',
  '%s%n%x',
  'name\nwith newline',
  '\u0000',
  '\u202eevil',
  'x'.repeat(70_000),
  '🙂'.repeat(5000),
];

/** A hostile name as bytes: sometimes one that is not valid UTF-8. */
export function hostileNameBytes(rng: Rng): Buffer {
  if (rng.chance(0.25)) return Buffer.from([0x6e, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x78]);
  return Buffer.from(rng.pick(HOSTILE_NAMES), 'utf8');
}

/** Integers at the edges: zero, negative, around 2^31, 2^32, 2^53 and beyond. */
export const EDGE_INTEGERS: readonly number[] = [
  0, 1, -1, 2, 3, 7, 255, 256, 65535, 65536, -2147483648, 2147483647, 2147483648, 4294967295, 4294967296,
  1e9, 2 ** 40, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e300,
];

/** Values of other types and extremes, for any JSON position. */
export function oddJsonValue(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => null,
    () => true,
    () => rng.pick(EDGE_INTEGERS),
    () => -rng.pick(EDGE_INTEGERS),
    () => 0.5,
    () => rng.pick(HOSTILE_NAMES),
    () => [],
    () => {
      const obj: Record<string, unknown> = {};
      obj[rng.pick(['__proto__', 'constructor', 'x'])] = { polluted: true };
      return obj;
    },
    () => JSON.parse('{"__proto__": {"polluted": true}}') as unknown,
    () => Array.from({ length: rng.pick([2, 100, 100_000]) }, () => 1),
    () => 'NaN',
    () => 'Infinity',
  ])();
}

/** A shape that is wrong in one of the ways readers get wrong. */
export function oddShape(rng: Rng): number[] {
  return rng.pick<number[]>([
    [],
    [0],
    [-1],
    [0, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [1e9, 1e9],
    [2 ** 31, 2 ** 31],
    [2 ** 53],
    [4294967296, 1],
    [3.5],
    [1, -5],
  ]);
}

export const ODD_DTYPES: readonly string[] = [
  'float64', 'float16', 'int8', 'int64', 'uint8', 'bool', 'string', 'complex64', 'bfloat16', 'int4', 'F8_E4M3', 'F64', 'I64', 'BOOL',
  'U8', 'F16', 'BF16', 'float32 ', '', '__proto__',
];
