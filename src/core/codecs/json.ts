import { InputError } from '../model/errors';

/** A parsed JSON value that is an object (not null, not an array): the check before reading its fields. */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Deeper than any model config or data file (Keras nests a few levels per layer); the engine walks,
 * clones and serialises parsed JSON recursively, so an absurdly deep value would overflow the stack.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * JSON text from a model or data file, parsed once its nesting is known to be at most MAX_JSON_DEPTH.
 * `where` names the part of the file ("the header"), when the JSON is not the whole file; errors are InputErrors naming the file.
 */
export function parseJsonInput(file: string, text: string, where?: string): unknown {
  checkJsonDepth(file, text, where ?? 'the JSON');
  try {
    return JSON.parse(text);
  } catch (e) {
    const problem = (e as Error).message;
    throw new InputError(file, where ? `${where} is not valid JSON: ${problem}` : `malformed JSON: ${problem}`);
  }
}

/** Counts brackets outside strings, without recursion: the text need not be valid JSON yet. */
function checkJsonDepth(file: string, text: string, where: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > MAX_JSON_DEPTH) throw new InputError(file, `${where} nests arrays or objects more than ${MAX_JSON_DEPTH} deep`);
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
}

const EXCERPT_CHARS = 60;

/**
 * A value from a file as a bounded, escaped, one-line excerpt for a message: never the whole of an
 * unbounded value (a huge string, a deeply nested array).
 */
export function excerpt(value: unknown): string {
  let out = '';
  const add = (s: string): boolean => {
    out += s;
    return out.length <= EXCERPT_CHARS;
  };
  // Depth-limited, and stops as soon as the excerpt is full.
  const write = (v: unknown, depth: number): boolean => {
    if (typeof v === 'string') return add(JSON.stringify(v.length > EXCERPT_CHARS ? v.slice(0, EXCERPT_CHARS) : v));
    if (typeof v === 'number' || typeof v === 'boolean' || v === null) return add(String(v));
    if (v === undefined) return add('undefined');
    if (typeof v !== 'object') return add(typeof v);
    if (depth >= 3) return add(Array.isArray(v) ? '[…]' : '{…}');
    const entries: [string | null, unknown][] = Array.isArray(v) ? v.map((x) => [null, x]) : Object.entries(v);
    if (!add(Array.isArray(v) ? '[' : '{')) return false;
    for (const [i, [key, x]] of entries.entries()) {
      if (i > 0 && !add(',')) return false;
      if (key !== null && !add(`${JSON.stringify(key.slice(0, EXCERPT_CHARS))}:`)) return false;
      if (!write(x, depth + 1)) return false;
    }
    return add(Array.isArray(v) ? ']' : '}');
  };
  return write(value, 0) ? out : `${out.slice(0, EXCERPT_CHARS)}…`;
}
