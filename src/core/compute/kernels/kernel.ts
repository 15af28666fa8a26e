/**
 * One small function per layer kind computes a layer's output from its inputs; the graph walker
 * (GraphEvaluator) finds it through the table of layer kinds and feeds it.
 */
import { LayerNode } from '../../model/graph';
import { Tensor } from '../../model/tensor';
import { Outcome, Value } from '../value';
import { excerpt } from '../../codecs/json';

/** What the walker gives a kernel besides the layer and its inputs. */
export interface KernelContext {
  /** The layer's weight of this role in the network being evaluated (reduced copies replace originals). */
  weight: (role: string) => Tensor | undefined;
  /** A Dense/Conv2D layer's pre-activation, computed once by the walker (the refit reads it too). */
  preActivation(): Promise<Outcome>;
}

export interface Kernel {
  /** 'one': the layer's only input (a layer with several is refused); 'all': every inbound layer's output, in order. */
  readonly reads: 'one' | 'all';
  run(layer: LayerNode, inputs: Value[], context: KernelContext): Outcome | Promise<Outcome>;
}

/** Why a layer of a kind (or config) the evaluator does not compute has no value. */
export const notEvaluated = (layer: LayerNode): Outcome => ({ unsupported: `${excerpt(layer.className)} (${excerpt(layer.name)}) is not evaluated on calibration data` });
