/**
 * Minimal edits to JSON text: the values that changed are rewritten in place and every other byte
 * (Python's separators, float spellings such as 1.0 and 1e-07, key order) stays as the writer left it.
 */

type Path = (string | number)[];

/** Paths whose value differs between `before` and `after` (descending into objects and equal-length arrays), with the new value. */
export function jsonDifferences(before: unknown, after: unknown, path: Path = [], out = new Map<string, unknown>()): Map<string, unknown> {
  const bothArrays = Array.isArray(before) && Array.isArray(after) && before.length === after.length;
  const bothObjects = isObject(before) && isObject(after) && sameKeys(before, after);
  if (bothArrays) {
    (after as unknown[]).forEach((v, i) => jsonDifferences((before as unknown[])[i], v, [...path, i], out));
  } else if (bothObjects) {
    for (const key of Object.keys(after)) {
      jsonDifferences(before[key], after[key], [...path, key], out);
    }
  } else if (JSON.stringify(before) !== JSON.stringify(after)) {
    out.set(JSON.stringify(path), after);
  }
  return out;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function sameKeys(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => k in b);
}

/** `text` with the value at each path (keys of `replacements`, as made by jsonDifferences) rewritten. */
export function patchJson(text: string, replacements: Map<string, unknown>): string {
  const splices: [number, number, string][] = [];
  let at = 0;
  const space = (): void => {
    while (at < text.length && /\s/.test(text[at])) at++;
  };
  const value = (path: Path): void => {
    space();
    const start = at;
    const c = text[at];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      at++;
      space();
      for (let index = 0; text[at] !== close; index++) {
        let key: string | number = index;
        if (c === '{') {
          const keyStart = at;
          string();
          key = JSON.parse(text.slice(keyStart, at)) as string;
          space();
          at++; // ':'
        }
        value([...path, key]);
        space();
        if (text[at] === ',') at++;
        space();
      }
      at++;
    } else if (c === '"') {
      string();
    } else {
      while (at < text.length && !/[\s,\]}]/.test(text[at])) at++;
    }
    const key = JSON.stringify(path);
    if (replacements.has(key)) splices.push([start, at, JSON.stringify(replacements.get(key))]);
  };
  const string = (): void => {
    at++;
    while (text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    at++;
  };
  value([]);
  let out = '';
  let from = 0;
  for (const [start, end, replacement] of splices.sort((a, b) => a[0] - b[0])) {
    out += text.slice(from, start) + replacement;
    from = end;
  }
  return out + text.slice(from);
}
