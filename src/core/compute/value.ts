/** What the evaluator computes per layer: a batch of values, or why there is none. */

/** A batch: shape includes the leading sample axis; images are channels-last. */
export interface Value {
  shape: number[];
  data: Float64Array;
}

/** Why a layer has no value (it, or something it reads, is not supported). */
export interface Unsupported {
  unsupported: string;
}

export type Outcome = Value | Unsupported;

export const isUnsupported = <T extends object>(o: T | Unsupported): o is Unsupported => 'unsupported' in o;
