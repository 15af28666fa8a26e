/**
 * How each layer kind of the engine's graph trains, in one table keyed by the engine's class name
 * (Keras vocabulary), so that every format retrains through the same network: `build` applies the
 * kind to its inputs as tfjs layers (channels-last, as the engine's graph is), `pytorch` describes it
 * as python/condense_train.py builds it, with the same settings and refusals, and `roles` lists the
 * engine's weight roles in the order both hold its weights, which is how the file's weights go in and
 * the trained ones come back out. Keyed by the kinds of the table of layer kinds
 * (structure/layerKinds.ts), whose entries without a builder here say why they are not trainable.
 */
import type * as TF from '@tensorflow/tfjs';
import { excerpt } from '../codecs/json';
import { InputError } from '../model/errors';
import { kernelSize, LayerNode, Padding, paddings, pair } from '../model/graph';
import { activationByName } from '../structure/activations';
import { activationLayer, isSoftmax, KindName } from '../structure/layerKinds';

/** A tfjs activation identifier (tfjs spells hard_sigmoid in camel case). */
type TfjsActivation = NonNullable<Parameters<typeof TF.layers.activation>[0]>['activation'];

/** What `build` produced: the output, and the tfjs layer holding the node's weights (in `roles` order). */
interface Built {
  output: TF.SymbolicTensor;
  weighted?: TF.layers.Layer;
}

/** A node's settings as condense_train.py reads them (see build_network there): its op and what that op needs. */
export type ScriptSettings = Record<string, unknown> & { op: string };

export interface TrainableKind {
  /** Applies the kind to its inputs; throws `Unbuildable` when this node's settings are beyond tfjs. */
  build(tf: typeof TF, node: LayerNode, inputs: TF.SymbolicTensor[]): Built;
  /** The node as the PyTorch script builds it; `inputRank` is its first input's (batch included). Throws `Unbuildable` where `build` does. */
  pytorch(node: LayerNode, inputRank: number): ScriptSettings;
  /** The engine's weight roles in the built layer's weight order; none for weightless kinds. */
  roles?(node: LayerNode): string[];
}

/** A node the trainer cannot build, and why (the caller names the file). */
export class Unbuildable extends Error {}

const has = (node: LayerNode, role: string): boolean => node.weights.has(role);
const usesBias = (node: LayerNode): boolean => node.config.use_bias !== false && has(node, 'bias');

/** The engine's activation name as tfjs knows it; softmax is not an element-wise ActivationFn but tfjs has it. */
function tfjsActivation(node: LayerNode, name: unknown): TfjsActivation {
  if (name === 'softmax') return 'softmax';
  const fn = activationByName(name);
  if (!fn) throw new Unbuildable(`activation ${excerpt(name)}`);
  const known: Record<string, TfjsActivation> = {
    linear: 'linear', relu: 'relu', relu6: 'relu6', elu: 'elu', selu: 'selu', sigmoid: 'sigmoid', hard_sigmoid: 'hardSigmoid',
    softplus: 'softplus', softsign: 'softsign', tanh: 'tanh', swish: 'swish', mish: 'mish', gelu: 'gelu', gelu_new: 'gelu_new',
  };
  const id = Object.hasOwn(known, fn.name) ? known[fn.name] : undefined;
  if (!id) throw new Unbuildable(`activation ${excerpt(fn.name)} of ${excerpt(node.name)}`);
  return id;
}

/** A window's padding: "same", "valid" or explicit [[top, bottom], [left, right]] (a side given as a string must be "valid"). */
function windowPadding(node: LayerNode): 'same' | 'valid' | [[number, number], [number, number]] {
  const [h, w] = paddings(node.config.padding);
  const explicit = (p: Padding): p is [number, number] => Array.isArray(p);
  if (!explicit(h) && !explicit(w)) {
    if ((h !== 'same' && h !== 'valid') || h !== w) throw new Unbuildable(`padding ${excerpt(h)}/${excerpt(w)}`);
    return h;
  }
  if ((!explicit(h) && h !== 'valid') || (!explicit(w) && w !== 'valid')) throw new Unbuildable('mixed padding');
  return [explicit(h) ? h : [0, 0], explicit(w) ? w : [0, 0]];
}

/** Explicit paddings as a ZeroPadding2D ahead of a "valid" layer; a Keras string as it is. */
function padded(tf: typeof TF, node: LayerNode, x: TF.SymbolicTensor): { x: TF.SymbolicTensor; padding: 'same' | 'valid' } {
  const padding = windowPadding(node);
  if (typeof padding === 'string') return { x, padding };
  const [[top, bottom], [left, right]] = padding;
  if (top + bottom + left + right === 0) return { x, padding: 'valid' };
  return { x: tf.layers.zeroPadding2d({ padding: [[top, bottom], [left, right]] }).apply(x) as TF.SymbolicTensor, padding: 'valid' };
}

/** A convolution's window (kernel size, strides, dilation), refusing channels-first data. */
function convWindow(node: LayerNode): { kernel: [number, number]; strides: [number, number]; dilation: [number, number] } {
  const c = node.config;
  if (c.data_format === 'channels_first') throw new Unbuildable('channels-first data');
  return { kernel: kernelSize(node), strides: pair(c.strides, 1), dilation: pair(c.dilation_rate, 1) };
}

/** Conv2D: only ungrouped convolutions. */
function ungrouped(node: LayerNode): void {
  if (Number(node.config.groups ?? 1) !== 1) throw new Unbuildable(`grouped convolution (${String(node.config.groups)} groups)`);
}

/** A pooling layer's window and strides (the window's size when the config gives none). */
function poolWindow(node: LayerNode): { pool: [number, number]; strides: [number, number] } {
  const pool = pair(node.config.pool_size, 2);
  return { pool, strides: node.config.strides == null ? pool : pair(node.config.strides, pool[0]) };
}

/** A batch normalisation's settings: it needs its moving statistics; scale and offset are optional. */
function batchNorm(node: LayerNode): { gamma: boolean; beta: boolean; epsilon: number; momentum: number } {
  if (!has(node, 'moving_mean') || !has(node, 'moving_variance')) throw new Unbuildable('no moving statistics');
  return { gamma: has(node, 'gamma'), beta: has(node, 'beta'), epsilon: Number(node.config.epsilon ?? 1e-3), momentum: Number(node.config.momentum ?? 0.99) };
}

/** Concatenation along the channels (the last axis of inputs of this rank, batch included) only. */
function channelConcatenation(node: LayerNode, rank: number): void {
  const axis = Number(node.config.axis ?? -1);
  if (axis !== -1 && axis !== rank - 1) throw new Unbuildable(`concatenation along axis ${axis}`);
}

/** Explicit pooling paddings only when they are what "same" pads (padding with zeros would change a max or an average). */
function poolPadding(node: LayerNode, input: TF.SymbolicTensor, pool: [number, number], strides: [number, number]): 'same' | 'valid' {
  const axes = paddings(node.config.padding);
  if (!axes.some(Array.isArray)) {
    const p = String(axes[0]);
    if (p !== 'same' && p !== 'valid') throw new Unbuildable(`padding ${excerpt(p)}`);
    return p;
  }
  const explicit = axes.map((p) => (Array.isArray(p) ? p : [0, 0]));
  if (explicit.every(([a, b]) => a === 0 && b === 0)) return 'valid';
  const same = [0, 1].every((axis) => {
    const size = input.shape[axis + 1];
    if (size == null) return false;
    const out = Math.ceil(size / strides[axis]);
    const total = Math.max((out - 1) * strides[axis] + pool[axis] - size, 0);
    return explicit[axis][0] === Math.floor(total / 2) && explicit[axis][1] === total - Math.floor(total / 2);
  });
  if (!same) throw new Unbuildable(`explicit pooling padding ${excerpt(explicit)}`);
  return 'same';
}

/** Keras ZeroPadding2D's padding (one number, [rows, columns] or [[top, bottom], [left, right]]) spelled out. */
function zeroPadding(p: unknown): [[number, number], [number, number]] {
  if (typeof p === 'number') return [[p, p], [p, p]];
  if (Array.isArray(p) && Array.isArray(p[0]) && Array.isArray(p[1])) return [[Number(p[0][0]), Number(p[0][1])], [Number(p[1][0]), Number(p[1][1])]];
  if (Array.isArray(p)) return [[Number(p[0]), Number(p[0])], [Number(p[1]), Number(p[1])]];
  return [[1, 1], [1, 1]];
}

const apply = (layer: TF.layers.Layer, inputs: TF.SymbolicTensor[]): TF.SymbolicTensor =>
  layer.apply(inputs.length === 1 ? inputs[0] : inputs) as TF.SymbolicTensor;

/** One input, run through `make()`'s layer. */
const single = (make: (tf: typeof TF, node: LayerNode) => TF.layers.Layer, pytorch: (node: LayerNode) => ScriptSettings): TrainableKind => ({
  build: (tf, node, [x]) => ({ output: apply(make(tf, node), [x]) }),
  pytorch,
});

const rate = (node: LayerNode): number => Number(node.config.rate ?? 0);
const dropout = single((tf, node) => tf.layers.dropout({ rate: rate(node) }), (node) => ({ op: 'dropout', rate: rate(node) }));

/** An activation layer's function as both trainers name it: tfjs's identifiers, or leaky ReLU and ELU with their slope. */
type LayerActivation = { name: TfjsActivation } | { name: 'leakyReLU' | 'elu'; alpha: number };

/** An activation layer's function; the table's function for it where it has one (LeakyReLU's slope included), ELU's alpha as it is. */
function layerActivation(node: LayerNode): LayerActivation {
  if (isSoftmax(node)) return { name: 'softmax' };
  // The engine's ELU is the one of alpha 1, the trainers' layers take any.
  if (node.className === 'ELU') return { name: 'elu', alpha: Number(node.config.alpha ?? 1) };
  const fn = activationLayer(node);
  if (!fn) throw new Unbuildable(`${node.className} with config ${excerpt(node.config)}`);
  const leaky = /^leaky_relu\((.*)\)$/.exec(fn.name);
  if (leaky) return { name: 'leakyReLU', alpha: Number(leaky[1]) };
  return { name: tfjsActivation(node, fn.name) };
}

const activationKind: TrainableKind = {
  build(tf, node, [x]) {
    const activation = layerActivation(node);
    if ('alpha' in activation) {
      const layer = activation.name === 'elu' ? tf.layers.elu({ alpha: activation.alpha }) : tf.layers.leakyReLU({ alpha: activation.alpha });
      return { output: apply(layer, [x]) };
    }
    if (activation.name === 'softmax') return { output: apply(tf.layers.softmax({ axis: -1 }), [x]) };
    return { output: apply(tf.layers.activation({ activation: activation.name }), [x]) };
  },
  pytorch: (node) => ({ op: 'activation', activation: layerActivation(node) }),
};

/** The table: engine class name → how it trains. */
export const TRAINABLE_KINDS: ReadonlyMap<string, TrainableKind> = new Map<KindName, TrainableKind>([
  ['Dense', {
    build(tf, node, [x]) {
      const weighted = tf.layers.dense({ units: Number(node.config.units), useBias: usesBias(node), activation: tfjsActivation(node, node.config.activation) });
      return { output: apply(weighted, [x]), weighted };
    },
    pytorch: (node) => ({ op: 'dense', bias: usesBias(node), activation: { name: tfjsActivation(node, node.config.activation) } }),
    roles: (node) => (usesBias(node) ? ['kernel', 'bias'] : ['kernel']),
  }],
  ['Conv2D', {
    build(tf, node, [input]) {
      const { kernel, strides, dilation } = convWindow(node);
      ungrouped(node);
      const { x, padding } = padded(tf, node, input);
      const weighted = tf.layers.conv2d({
        filters: Number(node.config.filters), kernelSize: kernel, strides, dilationRate: dilation,
        padding, useBias: usesBias(node), activation: tfjsActivation(node, node.config.activation),
      });
      return { output: apply(weighted, [x]), weighted };
    },
    pytorch(node) {
      const window = convWindow(node);
      ungrouped(node);
      return { op: 'conv2d', ...window, padding: windowPadding(node), bias: usesBias(node), activation: { name: tfjsActivation(node, node.config.activation) } };
    },
    roles: (node) => (usesBias(node) ? ['kernel', 'bias'] : ['kernel']),
  }],
  ['DepthwiseConv2D', {
    build(tf, node, [input]) {
      const { kernel, strides, dilation } = convWindow(node);
      const { x, padding } = padded(tf, node, input);
      const weighted = tf.layers.depthwiseConv2d({
        kernelSize: kernel, depthMultiplier: Number(node.config.depth_multiplier ?? 1), strides,
        dilationRate: dilation, padding, useBias: usesBias(node), activation: tfjsActivation(node, node.config.activation),
      });
      return { output: apply(weighted, [x]), weighted };
    },
    pytorch: (node) => ({
      op: 'depthwise', ...convWindow(node), padding: windowPadding(node), bias: usesBias(node), activation: { name: tfjsActivation(node, node.config.activation) },
    }),
    roles: (node) => (usesBias(node) ? ['depthwise_kernel', 'bias'] : ['depthwise_kernel']),
  }],
  ['BatchNormalization', {
    build(tf, node, [x]) {
      const { epsilon, momentum, gamma, beta } = batchNorm(node);
      // Channels-last as the engine holds every format; tfjs updates the moving statistics while training.
      const weighted = tf.layers.batchNormalization({ axis: -1, epsilon, momentum, center: beta, scale: gamma });
      return { output: apply(weighted, [x]), weighted };
    },
    pytorch: (node) => ({ op: 'batchnorm', ...batchNorm(node) }),
    roles: (node) => [...(has(node, 'gamma') ? ['gamma'] : []), ...(has(node, 'beta') ? ['beta'] : []), 'moving_mean', 'moving_variance'],
  }],
  ['Activation', activationKind],
  ['ReLU', activationKind],
  ['LeakyReLU', activationKind],
  ['ELU', activationKind],
  ['Softmax', activationKind],
  ['Dropout', dropout],
  ['SpatialDropout1D', dropout],
  ['SpatialDropout2D', dropout],
  ['GaussianNoise', single(
    (tf, node) => tf.layers.gaussianNoise({ stddev: Number(node.config.stddev ?? 0) }),
    (node) => ({ op: 'gaussianNoise', stddev: Number(node.config.stddev ?? 0) }),
  )],
  ['GaussianDropout', single((tf, node) => tf.layers.gaussianDropout({ rate: rate(node) }), (node) => ({ op: 'gaussianDropout', rate: rate(node) }))],
  ['AlphaDropout', single((tf, node) => tf.layers.alphaDropout({ rate: rate(node) }), (node) => ({ op: 'alphaDropout', rate: rate(node) }))],
  ...(['MaxPooling2D', 'AveragePooling2D'] as const).map((kind): [KindName, TrainableKind] => [kind, {
    build(tf, node, [x]) {
      const { pool, strides } = poolWindow(node);
      const args = { poolSize: pool, strides, padding: poolPadding(node, x, pool, strides) };
      return { output: apply(kind === 'MaxPooling2D' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args), [x]) };
    },
    pytorch: (node) => ({ op: kind === 'MaxPooling2D' ? 'maxpool' : 'avgpool', ...poolWindow(node), padding: windowPadding(node) }),
  }]),
  ...(['GlobalAveragePooling2D', 'GlobalMaxPooling2D'] as const).map((kind): [KindName, TrainableKind] => [kind, {
    build(tf, node, [x]) {
      const pooled = apply(kind === 'GlobalAveragePooling2D' ? tf.layers.globalAveragePooling2d({}) : tf.layers.globalMaxPooling2d({}), [x]);
      const channels = Number(x.shape[x.shape.length - 1]);
      return { output: node.config.keepdims ? apply(tf.layers.reshape({ targetShape: [1, 1, channels] }), [pooled]) : pooled };
    },
    pytorch: (node) => ({ op: kind === 'GlobalAveragePooling2D' ? 'gap' : 'gmp', keepdims: Boolean(node.config.keepdims) }),
  }]),
  ['ZeroPadding2D', single(
    (tf, node) => tf.layers.zeroPadding2d({ padding: zeroPadding(node.config.padding) }),
    (node) => ({ op: 'zeropad', padding: zeroPadding(node.config.padding) }),
  )],
  ['Flatten', {
    build(tf, node, [x]) {
      // Channel-major (NCHW files): each channel's positions together, so channels go first before flattening.
      const input = node.channelMajor && x.shape.length === 4 ? apply(tf.layers.permute({ dims: [3, 1, 2] }), [x]) : x;
      return { output: apply(tf.layers.flatten(), [input]) };
    },
    pytorch: (node) => ({ op: 'flatten', channelMajor: Boolean(node.channelMajor) }),
  }],
  ['Add', { build: (tf, _node, inputs) => ({ output: apply(tf.layers.add(), inputs) }), pytorch: () => ({ op: 'add' }) }],
  ['Concatenate', {
    build(tf, node, inputs) {
      channelConcatenation(node, inputs[0].shape.length);
      return { output: apply(tf.layers.concatenate({ axis: -1 }), inputs) };
    },
    pytorch(node, inputRank) {
      channelConcatenation(node, inputRank);
      return { op: 'concat' };
    },
  }],
]);

/** The trainer's error for a node it cannot build: one line naming the op and the node. */
export function unbuildable(file: string, node: LayerNode, why?: string): InputError {
  return new InputError(file, `retraining cannot build ${node.className} ${excerpt(node.name)}${why ? ` (${why})` : ''} in tfjs`);
}
