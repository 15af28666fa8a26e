/**
 * The table of layer kinds: what the engine knows about each kind of layer, by the engine's class
 * name (Keras vocabulary). Per kind: how a producer's channels pass it (the structure walk), its
 * weights' roles, the kernel that evaluates it on calibration data (compute/kernels), and how the
 * formats that map their own ops to engine layers name it (ONNX op types, PyTorch state-dict roles).
 * Adding a kind is one entry here, plus a kernel when the evaluator is to compute it.
 *
 * Class names come from files: they are looked up in a Map, never as object keys. A class name the
 * table lacks is a layer the engine does not analyse (a producer's channels stop there) or evaluate.
 */
import { activationByName, ActivationFn, leakyRelu } from './activations';
import { LayerNode } from '../model/graph';
import { activationKernel, identityKernel, softmaxKernel } from '../compute/kernels/activation';
import { batchNormKernel } from '../compute/kernels/batchNorm';
import { depthwiseKernel } from '../compute/kernels/depthwise';
import { flattenKernel } from '../compute/kernels/flatten';
import { Kernel } from '../compute/kernels/kernel';
import { linearKernel } from '../compute/kernels/linear';
import { addKernel, concatenateKernel } from '../compute/kernels/merge';
import { zeroPaddingKernel } from '../compute/kernels/padding';
import { globalPoolingKernel, poolingKernel } from '../compute/kernels/pooling';

type Config = Record<string, unknown>;

/** How a producer's channels pass a layer of the kind, as the structure walk (walk.ts) follows them. */
type ChannelRole =
  /** Dense, Conv2D: condensable; its units are the channels the walk follows to its consumers. */
  | 'producer'
  /** A per-channel affine map, folded into the producer (or follower) right before it. */
  | 'batchNorm'
  /** An element-wise function: channels pass one to one, its function composes with the producer's. */
  | 'activation'
  /** The identity at inference (dropout, noise). */
  | 'identity'
  /** Acts on each channel on its own and commutes with positive scaling of a channel (pooling, padding). */
  | 'perChannel'
  /** Channels spread over positions: the consumer reads each channel at every position. */
  | 'flatten'
  /** Residual Add: identifies its inputs' channels, so their producers are reduced jointly. */
  | 'add'
  /** Channel concatenation: each source's channels keep their own place among the consumer's inputs. */
  | 'concatenate'
  /** DepthwiseConv2D: filters each channel on its own, so it follows the channels (kept and merged with them). */
  | 'depthwise'
  /** Softmax: ties every unit together. */
  | 'softmax'
  /** Merges branches in a way that couples their channels without identifying them (Subtract, Multiply, …). */
  | 'merging'
  /** Reads the channels with weights tied across them (SeparableConv2D). */
  | 'tiedConsumer'
  /** The model's input. */
  | 'input';

/** An ONNX node's attributes, as a kind's ONNX naming reads them (the ONNX graph builder's nodes provide this). */
export interface OpAttributes {
  float(name: string, fallback: number): number;
  string(name: string, fallback: string): string;
  /** The float attribute (or `value` when absent) is `value`, to float32 precision. */
  floatNear(name: string, value: number): boolean;
}

/** How ONNX names a kind: the op types the ONNX graph builder (formats/onnx/graph.ts) maps to it. */
interface OnnxNaming {
  /** Element-wise ops whose config follows from their attributes alone, by op type: the layer's config, or null when the attributes ask for what the kind does not do. */
  readonly byAttributes?: ReadonlyMap<string, (node: OpAttributes) => Config | null>;
  /** Ops the builder matches itself, reading weights, shapes or constant inputs; an op naming an identity kind is skipped (its output is its input). */
  readonly ops?: readonly string[];
}

/** How a PyTorch state dict names a kind's weights: state-dict role ("weight", "running_mean", …) → engine role. */
type TorchNaming = ReadonlyMap<string, string>;

/**
 * One kind of layer. Each field is one concern of the engine; a new concern (say, how the trainer
 * builds a trainable layer of the kind) is a new optional field here, filled in where it applies,
 * with a test that every kind it needs has it.
 */
export interface LayerKind {
  /** The engine's class name (Keras vocabulary). */
  readonly className: string;
  /** How a producer's channels pass it. */
  readonly channels: ChannelRole;
  /** Producers: the config key holding their width. */
  readonly widthKey?: 'units' | 'filters';
  /** Its weights' roles (the keys of LayerNode.weights), in Keras' weight order. */
  readonly weights: readonly string[];
  /** Activation layers: the element-wise function their config describes; null when the config asks for one the engine does not know. */
  readonly activation?: (config: Config) => ActivationFn | null;
  /** Configs that make the layer a softmax over the channels (which ties every unit together). */
  readonly softmaxWhen?: (config: Config) => boolean;
  /** How GraphEvaluator computes it (compute/kernels); absent: not evaluated on calibration data. */
  readonly kernel?: Kernel;
  readonly onnx?: OnnxNaming;
  readonly torch?: TorchNaming;
}

const keras = (activation: string): Config => ({ activation });

const reluOf = (c: Config): ActivationFn | null => {
  const max = c.max_value ?? c.maxValue;
  const slope = Number(c.negative_slope ?? 0);
  const threshold = Number(c.threshold ?? 0);
  if (threshold !== 0) return null;
  if (max != null) return max === 6 ? activationByName('relu6') : null;
  return slope ? leakyRelu(slope) : activationByName('relu');
};
const leakyReluOf = (c: Config): ActivationFn => leakyRelu(Number(c.alpha ?? c.negative_slope ?? 0.3));
const eluOf = (c: Config): ActivationFn | null => (Number(c.alpha ?? 1) === 1 ? activationByName('elu') : null);
const namedActivation = (c: Config): ActivationFn | null => activationByName(c.activation);
const isSoftmaxActivation = (c: Config): boolean => c.activation === 'softmax';

const PRODUCER_WEIGHTS = ['kernel', 'bias'];
const PRODUCER_TORCH: TorchNaming = new Map([['weight', 'kernel'], ['bias', 'bias']]);

const identity = (className: string, onnx?: OnnxNaming): LayerKind => ({ className, channels: 'identity', weights: [], kernel: identityKernel, ...(onnx ? { onnx } : {}) });
const perChannel = (className: string, kernel?: Kernel, onnx?: OnnxNaming): LayerKind => ({
  className, channels: 'perChannel', weights: [], ...(kernel ? { kernel } : {}), ...(onnx ? { onnx } : {}),
});
const merging = (className: string, ops: string[]): LayerKind => ({ className, channels: 'merging', weights: [], ...(ops.length ? { onnx: { ops } } : {}) });

const KINDS: readonly LayerKind[] = [
  { className: 'InputLayer', channels: 'input', weights: [] },
  {
    className: 'Dense', channels: 'producer', widthKey: 'units', weights: PRODUCER_WEIGHTS, kernel: linearKernel,
    // MatMul with the bias Add after it, as PyTorch exports Linear on inputs of more than two dimensions.
    onnx: { ops: ['Gemm', 'MatMul'] }, torch: PRODUCER_TORCH,
  },
  { className: 'Conv2D', channels: 'producer', widthKey: 'filters', weights: PRODUCER_WEIGHTS, kernel: linearKernel, onnx: { ops: ['Conv'] }, torch: PRODUCER_TORCH },
  // A Conv with one input channel and one filter per group.
  { className: 'DepthwiseConv2D', channels: 'depthwise', weights: ['depthwise_kernel', 'bias'], kernel: depthwiseKernel, onnx: { ops: ['Conv'] } },
  { className: 'SeparableConv2D', channels: 'tiedConsumer', weights: ['depthwise_kernel', 'pointwise_kernel', 'bias'] },
  {
    className: 'BatchNormalization', channels: 'batchNorm', weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'], kernel: batchNormKernel,
    onnx: { ops: ['BatchNormalization'] },
    torch: new Map([['weight', 'gamma'], ['bias', 'beta'], ['running_mean', 'moving_mean'], ['running_var', 'moving_variance']]),
  },
  {
    className: 'Activation', channels: 'activation', weights: [], activation: namedActivation, softmaxWhen: isSoftmaxActivation,
    kernel: activationKernel(namedActivation, isSoftmaxActivation),
    onnx: {
      byAttributes: new Map<string, (node: OpAttributes) => Config | null>([
        ['Relu', () => keras('relu')],
        ['Tanh', () => keras('tanh')],
        ['Sigmoid', () => keras('sigmoid')],
        ['Softplus', () => keras('softplus')],
        ['Softsign', () => keras('softsign')],
        ['Mish', () => keras('mish')],
        ['Gelu', (n) => keras(n.string('approximate', 'none') === 'tanh' ? 'gelu_new' : 'gelu')],
        // Only with the defaults do these match the Keras functions.
        ['Selu', (n) => (n.floatNear('alpha', 1.67326319) && n.floatNear('gamma', 1.05070102) ? keras('selu') : null)],
        ['HardSigmoid', (n) => (n.floatNear('alpha', 0.2) && n.floatNear('beta', 0.5) ? keras('hard_sigmoid') : null)],
      ]),
      // ReLU6 and ReLU as exporters write them, bounds as attributes or constant inputs.
      ops: ['Clip'],
    },
  },
  { className: 'ReLU', channels: 'activation', weights: [], activation: reluOf, kernel: activationKernel(reluOf) },
  {
    className: 'LeakyReLU', channels: 'activation', weights: [], activation: leakyReluOf, kernel: activationKernel(leakyReluOf),
    onnx: { byAttributes: new Map([['LeakyRelu', (n: OpAttributes) => ({ alpha: n.float('alpha', 0.01) })]]) },
  },
  {
    className: 'ELU', channels: 'activation', weights: [], activation: eluOf, kernel: activationKernel(eluOf),
    onnx: { byAttributes: new Map([['Elu', (n: OpAttributes) => ({ alpha: n.float('alpha', 1) })]]) },
  },
  { className: 'Softmax', channels: 'softmax', weights: [], kernel: softmaxKernel, onnx: { ops: ['Softmax'] } },
  // Identity is no Keras layer; ONNX's Identity op is skipped like Dropout.
  identity('Dropout', { ops: ['Dropout', 'Identity'] }),
  identity('SpatialDropout1D'),
  identity('SpatialDropout2D'),
  identity('GaussianNoise'),
  identity('GaussianDropout'),
  identity('AlphaDropout'),
  identity('ActivityRegularization'),
  perChannel('MaxPooling2D', poolingKernel('max'), { ops: ['MaxPool'] }),
  perChannel('AveragePooling2D', poolingKernel('average'), { ops: ['AveragePool'] }),
  perChannel('MaxPooling1D'),
  perChannel('AveragePooling1D'),
  perChannel('ZeroPadding2D', zeroPaddingKernel),
  perChannel('Cropping2D'),
  perChannel('UpSampling2D'),
  perChannel('GlobalAveragePooling2D', globalPoolingKernel('average'), { ops: ['GlobalAveragePool'] }),
  perChannel('GlobalMaxPooling2D', globalPoolingKernel('max'), { ops: ['GlobalMaxPool'] }),
  perChannel('GlobalAveragePooling1D'),
  perChannel('GlobalMaxPooling1D'),
  // Reshape to [batch, -1] is a flatten.
  { className: 'Flatten', channels: 'flatten', weights: [], kernel: flattenKernel, onnx: { ops: ['Flatten', 'Reshape'] } },
  { className: 'Add', channels: 'add', weights: [], kernel: addKernel, onnx: { ops: ['Add', 'Sum'] } },
  { className: 'Concatenate', channels: 'concatenate', weights: [], kernel: concatenateKernel, onnx: { ops: ['Concat'] } },
  merging('Subtract', ['Sub']),
  merging('Multiply', ['Mul']),
  merging('Average', ['Mean']),
  merging('Maximum', ['Max']),
  merging('Minimum', ['Min']),
  merging('Dot', []),
];

const BY_CLASS = new Map(KINDS.map((kind) => [kind.className, kind]));

/** The kind of a layer by its class name; undefined for a class the engine does not know. */
export function layerKind(className: string): LayerKind | undefined {
  return BY_CLASS.get(className);
}

/** Every kind, in table order. */
export function layerKinds(): readonly LayerKind[] {
  return KINDS;
}

export function isCondensable(layer: LayerNode): layer is LayerNode & { className: 'Dense' | 'Conv2D' } {
  return layerKind(layer.className)?.channels === 'producer';
}

/** An activation layer's function, null when its config is not supported, or undefined when the layer is not an activation. */
export function activationLayer(layer: LayerNode): ActivationFn | null | undefined {
  return layerKind(layer.className)?.activation?.(layer.config);
}

/** A Softmax layer, or an activation layer configured as one: it ties all units together. */
export function isSoftmax(layer: LayerNode): boolean {
  const kind = layerKind(layer.className);
  return kind?.channels === 'softmax' || kind?.softmaxWhen?.(layer.config) === true;
}

const PASSING: ReadonlySet<ChannelRole> = new Set(['batchNorm', 'depthwise', 'activation', 'identity', 'perChannel']);

/** A layer that carries its input's channels on one to one, as far as which channel is which goes. */
export function passesChannels(layer: LayerNode): boolean {
  const kind = layerKind(layer.className);
  return kind !== undefined && PASSING.has(kind.channels);
}

/** A producer's width (units or filters) as its config gives it. */
export function producerWidth(layer: LayerNode): number {
  return Number(layer.config[layerKind(layer.className)?.widthKey ?? 'units']);
}

/** What ONNX op types name, by op type: the kinds listing it (in table order) and its attribute mapping, if any. */
export interface OnnxOpKinds {
  kinds: readonly LayerKind[];
  byAttributes?: (node: OpAttributes) => Config | null;
}

const ONNX_OPS = new Map<string, OnnxOpKinds>();
for (const kind of KINDS) {
  for (const [op, byAttributes] of kind.onnx?.byAttributes ?? []) ONNX_OPS.set(op, { kinds: [kind], byAttributes });
  for (const op of kind.onnx?.ops ?? []) {
    const named = ONNX_OPS.get(op);
    ONNX_OPS.set(op, { ...named, kinds: [...(named?.kinds ?? []), kind] });
  }
}

/** The kinds an ONNX op type (standard domain) stands for; undefined when no kind names it. */
export function onnxOpKinds(op: string): OnnxOpKinds | undefined {
  return ONNX_OPS.get(op);
}
