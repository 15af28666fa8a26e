import { activationByName, ActivationFn, compose, leakyRelu } from './activations';
import { LayerNode, ModelGraph } from './graph';

/** A layer whose input weights take the reduced producer's channels, and how they are laid out. */
export interface ConsumerLink {
  layer: LayerNode;
  /**
   * Positions per channel in the consumer's input axis: 1 when the channel feeds it directly,
   * H·W when a Flatten sits between (input index = position · channels + channel, unless channelMajor).
   */
  positions: number;
  /** The Flatten between read channels-first data (NCHW): input index = channel · positions + position. */
  channelMajor: boolean;
}

/** What the engine knows about one Dense/Conv2D layer before looking at its weights. */
export interface ProducerInfo {
  layer: LayerNode;
  kind: 'Dense' | 'Conv2D';
  units: number;
  activation: ActivationFn;
  /** BatchNormalization right after the layer, folded in for analysis and sliced on write. */
  batchNorm: LayerNode | null;
  consumers: ConsumerLink[];
  /** Why the layer is not reduced; null when it can be. */
  reason: string | null;
}

const IDENTITY_AT_INFERENCE = new Set([
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'ActivityRegularization',
]);
/** Per-channel ops that commute with positive scaling of a channel. */
const PER_CHANNEL = new Set([
  'MaxPooling2D', 'AveragePooling2D', 'MaxPooling1D', 'AveragePooling1D', 'ZeroPadding2D', 'Cropping2D',
  'UpSampling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAveragePooling1D', 'GlobalMaxPooling1D',
]);
const MERGING = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot']);
const TIED_CONSUMERS = new Set(['DepthwiseConv2D', 'SeparableConv2D']);

export function isCondensable(layer: LayerNode): layer is LayerNode & { className: 'Dense' | 'Conv2D' } {
  return layer.className === 'Dense' || layer.className === 'Conv2D';
}

/** An activation layer's function, or undefined when the layer is not an activation. */
function activationLayer(layer: LayerNode): ActivationFn | null | undefined {
  const c = layer.config;
  switch (layer.className) {
    case 'Activation':
      return activationByName(c.activation);
    case 'LeakyReLU':
      return leakyRelu(Number(c.alpha ?? c.negative_slope ?? 0.3));
    case 'ReLU': {
      const max = c.max_value ?? c.maxValue;
      const slope = Number(c.negative_slope ?? 0);
      const threshold = Number(c.threshold ?? 0);
      if (threshold !== 0) return null;
      if (max != null) return max === 6 ? activationByName('relu6') : null;
      return slope ? leakyRelu(slope) : activationByName('relu');
    }
    case 'ELU':
      return Number(c.alpha ?? 1) === 1 ? activationByName('elu') : null;
    default:
      return undefined;
  }
}

export function describeProducers(graph: ModelGraph): ProducerInfo[] {
  return graph.layers.filter(isCondensable).map((layer) => describeProducer(graph, layer));
}

function describeProducer(graph: ModelGraph, layer: LayerNode & { className: 'Dense' | 'Conv2D' }): ProducerInfo {
  const kind = layer.className;
  const units = Number(kind === 'Dense' ? layer.config.units : layer.config.filters);
  const own = activationByName(layer.config.activation);
  const info: ProducerInfo = {
    layer,
    kind,
    units,
    activation: own ?? activationByName('linear')!,
    batchNorm: null,
    consumers: [],
    reason: null,
  };
  const refuse = (reason: string): ProducerInfo => ({ ...info, consumers: [], reason });

  if (!layer.weights.get('kernel')) return refuse('its kernel was not found in the weights manifest');
  if (graph.outputs.includes(layer.name)) return refuse('output layer: its units are the model outputs');
  if (layer.config.activation === 'softmax') return refuse('softmax ties all its units together');
  if (own === null) return refuse(`unknown activation "${String(layer.config.activation)}"`);
  if (layer.shared) return refuse('shared layer: called on several inputs');
  if (kind === 'Conv2D') {
    if (layer.config.data_format === 'channels_first') return refuse('channels_first convolutions are not supported');
    if (Number(layer.config.groups ?? 1) !== 1) return refuse('grouped convolution');
  }

  const chain: ActivationFn[] = [info.activation];
  let linearSoFar = info.activation.name === 'linear';
  // Walk every path from the layer to the next Dense/Conv2D layers.
  const walk = (node: LayerNode, positions: number, first: boolean, channelMajor = false): string | null => {
    if (graph.outputs.includes(node.name)) return `its channels reach the model output through ${node.name}`;
    for (const nextName of node.outbound) {
      const next = graph.byName.get(nextName)!;
      const problem = step(next, positions, first && node.outbound.length === 1, channelMajor);
      if (problem) return problem;
    }
    return null;
  };
  const step = (next: LayerNode, positions: number, directlyAfter: boolean, channelMajor: boolean): string | null => {
    if (next.shared) return `coupled — feeds shared layer ${next.name}`;
    if (isCondensable(next)) {
      if (next.className === 'Conv2D' && (next.config.data_format === 'channels_first' || Number(next.config.groups ?? 1) !== 1)) {
        return `coupled — feeds ${next.name}, a convolution of a kind not supported`;
      }
      const kernel = next.weights.get('kernel');
      if (!kernel) return `its consumer ${next.name} has no kernel in the weights manifest`;
      // Dense [inputs, out], Conv2D [kh, kw, inputs, out]: a mismatch means the shapes on the way were misread.
      const inputs = kernel.shape[kernel.shape.length - 2];
      if (inputs !== units * positions) return `its consumer ${next.name} takes ${inputs} inputs, not ${units} × ${positions}`;
      info.consumers.push({ layer: next, positions, channelMajor });
      return null;
    }
    if (next.className === 'BatchNormalization') {
      // Keras writes the axis as an int or, once built (TF 2), as a one-element list of the positive index: [3].
      const raw = next.config.axis;
      const axis = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
      const lastAxis = axis === -1 || axis === undefined ||
        (typeof axis === 'number' && next.outputShape !== null && axis === next.outputShape.length);
      if (!lastAxis) return `BatchNormalization ${next.name} normalises an axis other than the channels`;
      if (!directlyAfter || !linearSoFar || info.batchNorm) {
        return `BatchNormalization ${next.name} after the activation: its shift does not scale with the merged units`;
      }
      info.batchNorm = next;
      return walk(next, positions, true, channelMajor);
    }
    if (next.className === 'Softmax' || (next.className === 'Activation' && next.config.activation === 'softmax')) {
      return `softmax (${next.name}) ties the units together`;
    }
    const act = activationLayer(next);
    if (act === null) return `activation layer ${next.name} (${next.className}) is not supported`;
    if (act) {
      chain.push(act);
      linearSoFar = linearSoFar && act.name === 'linear';
      return walk(next, positions, false, channelMajor);
    }
    if (IDENTITY_AT_INFERENCE.has(next.className) || PER_CHANNEL.has(next.className)) {
      return walk(next, positions, false, channelMajor);
    }
    if (next.className === 'Flatten') {
      const before = graph.byName.get(next.inbound[0])!.outputShape;
      if (!before || before.some((d) => d === null)) return `cannot map channels through ${next.name}: its input shape is unknown`;
      const spatial = (before as number[]).slice(0, -1).reduce((a, b) => a * b, 1);
      return walk(next, positions * spatial, false, channelMajor || next.channelMajor === true);
    }
    if (MERGING.has(next.className)) return `coupled through ${next.className} (${next.name})`;
    if (TIED_CONSUMERS.has(next.className)) return `coupled through ${next.className} (${next.name})`;
    return `feeds ${next.className} (${next.name}), which is not analysed`;
  };

  const problem = walk(layer, 1, true);
  if (problem) return refuse(problem);
  if (info.consumers.length === 0) return refuse('no Dense or Conv2D layer consumes its output');
  return { ...info, activation: compose(chain) };
}
