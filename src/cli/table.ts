/** Small text helpers for the CLI's output: plurals, and lines fitted to the terminal. */

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
