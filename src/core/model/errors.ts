/**
 * An error caused by the user's input (a model file, a data file, an output folder).
 * The CLI maps it to exit code 2; the message always names the file and the problem.
 */
export class InputError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'InputError';
  }
}

/** Thrown when a long-running job is cancelled by its caller. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

/** Cooperative cancellation: long loops call `check()` between units of work. */
export interface CancelToken {
  readonly cancelled: boolean;
}

export function throwIfCancelled(token: CancelToken | undefined): void {
  if (token?.cancelled) throw new CancelledError();
}

/** Longest reason quoted from another library's error: it may repeat names and values from the file. */
const MAX_REASON_CHARS = 240;

/**
 * Another library's error (onnxruntime, tfjs) as one bounded line for an InputError: its first
 * line, with control characters and bidirectional overrides escaped (the names it quotes come from
 * the file), cut at MAX_REASON_CHARS.
 */
export function foreignReason(e: unknown): string {
  const text = (e instanceof Error ? e.message : String(e)).trim().split('\n')[0];
  // eslint-disable-next-line no-control-regex -- control characters are what this escapes
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return safe.length > MAX_REASON_CHARS ? `${safe.slice(0, MAX_REASON_CHARS - 1)}…` : safe;
}

/**
 * A model the runtime of the post-write check (onnxruntime) cannot load or run. Bad input, but the
 * check tells the original's failure apart from the reduced model's: see cli/check.ts.
 */
export class UnrunnableModel extends InputError {
  constructor(
    file: string,
    readonly runtime: string,
    readonly reason: string,
  ) {
    super(file, `${runtime} cannot run this model: ${reason}`);
  }
}
