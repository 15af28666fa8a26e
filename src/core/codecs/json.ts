/** A parsed JSON value that is an object (not null, not an array): the check before reading its fields. */
export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
