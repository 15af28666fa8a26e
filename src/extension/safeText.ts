/**
 * Text that came from a model file or a path, made inert before VS Code shows it in a notification,
 * a progress title, a quick pick or a tree item. Notifications turn `[label](command:id "title")`
 * into a link that runs the command, and quick picks draw `$(icon)`: a weight, tensor, zip-entry or
 * file name must not be able to do either. The panel shows the full text in text nodes and the
 * "Condense" log keeps it unchanged. Free of `vscode` so it is unit-tested directly.
 */
import { WorkerFailure } from './workerClient';

/** Longer texts are cut: a notification is one line to read, the log has the rest. */
export const MAX_DISPLAY_CHARS = 1000;

/** Stand-ins that read the same and match no link or icon syntax. */
const REPLACEMENTS: [RegExp, string][] = [
  // Line breaks, other control characters and bidirectional overrides (which can reorder what is read).
  // eslint-disable-next-line no-control-regex -- control characters are what this replaces
  [/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g, ' '],
  [/\[/g, '\uff3b'],
  [/\]/g, '\uff3d'],
  [/\$\(/g, '\uff04('],
  // The schemes that run something inside VS Code, in case a renderer links them without brackets.
  [/\b(command|vscode(?:-insiders)?)\s*:/gi, '$1\u2236'],
];

/** `text` with every link and icon syntax broken, control characters as spaces, and cut to `max` characters. */
export function safeDisplayText(text: string, max = MAX_DISPLAY_CHARS): string {
  let safe = String(text);
  for (const [pattern, replacement] of REPLACEMENTS) safe = safe.replace(pattern, replacement);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

/** A failed command's message: the file's own problem as the engine words it, anything else as a failure of Condense. */
export function failureMessage(e: unknown): string {
  if (e instanceof WorkerFailure && e.input) return e.message;
  return `Condense failed: ${e instanceof Error ? e.message : String(e)}`;
}

/** The notification for a failed command (the panel and the log get `failureMessage` unchanged). */
export function failureNotice(e: unknown): string {
  return safeDisplayText(`Condense: ${failureMessage(e)}`);
}
