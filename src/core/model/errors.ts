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
