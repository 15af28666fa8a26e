/**
 * The inferred chains as the engine's graph, in Keras vocabulary and the engine's layouts:
 * Linear [out, in] → Dense kernel [in, out]; Conv2d [out, in, kh, kw] → Conv2D kernel
 * [kh, kw, in, out]. A Linear after a Conv2d reads the feature map flattened channel-major
 * (c·P + p, NCHW as torch.flatten does): its Flatten is marked so, and its rows keep PyTorch's order.
 */
import { activationByName } from '../../structure/activations';
import { InputError } from '../../model/errors';
import { LayerNode, makeGraph, ModelGraph, Shape } from '../../model/graph';
import { NamedWeight, Tensor, transpose } from '../../model/tensor';
import { LayerSpec, StateDictLayout } from './chain';
import { layerKind } from '../../structure/layerKinds';

/** PyTorch's BatchNorm default; a state dict does not record it. */
export const BATCH_NORM_EPSILON = 1e-5;
/** PyTorch's LeakyReLU default slope. */
const LEAKY_RELU_SLOPE = 0.01;

/** Converts a layer's weight between PyTorch's layout and the engine's. */
export interface WeightLayout {
  toEngine: (t: Tensor) => Tensor;
  toTorch: (t: Tensor) => Tensor;
}

export function weightLayout(layer: LayerSpec): WeightLayout {
  if (layer.kind === 'Conv2D') {
    return { toEngine: (t) => transpose(t, t.shape, [2, 3, 1, 0]), toTorch: (t) => transpose(t, t.shape, [3, 2, 0, 1]) };
  }
  return { toEngine: (t) => transpose(t, t.shape, [1, 0]), toTorch: (t) => transpose(t, t.shape, [1, 0]) };
}

/** The activation between layers: a Keras name, or leaky_relu with PyTorch's slope. */
function activationLayer(file: string, name: string): Pick<LayerNode, 'className' | 'config'> {
  if (name === 'leaky_relu') return { className: 'LeakyReLU', config: { alpha: LEAKY_RELU_SLOPE } };
  const fn = activationByName(name);
  if (!fn) {
    throw new InputError(file, `unknown activation "${name}" between the layers (use relu, leaky_relu, gelu, tanh, sigmoid, elu, selu, softplus, swish or linear)`);
  }
  return { className: 'Activation', config: { activation: fn.name } };
}

/**
 * One Sequential-like path per chain: Input → [Flatten] → Dense/Conv2D → [BatchNormalization] →
 * activation → … → last layer. Inputs, flattens and activations are synthetic: the state dict
 * does not name them. Unmatched modules become weight holders the engine does not analyse.
 */
export function buildTorchGraph(file: string, layout: StateDictLayout, weights: Map<string, NamedWeight>, activation: string): ModelGraph {
  const between = activationLayer(file, activation);
  const layers: LayerNode[] = [];
  const inputs: string[] = [];
  const outputs: string[] = [];
  const newNode = (name: string, className: string, config: Record<string, unknown>, outputShape: Shape | null): LayerNode =>
    ({ name, className, config, inbound: [], outbound: [], shared: false, weights: new Map(), outputShape });
  /** Appends a node fed by the one before it (unless it is an input). */
  const add = (name: string, className: string, config: Record<string, unknown>, outputShape: Shape, synthetic = false): LayerNode => {
    const previous = layers[layers.length - 1];
    const node = newNode(name, className, config, outputShape);
    if (synthetic) node.synthetic = true;
    if (className !== 'InputLayer') {
      node.inbound.push(previous.name);
      previous.outbound.push(name);
    }
    layers.push(node);
    return node;
  };

  const addUnmatched = (position: number): void => {
    for (const module of layout.unmatched.filter((m) => m.position === position)) {
      const node = newNode(module.name, 'Unmatched', {}, null);
      for (const t of module.tensors) node.weights.set(t.name.slice(t.name.lastIndexOf('.') + 1), weights.get(t.name)!);
      layers.push(node);
    }
  };
  layout.chains.forEach((chain, c) => {
    addUnmatched(c);
    const first = chain[0];
    const inputShape: Shape = first.kind === 'Dense' ? [first.inputs] : [null, null, first.inputs];
    inputs.push(add(`input ${c + 1}`, 'InputLayer', { batch_input_shape: [null, ...inputShape] }, inputShape, true).name);
    chain.forEach((layer, i) => {
      const next = chain[i + 1];
      if (layer.flatten) add(`${layer.name} flatten`, 'Flatten', {}, [layer.inputs], true).channelMajor = true;
      // Only the positions a following Linear reads are known; the height and width themselves are not.
      const shape: Shape = layer.kind === 'Dense' ? [layer.units] : next?.flatten ? [1, next.flatten.positions, layer.units] : [null, null, layer.units];
      const node = add(layer.name, layer.kind, layerConfig(layer), shape);
      setWeights(node, [['weight', layer.weight], ...(layer.bias ? [['bias', layer.bias] as const] : [])], weights);
      if (layer.batchNorm) {
        const bn = add(layer.batchNorm.name, 'BatchNormalization', { axis: -1, epsilon: BATCH_NORM_EPSILON }, shape);
        setWeights(bn, layer.batchNorm.tensors, weights);
      }
      if (next) add(`${layer.name} activation`, between.className, between.config, shape, true);
    });
    outputs.push(layers[layers.length - 1].name);
  });
  addUnmatched(layout.chains.length);
  return makeGraph(file, 'Sequential', layers, inputs, outputs);
}

/** A node's weights under the engine's roles, as the table of layer kinds names PyTorch's (num_batches_tracked has none). */
function setWeights(node: LayerNode, tensors: Iterable<readonly [string, { name: string }]>, weights: Map<string, NamedWeight>): void {
  const roles = layerKind(node.className)!.torch!;
  for (const [torchRole, t] of tensors) {
    const role = roles.get(torchRole);
    if (role) node.weights.set(role, weights.get(t.name)!);
  }
}

function layerConfig(layer: LayerSpec): Record<string, unknown> {
  const common = { activation: 'linear', use_bias: layer.bias !== null };
  if (layer.kind === 'Dense') return { ...common, units: layer.units };
  return { ...common, filters: layer.units, kernel_size: layer.kernelSize, strides: [1, 1], padding: 'valid' };
}
