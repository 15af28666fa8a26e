import { activationByName, ActivationFn, compose } from './activations';
import { activationLayer, convolves, isSoftmax, layerKind, producerWidth } from './layerKinds';
import { LayerNode, ModelGraph } from '../model/graph';
import { excerpt } from '../codecs/json';

/** Where a producer's channels sit among a consumer's input channels when a Concatenate comes between. */
interface ChannelSlice {
  /** The consumer's input channel that is the producer's channel 0. */
  offset: number;
  /** The consumer's input channels (per position), every source of the Concatenate included. */
  total: number;
}

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
  /** Set when a Concatenate sits between: the producer's channels are only this part of the consumer's inputs. */
  slice?: ChannelSlice;
}

/** A layer and the BatchNormalization right after it (folded in for analysis, sliced with it on write). */
export interface ChannelLayer {
  layer: LayerNode;
  batchNorm: LayerNode | null;
}

/**
 * Layers tied to a producer's channels, and therefore reduced with it: the producers meeting it in
 * residual Adds, and the DepthwiseConv2D layers that carry its channels on (see coupling.ts).
 */
export interface JointInfo {
  /** The member whose threshold cuts the shared clustering and which carries the shared changes on write: the first in topological order. */
  lead: string;
  /** Every producer whose output channels are identified with this one's, itself included, in topological order. */
  members: ChannelLayer[];
  /** DepthwiseConv2D layers (depth multiplier 1) the channels pass, in order: their channels are kept and merged with the group's. */
  followers: ChannelLayer[];
  /** What ties the layer to the others, e.g. "reduced jointly with conv_3 (residual Add add_1)". */
  note: string;
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
  /** Set when other layers are tied to its channels (a residual Add, a DepthwiseConv2D after it); absent in a plain chain. */
  joint?: JointInfo;
}

/** One producer's walk to its consumers, before producers meeting in residual Adds are joined (coupling.ts). */
export interface ProducerWalk {
  /** Refused with a reason where the walk found a problem; `activation` is the composition along every path. */
  info: ProducerInfo;
  /** Activations met on the way by layer (the producer's own under its name), each once. */
  activations: Map<string, ActivationFn>;
  /** Residual Adds the channels pass. */
  adds: LayerNode[];
  /** DepthwiseConv2D layers the channels pass, in the order met. */
  followers: ChannelLayer[];
  /** Per consumer (in info.consumers' order): the followers its path passed. */
  through: string[][];
}

/** How the channels reach a layer on the walk from their producer. */
interface Route {
  positions: number;
  channelMajor: boolean;
  slice: ChannelSlice | null;
  /** What a BatchNormalization here folds into: the producer or a follower, right after it (and its linear activation). */
  foldInto: ChannelLayer | null;
  /** Followers passed. */
  through: string[];
}

export function walkProducer(graph: ModelGraph, layer: LayerNode & { className: 'Dense' | 'Conv2D' }): ProducerWalk {
  const kind = layer.className;
  const units = producerWidth(layer);
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
  const source: ChannelLayer = { layer, batchNorm: null };
  const walked: ProducerWalk = { info, activations: new Map([[layer.name, info.activation]]), adds: [], followers: [], through: [] };
  const refuse = (reason: string): ProducerWalk => ({ ...walked, info: { ...info, batchNorm: source.batchNorm, consumers: [], reason } });

  if (!layer.weights.get('kernel')) return refuse('its kernel was not found in the weights manifest');
  if (graph.outputs.includes(layer.name)) return refuse('output layer: its units are the model outputs');
  if (layer.config.activation === 'softmax') return refuse('softmax ties all its units together');
  if (own === null) return refuse(`unknown activation ${excerpt(layer.config.activation)}`);
  if (layer.shared) return refuse('shared layer: called on several inputs');
  if (convolves(kind)) {
    if (layer.config.data_format === 'channels_first') return refuse('channels_first convolutions are not supported');
    if (Number(layer.config.groups ?? 1) !== 1) return refuse('grouped convolution');
  }

  // Walk every path from the layer to the next Dense/Conv2D layers. A layer reached twice the same way (paths
  // meeting in an Add) is walked once; reached past other followers, again, so that coupling.ts sees every way.
  const visited = new Set<string>();
  const walk = (node: LayerNode, route: Route): string | null => {
    if (graph.outputs.includes(node.name)) return `its channels reach the model output through ${node.name}`;
    const key = `${node.name}:${route.slice?.offset ?? -1}:${route.through.join(',')}`;
    if (visited.has(key)) return null;
    visited.add(key);
    for (const nextName of node.outbound) {
      const next = graph.byName.get(nextName)!;
      const problem = step(next, node, { ...route, foldInto: node.outbound.length === 1 ? route.foldInto : null });
      if (problem) return problem;
    }
    return null;
  };
  const step = (next: LayerNode, from: LayerNode, route: Route): string | null => {
    if (next.shared) return `coupled — feeds shared layer ${next.name}`;
    switch (layerKind(next.className)?.channels) {
      case 'producer':
        return toConsumer(next, route);
      case 'batchNorm':
        return throughBatchNorm(next, route);
      case 'softmax':
        return `softmax (${next.name}) ties the units together`;
      case 'activation': {
        if (isSoftmax(next)) return `softmax (${next.name}) ties the units together`;
        const act = activationLayer(next);
        if (!act) return `activation layer ${next.name} (${next.className}) is not supported`;
        walked.activations.set(next.name, act);
        return walk(next, { ...route, foldInto: null });
      }
      case 'identity':
      case 'perChannel':
        return walk(next, { ...route, foldInto: null });
      case 'flatten':
        return throughFlatten(next, route);
      case 'add':
        return throughAdd(next, route);
      case 'concatenate':
        return throughConcatenate(next, from, route);
      case 'depthwise':
        return throughDepthwise(next, route);
      case 'merging':
      case 'tiedConsumer':
        return `coupled through ${next.className} (${next.name})`;
      default:
        return `feeds ${next.className} (${next.name}), which is not analysed`;
    }
  };

  /** A Dense/Conv2D layer reading the channels: the consumer whose input weights are reduced with them. */
  const toConsumer = (next: LayerNode, route: Route): string | null => {
    if (convolves(next.className) && (next.config.data_format === 'channels_first' || Number(next.config.groups ?? 1) !== 1)) {
      return `coupled — feeds ${next.name}, a convolution of a kind not supported`;
    }
    const kernel = next.weights.get('kernel');
    if (!kernel) return `its consumer ${next.name} has no kernel in the weights manifest`;
    // Dense [inputs, out], Conv2D [kh, kw, inputs, out]: a mismatch means the shapes on the way were misread.
    const inputs = kernel.shape[kernel.shape.length - 2];
    const channels = route.slice?.total ?? units;
    if (inputs !== channels * route.positions) return `its consumer ${next.name} takes ${inputs} inputs, not ${channels} × ${route.positions}`;
    info.consumers.push({ layer: next, positions: route.positions, channelMajor: route.channelMajor, ...(route.slice ? { slice: route.slice } : {}) });
    walked.through.push(route.through);
    return null;
  };

  /** A BatchNormalization over the channels folds into the layer right before it (when linear). */
  const throughBatchNorm = (bn: LayerNode, route: Route): string | null => {
    // Keras writes the axis as an int or, once built (TF 2), as a one-element list of the positive index: [3].
    const raw = bn.config.axis;
    const axis: unknown = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
    const lastAxis = axis === -1 || axis === undefined ||
      (typeof axis === 'number' && bn.outputShape !== null && axis === bn.outputShape.length);
    if (!lastAxis) return `BatchNormalization ${bn.name} normalises an axis other than the channels`;
    const target = route.foldInto;
    if (!target || target.batchNorm) {
      return `BatchNormalization ${bn.name} after the activation: its shift does not scale with the merged units`;
    }
    target.batchNorm = bn;
    return walk(bn, route);
  };

  /** Each channel reaches the consumer at every position of the flattened map. */
  const throughFlatten = (flatten: LayerNode, route: Route): string | null => {
    const before = graph.byName.get(flatten.inbound[0])!.outputShape;
    if (!before || before.some((d) => d === null)) return `cannot map channels through ${flatten.name}: its input shape is unknown`;
    const spatial = (before as number[]).slice(0, -1).reduce((a, b) => a * b, 1);
    return walk(flatten, { ...route, positions: route.positions * spatial, channelMajor: route.channelMajor || flatten.channelMajor === true, foldInto: null });
  };

  /** A residual Add identifies its inputs' channels: the producers feeding it are joined afterwards (coupling.ts). */
  const throughAdd = (add: LayerNode, route: Route): string | null => {
    if (route.slice || route.positions !== 1) return `coupled through Add (${add.name}) after a Concatenate or Flatten`;
    const shapes = add.inbound.map((name) => JSON.stringify(graph.byName.get(name)!.outputShape));
    if (shapes.some((s) => s === 'null' || s !== shapes[0])) return `coupled through Add (${add.name}) of inputs of different or unknown shapes`;
    walked.adds.push(add);
    return walk(add, { ...route, foldInto: null });
  };

  /** Channels of a Concatenate's sources keep their own places in its output: the consumer's inputs are split by source. */
  const throughConcatenate = (cat: LayerNode, from: LayerNode, route: Route): string | null => {
    if (route.positions !== 1) return `coupled through Concatenate (${cat.name}) after a Flatten`;
    const widths = cat.inbound.map((name) => {
      const shape = graph.byName.get(name)!.outputShape;
      return shape ? shape[shape.length - 1] : null;
    });
    const rank = cat.outputShape?.length;
    const axis = Number(cat.config.axis ?? -1);
    if (rank === undefined || widths.some((w) => w === null)) return `cannot map channels through ${cat.name}: its input shapes are unknown`;
    if (axis !== -1 && axis !== rank) return `coupled through Concatenate (${cat.name}) along an axis other than the channels`;
    const total = (widths as number[]).reduce((a, b) => a + b, 0);
    let offset = 0;
    for (let i = 0; i < cat.inbound.length; i++) {
      if (cat.inbound[i] === from.name) {
        const slice = { offset: offset + (route.slice?.offset ?? 0), total: route.slice ? route.slice.total : total };
        const problem = walk(cat, { ...route, slice, foldInto: null });
        if (problem) return problem;
      }
      offset += widths[i]!;
    }
    return null;
  };

  /** A DepthwiseConv2D with depth multiplier 1 filters each channel on its own: it follows the channels (kept and merged with them). */
  const throughDepthwise = (dw: LayerNode, route: Route): string | null => {
    const multiplier = Number(dw.config.depth_multiplier ?? 1);
    if (multiplier !== 1) return `coupled through DepthwiseConv2D (${dw.name}) with depth multiplier ${multiplier}`;
    if (dw.config.data_format === 'channels_first') return `coupled through DepthwiseConv2D (${dw.name}), channels_first`;
    if (route.slice || route.positions !== 1) return `coupled through DepthwiseConv2D (${dw.name}) after a Concatenate or Flatten`;
    if (!dw.weights.get('depthwise_kernel')) return `its follower ${dw.name} has no kernel in the weights manifest`;
    const act = activationByName(dw.config.activation);
    if (!act) return `unknown activation ${excerpt(dw.config.activation)} of ${excerpt(dw.name)}`;
    const follower: ChannelLayer = { layer: dw, batchNorm: null };
    walked.followers.push(follower);
    walked.activations.set(dw.name, act);
    return walk(dw, { ...route, foldInto: act.name === 'linear' ? follower : null, through: [...route.through, dw.name] });
  };

  const problem = walk(layer, {
    positions: 1, channelMajor: false, slice: null, foldInto: info.activation.name === 'linear' ? source : null, through: [],
  });
  if (problem) return refuse(problem);
  if (info.consumers.length === 0) return refuse('no Dense or Conv2D layer consumes its output');
  return { ...walked, info: { ...info, batchNorm: source.batchNorm, activation: compose([...walked.activations.values()]) } };
}
