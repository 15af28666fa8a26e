import { InputError } from './errors';
import { MAX_TENSOR_ELEMENTS, NamedWeight, sizeOf } from './tensor';
import { excerpt } from '../codecs/json';

/** Shape without the batch axis; null entries are unknown sizes. */
export type Shape = (number | null)[];

export interface LayerNode {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Layers feeding this one (first call only). */
  inbound: string[];
  outbound: string[];
  /** Called on more than one input (a shared layer): its channels are tied across calls. */
  shared: boolean;
  /** This layer's weights by role ("kernel", "bias", "gamma", …). */
  weights: Map<string, NamedWeight>;
  outputShape: Shape | null;
  /** The input a Sequential model implies without naming it; not shown to users. */
  synthetic?: boolean;
  /**
   * Flatten only: its input is stored channels-first (NCHW, as in ONNX), so the flattened index is
   * channel · positions + position, not position · channels + channel. Shapes stay channels-last.
   */
  channelMajor?: boolean;
}

export interface ModelGraph {
  modelClass: string;
  /** In topological order. */
  layers: LayerNode[];
  byName: Map<string, LayerNode>;
  inputs: string[];
  outputs: string[];
}

/** Checks names are unique and orders the layers topologically (refusing cycles). */
export function makeGraph(file: string, modelClass: string, layers: LayerNode[], inputs: string[], outputs: string[]): ModelGraph {
  const byName = new Map<string, LayerNode>();
  for (const layer of layers) {
    if (byName.has(layer.name)) throw new InputError(file, `two layers are named "${layer.name}"`);
    byName.set(layer.name, layer);
  }
  return { modelClass, layers: topologicalOrder(file, layers, byName), byName, inputs, outputs };
}

function topologicalOrder(file: string, layers: LayerNode[], byName: Map<string, LayerNode>): LayerNode[] {
  const done = new Set<string>();
  const visiting = new Set<string>();
  const order: LayerNode[] = [];
  const visit = (layer: LayerNode): void => {
    if (done.has(layer.name)) return;
    if (visiting.has(layer.name)) throw new InputError(file, `the layer graph has a cycle through "${layer.name}"`);
    visiting.add(layer.name);
    for (const name of layer.inbound) visit(byName.get(name)!);
    visiting.delete(layer.name);
    done.add(layer.name);
    order.push(layer);
  };
  layers.forEach(visit);
  return order;
}

// ---- checks ---------------------------------------------------------------------------------------

/**
 * Refuses a graph whose configs and weights do not fit together, before the engine relies on them:
 * every inferred shape is whole sizes within the allocation limit, every width a reduction changes
 * (Dense units, Conv2D filters) is a positive integer that its kernel and bias agree with, and every
 * layer the similarity reads (kernels, batch normalisation statistics) has those weights.
 */
export function checkGraph(file: string, graph: ModelGraph): void {
  for (const layer of graph.layers) {
    for (const field of CONFIG_NUMBERS.get(layer.className) ?? []) configNumber(file, layer, field);
    checkLayerWeights(file, layer);
    checkOutputShape(file, layer);
  }
}

/**
 * Numeric config fields the engine and the predictors compute with, by layer class. A string there
 * would be concatenated instead of added (a string epsilon made TF.js run for minutes).
 */
const CONFIG_NUMBERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['BatchNormalization', ['epsilon', 'momentum']],
  ['Concatenate', ['axis']],
  ['Conv2D', ['groups']],
  ['DepthwiseConv2D', ['depth_multiplier']],
  ['LeakyReLU', ['alpha']],
]);

/** A numeric config field: the fallback when absent, else a finite number, or the model is refused naming the layer and field. */
function configNumber(file: string, layer: LayerNode, field: string, fallback?: number): number | undefined {
  const value = Object.hasOwn(layer.config, field) ? layer.config[field] : undefined;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InputError(file, `layer "${layer.name}" (${layer.className}) has ${field} ${excerpt(value)}; it must be a finite number`);
  }
  return value;
}

function checkOutputShape(file: string, layer: LayerNode): void {
  const shape = layer.outputShape;
  if (!shape) return;
  if (!shape.every((d) => d === null || (Number.isSafeInteger(d) && d >= 0))) {
    throw new InputError(file, `layer "${layer.name}" (${layer.className}) would produce shape [${shape.join(', ')}], which is not whole sizes: its config does not fit its input`);
  }
  if (sizeOf(shape.filter((d): d is number => d !== null)) > MAX_TENSOR_ELEMENTS) {
    throw new InputError(file, `layer "${layer.name}" (${layer.className}) would produce shape [${shape.join(', ')}], more than this tool will allocate`);
  }
}

/** Dense and Conv2D: the width in the config, and the role of the kernel that must end in it. */
const WIDTHS: ReadonlyMap<string, string> = new Map([['Dense', 'units'], ['Conv2D', 'filters']]);

function checkLayerWeights(file: string, layer: LayerNode): void {
  // A declaration, not an arrow: only a declared never-returning function narrows what follows its call.
  function refuse(problem: string): never {
    throw new InputError(file, `layer "${layer.name}" (${layer.className}) ${problem}`);
  }
  const weight = (role: string): NamedWeight => layer.weights.get(role) ?? refuse(`has no ${role} in the weights (a layer renamed in the config?)`);
  const shapeText = (w: NamedWeight): string => `[${w.shape.join(', ')}]`;
  const widthKey = WIDTHS.get(layer.className);
  if (widthKey !== undefined) {
    const width = layer.config[widthKey];
    if (typeof width !== 'number' || !Number.isSafeInteger(width) || width <= 0) refuse(`has ${widthKey} ${excerpt(width)}; it must be a positive integer`);
    const kernel = weight('kernel');
    const rank = layer.className === 'Dense' ? 2 : 4;
    if (kernel.shape.length < rank || kernel.shape[kernel.shape.length - 1] !== width) refuse(`has ${widthKey} ${width}, but its kernel has shape ${shapeText(kernel)}`);
    const bias = layer.weights.get('bias');
    if (bias && sizeOf(bias.shape) !== width) refuse(`has ${widthKey} ${width}, but its bias has shape ${shapeText(bias)}`);
  } else if (layer.className === 'DepthwiseConv2D') {
    const kernel = weight('depthwise_kernel');
    if (kernel.shape.length !== 4) refuse(`has a depthwise kernel of shape ${shapeText(kernel)}; it must have 4 axes`);
    const bias = layer.weights.get('bias');
    if (bias && sizeOf(bias.shape) !== kernel.shape[2] * kernel.shape[3]) refuse(`has a bias of shape ${shapeText(bias)} for a kernel of shape ${shapeText(kernel)}`);
  } else if (layer.className === 'BatchNormalization') {
    const channels = sizeOf(weight('moving_mean').shape);
    for (const role of ['moving_variance', 'gamma', 'beta']) {
      const w = role === 'moving_variance' ? weight(role) : layer.weights.get(role);
      if (w && sizeOf(w.shape) !== channels) refuse(`has ${role} of shape ${shapeText(w)} but ${channels} moving means`);
    }
  }
}

// ---- window settings (kernel, strides, padding) as configs give them -----------------------------

export function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

/** Keras "valid"/"same", or explicit amounts before and after (ONNX pads). */
export type Padding = string | [number, number];

/** Per spatial axis: `padding` is a Keras string or explicit [[top, bottom], [left, right]]. */
export function paddings(value: unknown): [Padding, Padding] {
  if (Array.isArray(value) && Array.isArray(value[0]) && Array.isArray(value[1])) {
    return [value[0].map(Number) as [number, number], value[1].map(Number) as [number, number]];
  }
  // Anything but a Keras padding name (absent, or malformed) counts as "valid", as the size arithmetic treats any name but "same".
  const padding = typeof value === 'string' ? value : 'valid';
  return [padding, padding];
}

export function kernelSize(layer: LayerNode): [number, number] {
  return pair(layer.config.kernel_size, 1);
}
