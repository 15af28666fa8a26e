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
    if (byName.has(layer.name)) throw new InputError(file, `two layers are named ${excerpt(layer.name)}`);
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
    if (visiting.has(layer.name)) throw new InputError(file, `the layer graph has a cycle through ${excerpt(layer.name)}`);
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
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) has ${field} ${excerpt(value)}; it must be a finite number`);
  }
  return value;
}

function checkOutputShape(file: string, layer: LayerNode): void {
  const shape = layer.outputShape;
  if (!shape) return;
  if (!shape.every((d) => d === null || (Number.isSafeInteger(d) && d >= 0))) {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) would produce shape [${shape.join(', ')}], which is not whole sizes: its config does not fit its input`);
  }
  if (sizeOf(shape.filter((d): d is number => d !== null)) > MAX_TENSOR_ELEMENTS) {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) would produce shape [${shape.join(', ')}], more than this tool will allocate`);
  }
}

/** Dense and Conv2D: the width in the config, and the role of the kernel that must end in it. */
const WIDTHS: ReadonlyMap<string, string> = new Map([['Dense', 'units'], ['Conv2D', 'filters']]);

function checkLayerWeights(file: string, layer: LayerNode): void {
  // A declaration, not an arrow: only a declared never-returning function narrows what follows its call.
  function refuse(problem: string): never {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) ${problem}`);
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

// ---- shapes ---------------------------------------------------------------------------------------

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

function convOut(size: number | null, kernel: number, stride: number, dilation: number, padding: Padding): number | null {
  if (size === null) return null;
  if (padding === 'same') return Math.ceil(size / stride);
  const [before, after] = Array.isArray(padding) ? padding : [0, 0];
  return Math.floor((size + before + after - dilation * (kernel - 1) - 1) / stride) + 1;
}

export function kernelSize(layer: LayerNode): [number, number] {
  return pair(layer.config.kernel_size, 1);
}

const SHAPE_PRESERVING = new Set([
  'BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'ELU', 'PReLU', 'Softmax', 'ThresholdedReLU',
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'ActivityRegularization', 'Masking', 'LayerNormalization', 'Add', 'Subtract', 'Multiply', 'Average',
  'Maximum', 'Minimum',
]);

/** Fills in every layer's output shape, in topological order (layers it does not know get null). */
export function inferShapes(graph: ModelGraph): void {
  for (const layer of graph.layers) {
    const input = layer.inbound.length ? graph.byName.get(layer.inbound[0])!.outputShape : null;
    layer.outputShape = outputShapeOf(layer, input, graph);
  }
}

function outputShapeOf(layer: LayerNode, input: Shape | null, graph: ModelGraph): Shape | null {
  const c = layer.config;
  if (layer.className === 'InputLayer') {
    const shape = c.batch_input_shape ?? c.batchInputShape ?? c.batch_shape;
    return Array.isArray(shape) ? (shape.slice(1) as Shape) : null;
  }
  if (!input) return null;
  switch (layer.className) {
    case 'Dense':
      return [...input.slice(0, -1), Number(c.units)];
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      if (input.length !== 3 || c.data_format === 'channels_first') return null;
      const [kh, kw] = kernelSize(layer);
      const [sh, sw] = pair(c.strides, 1);
      const [dh, dw] = pair(c.dilation_rate, 1);
      const [padH, padW] = paddings(c.padding);
      const channels =
        layer.className === 'Conv2D' ? Number(c.filters) : input[2] === null ? null : input[2] * Number(c.depth_multiplier ?? 1);
      return [convOut(input[0], kh, sh, dh, padH), convOut(input[1], kw, sw, dw, padW), channels];
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      if (input.length !== 3) return null;
      const [ph, pw] = pair(c.pool_size, 2);
      const [sh, sw] = c.strides == null ? [ph, pw] : pair(c.strides, ph);
      const [padH, padW] = paddings(c.padding);
      return [convOut(input[0], ph, sh, 1, padH), convOut(input[1], pw, sw, 1, padW), input[2]];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      return c.keepdims ? [1, 1, input[input.length - 1]] : [input[input.length - 1]];
    case 'ZeroPadding2D': {
      if (input.length !== 3) return null;
      const p = c.padding;
      let top = 1, bottom = 1, left = 1, right = 1;
      if (typeof p === 'number') top = bottom = left = right = p;
      else if (Array.isArray(p) && Array.isArray(p[0])) {
        [top, bottom] = p[0] as number[];
        [left, right] = p[1] as number[];
      } else if (Array.isArray(p)) {
        top = bottom = Number(p[0]);
        left = right = Number(p[1]);
      }
      return [input[0] === null ? null : input[0] + top + bottom, input[1] === null ? null : input[1] + left + right, input[2]];
    }
    case 'Flatten':
      return [input.some((d) => d === null) ? null : input.reduce<number>((a, b) => a * (b as number), 1)];
    case 'Concatenate': {
      const shapes = layer.inbound.map((n) => graph.byName.get(n)!.outputShape);
      if (shapes.some((s) => !s)) return null;
      const requested = Number(c.axis ?? -1);
      const axis = requested < 0 ? input.length + requested : requested - 1;
      const out = input.slice();
      out[axis] = shapes.reduce<number | null>((sum, s) => (sum === null || s![axis] === null ? null : sum + s![axis]), 0);
      return out;
    }
    default:
      return SHAPE_PRESERVING.has(layer.className) ? input.slice() : null;
  }
}
