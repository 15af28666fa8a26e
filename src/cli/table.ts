/** Small text helpers for the CLI's output: plurals, lines fitted to the terminal, text safe to print. */

// C0 controls but newline and tab, DEL and C1, and the bidirectional marks, embeddings, overrides and isolates.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text for a terminal, with what a terminal would act on written as \uXXXX: a layer name from a file
 * cannot move the cursor, recolour or clear the screen, or reorder the line around it. JSON output stays
 * JSON — such characters can only stand inside its strings, where the escape means the same.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`;
}

/**
 * A table line cut to `columns` (a terminal's width) with an ellipsis; the last column (notes) is what
 * goes. Without a width (not a terminal: a file or a pipe) lines are left whole.
 */
export function fitLine(line: string, columns?: number): string {
  if (!columns || line.length <= columns) return line;
  return `${line.slice(0, Math.max(1, columns - 1))}…`;
}
