/**
 * A small float64 evaluator over the engine's own graph, for the data-aware steps: it yields each
 * layer's output on calibration inputs, for the original network or one whose weights are being
 * replaced (reduced widths follow from the weights' shapes). This is the walker: it computes each
 * layer once, when asked, feeding its inputs and weights to the kernel the table of layer kinds
 * names for it (compute/kernels). A layer without a kernel has no value, and neither has anything
 * computed from it: callers fall back to the weights-only path there, with the reason given.
 */
import { LayerNode, ModelGraph } from '../model/graph';
import { Tensor } from '../model/tensor';
import { layerKind } from '../structure/layerKinds';
import { KernelContext, notEvaluated } from './kernels/kernel';
import { linearOutput } from './kernels/linear';
import { ProductEngine, typescriptProducts } from './linalg';
import { isUnsupported, Outcome, Value } from './value';
import { excerpt } from '../codecs/json';

// What the evaluator's callers read along with it.
export { isUnsupported } from './value';
export type { Outcome, Value } from './value';
export { layerRows, rowCount } from './kernels/linear';
export type { LayerRows } from './kernels/linear';

/** The weight a layer uses in the network being evaluated (reduced copies replace originals). */
export type WeightLookup = (layer: LayerNode, role: string) => Tensor | undefined;

export const originalWeights: WeightLookup = (layer, role) => layer.weights.get(role);

/** The network with `changed` weights (by weight name) in place of the originals. */
export const replacedWeights = (changed: Map<string, Tensor>): WeightLookup => (layer, role) => {
  const w = layer.weights.get(role);
  return w && (changed.get(w.name) ?? w);
};

/**
 * Lazily evaluates layers on one batch, each once; ask only for layers whose weights are final.
 * Asynchronous because the products may run on a native engine (see ProductEngine).
 */
export class GraphEvaluator {
  private readonly values = new Map<string, Promise<Outcome>>();
  private readonly linear = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly graph: ModelGraph,
    private readonly input: Value,
    private readonly weight: WeightLookup = originalWeights,
    private readonly products: ProductEngine = typescriptProducts,
  ) {}

  output(name: string): Promise<Outcome> {
    let value = this.values.get(name);
    if (!value) {
      value = this.evaluate(this.graph.byName.get(name)!);
      this.values.set(name, value);
    }
    return value;
  }

  /** A Dense/Conv2D layer's pre-activation (kept: the refit's targets are the original network's). */
  preActivation(layer: LayerNode): Promise<Outcome> {
    let z = this.linear.get(layer.name);
    if (!z) {
      z = this.inputOf(layer).then((x) => (isUnsupported(x) ? x : linearOutput(layer, x, (role) => this.weight(layer, role), this.products)));
      this.linear.set(layer.name, z);
    }
    return z;
  }

  /** The (only) input of a layer: the output of the layer feeding it. */
  async inputOf(layer: LayerNode): Promise<Outcome> {
    if (layer.inbound.length !== 1) return { unsupported: `${excerpt(layer.name)} has ${layer.inbound.length} inputs` };
    return this.output(layer.inbound[0]);
  }

  private async evaluate(layer: LayerNode): Promise<Outcome> {
    const kind = layerKind(layer.className);
    if (kind?.channels === 'input') {
      return this.graph.inputs.length === 1 ? this.input : { unsupported: 'the model has several inputs' };
    }
    const kernel = kind?.kernel;
    const inputs = kernel?.reads === 'all'
      ? await Promise.all(layer.inbound.map((name) => this.output(name)))
      : [await this.inputOf(layer)];
    const missing = inputs.find(isUnsupported);
    if (missing) return missing;
    if (!kernel) return notEvaluated(layer);
    const context: KernelContext = { weight: (role) => this.weight(layer, role), preActivation: () => this.preActivation(layer) };
    return kernel.run(layer, inputs as Value[], context);
  }
}
