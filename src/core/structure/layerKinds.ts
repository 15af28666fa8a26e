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
import { LayerNode, ModelGraph } from '../model/graph';
import { activationKernel, identityKernel, softmaxKernel } from '../compute/kernels/activation';
import { batchNormKernel } from '../compute/kernels/batchNorm';
import { depthwiseKernel } from '../compute/kernels/depthwise';
import { flattenKernel } from '../compute/kernels/flatten';
import { Kernel } from '../compute/kernels/kernel';
import { linearKernel } from '../compute/kernels/linear';
import { addKernel, concatenateKernel } from '../compute/kernels/merge';
import { zeroPaddingKernel } from '../compute/kernels/padding';
import { globalPoolingKernel, poolingKernel } from '../compute/kernels/pooling';
import {
  concatenateShape, conv2dShape, declaredShape, denseShape, depthwiseShape, flattenShape, globalPoolingShape, notInferred,
  poolingShape, sameShape, ShapeRule, zeroPaddingShape,
} from './shapes';

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
  | 'input'
  /** Known for its output shape only: a producer's channels stop there, as at a class the table lacks. */
  | 'opaque';

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
 * One kind of layer. Each field is one concern of the engine; a new concern is a new field here,
 * filled in where it applies, with a test that every kind it needs has it.
 */
export interface LayerKind {
  /** The engine's class name (Keras vocabulary). */
  readonly className: string;
  /** How a producer's channels pass it. */
  readonly channels: ChannelRole;
  /** Producers: the config key holding their width. */
  readonly widthKey?: 'units' | 'filters';
  /** Producers: the axes of their kernel, 2 for [inputs, units], 4 for [kh, kw, inputs, filters] over images (which ONNX and PyTorch keep channels-first). */
  readonly kernelRank?: 2 | 4;
  /** Its weights' roles (the keys of LayerNode.weights), in Keras' weight order. */
  readonly weights: readonly string[];
  /** Activation layers: the element-wise function their config describes; null when the config asks for one the engine does not know. */
  readonly activation?: (config: Config) => ActivationFn | null;
  /** Configs that make the layer a softmax over the channels (which ties every unit together). */
  readonly softmaxWhen?: (config: Config) => boolean;
  /** Numeric config fields the engine and the predictors compute with: a file giving one anything but a finite number is refused (a string would be concatenated instead of added; a string epsilon made TF.js run for minutes). */
  readonly configNumbers?: readonly string[];
  /** Its output shape, from its config and its inputs' shapes. */
  readonly outputShape: ShapeRule;
  /** How GraphEvaluator computes it (compute/kernels); absent: not evaluated on calibration data. */
  readonly kernel?: Kernel;
  /** Why the embedded trainer (train/layers.ts) builds no tfjs layer of the kind; absent: it has a builder there. */
  readonly notTrainable?: string;
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

/** Why kinds without a builder in train/layers.ts are not retrained. */
const NO_BUILDER = 'the trainer has no builder for it yet';
const UNINTERPRETED = 'the engine knows only its output shape';

const identity = <N extends string>(className: N, onnx?: OnnxNaming) => ({
  className, channels: 'identity', weights: [], outputShape: sameShape, kernel: identityKernel, ...(onnx ? { onnx } : {}),
}) as const;
const perChannel = <N extends string>(className: N, outputShape: ShapeRule, kernel?: Kernel, onnx?: OnnxNaming) => ({
  className, channels: 'perChannel', weights: [], outputShape, ...(kernel ? { kernel } : {}), ...(onnx ? { onnx } : {}),
}) as const;
const withoutBuilder = <K extends LayerKind>(kind: K) => ({ ...kind, notTrainable: NO_BUILDER }) as const;
const merging = <N extends string>(className: N, outputShape: ShapeRule, ops: string[]) => ({
  className, channels: 'merging', weights: [], outputShape, notTrainable: NO_BUILDER, ...(ops.length ? { onnx: { ops } } : {}),
}) as const;
/** A class the engine does not interpret but whose output keeps its input's shape. */
const opaque = <N extends string>(className: N) => ({ className, channels: 'opaque', weights: [], outputShape: sameShape, notTrainable: UNINTERPRETED }) as const;

const TABLE = [
  { className: 'InputLayer', channels: 'input', weights: [], outputShape: declaredShape, notTrainable: 'the network\'s input, which the trainer makes itself' },
  {
    className: 'Dense', channels: 'producer', widthKey: 'units', kernelRank: 2, weights: PRODUCER_WEIGHTS, outputShape: denseShape, kernel: linearKernel,
    // MatMul with the bias Add after it, as PyTorch exports Linear on inputs of more than two dimensions.
    onnx: { ops: ['Gemm', 'MatMul'] }, torch: PRODUCER_TORCH,
  },
  {
    className: 'Conv2D', channels: 'producer', widthKey: 'filters', kernelRank: 4, weights: PRODUCER_WEIGHTS, configNumbers: ['groups'], outputShape: conv2dShape, kernel: linearKernel,
    onnx: { ops: ['Conv'] }, torch: PRODUCER_TORCH,
  },
  // A Conv with one input channel and one filter per group.
  {
    className: 'DepthwiseConv2D', channels: 'depthwise', weights: ['depthwise_kernel', 'bias'], configNumbers: ['depth_multiplier'], outputShape: depthwiseShape, kernel: depthwiseKernel,
    onnx: { ops: ['Conv'] },
  },
  {
    className: 'SeparableConv2D', channels: 'tiedConsumer', weights: ['depthwise_kernel', 'pointwise_kernel', 'bias'], outputShape: notInferred,
    notTrainable: NO_BUILDER,
  },
  {
    className: 'BatchNormalization', channels: 'batchNorm', weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'], configNumbers: ['epsilon', 'momentum'],
    outputShape: sameShape,
    kernel: batchNormKernel, onnx: { ops: ['BatchNormalization'] },
    torch: new Map([['weight', 'gamma'], ['bias', 'beta'], ['running_mean', 'moving_mean'], ['running_var', 'moving_variance']]),
  },
  {
    className: 'Activation', channels: 'activation', weights: [], activation: namedActivation, softmaxWhen: isSoftmaxActivation, outputShape: sameShape,
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
  { className: 'ReLU', channels: 'activation', weights: [], activation: reluOf, outputShape: sameShape, kernel: activationKernel(reluOf) },
  {
    className: 'LeakyReLU', channels: 'activation', weights: [], configNumbers: ['alpha'], activation: leakyReluOf, outputShape: sameShape, kernel: activationKernel(leakyReluOf),
    onnx: { byAttributes: new Map([['LeakyRelu', (n: OpAttributes) => ({ alpha: n.float('alpha', 0.01) })]]) },
  },
  {
    className: 'ELU', channels: 'activation', weights: [], activation: eluOf, outputShape: sameShape, kernel: activationKernel(eluOf),
    onnx: { byAttributes: new Map([['Elu', (n: OpAttributes) => ({ alpha: n.float('alpha', 1) })]]) },
  },
  { className: 'Softmax', channels: 'softmax', weights: [], outputShape: sameShape, kernel: softmaxKernel, onnx: { ops: ['Softmax'] } },
  // Identity is no Keras layer; ONNX's Identity op is skipped like Dropout.
  identity('Dropout', { ops: ['Dropout', 'Identity'] }),
  identity('SpatialDropout1D'),
  identity('SpatialDropout2D'),
  identity('GaussianNoise'),
  identity('GaussianDropout'),
  identity('AlphaDropout'),
  withoutBuilder(identity('ActivityRegularization')),
  perChannel('MaxPooling2D', poolingShape, poolingKernel('max'), { ops: ['MaxPool'] }),
  perChannel('AveragePooling2D', poolingShape, poolingKernel('average'), { ops: ['AveragePool'] }),
  withoutBuilder(perChannel('MaxPooling1D', notInferred)),
  withoutBuilder(perChannel('AveragePooling1D', notInferred)),
  perChannel('ZeroPadding2D', zeroPaddingShape, zeroPaddingKernel),
  withoutBuilder(perChannel('Cropping2D', notInferred)),
  withoutBuilder(perChannel('UpSampling2D', notInferred)),
  perChannel('GlobalAveragePooling2D', globalPoolingShape, globalPoolingKernel('average'), { ops: ['GlobalAveragePool'] }),
  perChannel('GlobalMaxPooling2D', globalPoolingShape, globalPoolingKernel('max'), { ops: ['GlobalMaxPool'] }),
  withoutBuilder(perChannel('GlobalAveragePooling1D', notInferred)),
  withoutBuilder(perChannel('GlobalMaxPooling1D', notInferred)),
  // Reshape to [batch, -1] is a flatten.
  { className: 'Flatten', channels: 'flatten', weights: [], outputShape: flattenShape, kernel: flattenKernel, onnx: { ops: ['Flatten', 'Reshape'] } },
  { className: 'Add', channels: 'add', weights: [], outputShape: sameShape, kernel: addKernel, onnx: { ops: ['Add', 'Sum'] } },
  { className: 'Concatenate', channels: 'concatenate', weights: [], configNumbers: ['axis'], outputShape: concatenateShape, kernel: concatenateKernel, onnx: { ops: ['Concat'] } },
  merging('Subtract', sameShape, ['Sub']),
  merging('Multiply', sameShape, ['Mul']),
  merging('Average', sameShape, ['Mean']),
  merging('Maximum', sameShape, ['Max']),
  merging('Minimum', sameShape, ['Min']),
  merging('Dot', notInferred, []),
  opaque('PReLU'),
  opaque('ThresholdedReLU'),
  opaque('Masking'),
  opaque('LayerNormalization'),
] as const satisfies readonly LayerKind[];

/** The class name of a kind in the table (so that tables kept elsewhere, like the trainer's, are keyed by kinds only). */
export type KindName = (typeof TABLE)[number]['className'];

const KINDS: readonly LayerKind[] = TABLE;

const BY_CLASS = new Map<string, LayerKind>(KINDS.map((kind) => [kind.className, kind]));

/** The kind of a layer by its class name; undefined for a class the engine does not know. */
export function layerKind(className: string): LayerKind | undefined {
  return BY_CLASS.get(className);
}

/** Every kind, in table order. */
export function layerKinds(): readonly LayerKind[] {
  return KINDS;
}

/** The model's input layer. */
export function isInput(layer: LayerNode): boolean {
  return layerKind(layer.className)?.channels === 'input';
}

export function isCondensable(layer: LayerNode): layer is LayerNode & { className: 'Dense' | 'Conv2D' } {
  return layerKind(layer.className)?.channels === 'producer';
}

/** Fills in every layer's output shape, in topological order, by its kind's rule (layers of a class the table lacks get null). */
export function inferShapes(graph: ModelGraph): void {
  for (const layer of graph.layers) {
    const inputs = layer.inbound.map((name) => graph.byName.get(name)!.outputShape);
    layer.outputShape = layerKind(layer.className)?.outputShape(layer, inputs) ?? null;
  }
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

/** A layer whose output is a softmax: a softmax layer, or any layer with softmax as its (fused) activation, as a classifier's output layer is. */
export function outputsSoftmax(layer: LayerNode): boolean {
  return isSoftmax(layer) || layer.config.activation === 'softmax';
}

const PASSING: ReadonlySet<ChannelRole> = new Set(['batchNorm', 'depthwise', 'activation', 'identity', 'perChannel']);

/** A layer that carries its input's channels on one to one, as far as which channel is which goes. */
export function passesChannels(layer: LayerNode): boolean {
  const kind = layerKind(layer.className);
  return kind !== undefined && PASSING.has(kind.channels);
}

/** A producer over images (Conv2D): its kernel is [kh, kw, inputs, filters]. */
export function convolves(className: string): boolean {
  return layerKind(className)?.kernelRank === 4;
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
