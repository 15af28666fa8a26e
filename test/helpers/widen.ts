/**
 * Builds a wider model that computes exactly the same function as a given one, by splitting each
 * unit into copies (the inverse of condensation):
 *
 *  - positively homogeneous activation (relu, leaky relu, linear): copy k gets input weights ×c_k
 *    (c_k > 0) and output weights ×t_k/c_k, with Σ t_k = 1;
 *  - any other activation (tanh, GELU, …): exact copies, output weights ×t_k;
 *  - Conv2D → BatchNormalization → ReLU: the filter is copied unchanged and BN's gamma and beta are
 *    scaled by c_k, which makes positively scaled copies after the (folded) normalisation;
 *  - layers whose channels are tied to the split layer's get the same copies: the other inputs of a
 *    residual Add (each scaled by c_k like the layer), and a DepthwiseConv2D after it (filter copied,
 *    its bias — or its BatchNormalization's beta and mean — scaled by c_k, so its output copies are
 *    c_k times the original's too).
 *
 * Condensing the wide model at a threshold near 1 must find the original units again.
 */
import type { ModelGraph } from '../../src/core/model/graph';
import { seededRandom } from '../../src/core/data/random';
import { Tensor } from '../../src/core/model/tensor';
import type * as tf from '@tensorflow/tfjs';
import { Arr, layerWeights, setLayerWeights } from './tfjs';

interface Copy {
  source: number;
  c: number;
  t: number;
}

/** Each of n units split into 1–3 copies (unit 0 always into 3), shuffled so copies are not adjacent. */
function splitPlan(n: number, seed: number, exact: boolean): Copy[] {
  const random = seededRandom(seed);
  const copies: Copy[] = [];
  for (let j = 0; j < n; j++) {
    const count = j === 0 ? 3 : 1 + Math.floor(random() * 3);
    const weights = Array.from({ length: count }, () => 0.2 + random());
    const sum = weights.reduce((a, b) => a + b, 0);
    for (let k = 0; k < count; k++) copies.push({ source: j, c: exact ? 1 : 0.5 + 1.5 * random(), t: weights[k] / sum });
  }
  for (let i = copies.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1));
    [copies[i], copies[k]] = [copies[k], copies[i]];
  }
  return copies;
}

/** New last axis: entry k is the source's entry scaled by factor(copy k). */
function expandLastAxis(a: Arr, copies: Copy[], factor: (c: Copy) => number): Arr {
  const n = a.shape[a.shape.length - 1];
  const outer = a.data.length / n;
  const data = new Float32Array(outer * copies.length);
  for (let o = 0; o < outer; o++) {
    copies.forEach((copy, k) => {
      data[o * copies.length + k] = a.data[o * n + copy.source] * factor(copy);
    });
  }
  return { shape: [...a.shape.slice(0, -1), copies.length], data };
}

/**
 * A consumer kernel seen as [outer, channels, inner · out] (conv: kernel positions; Dense after a
 * channels-last Flatten: spatial positions; inner: spatial positions after a channel-major one):
 * the channel axis is expanded, each copy's slice scaled by factor(copy).
 */
function expandInputAxis(a: Arr, channels: number, copies: Copy[], factor: (c: Copy) => number, inner = 1): Arr {
  const block = inner * a.shape[a.shape.length - 1];
  const outer = a.data.length / (channels * block);
  const data = new Float32Array(outer * copies.length * block);
  for (let o = 0; o < outer; o++) {
    copies.forEach((copy, k) => {
      const f = factor(copy);
      for (let c = 0; c < block; c++) data[(o * copies.length + k) * block + c] = a.data[(o * channels + copy.source) * block + c] * f;
    });
  }
  const shape = a.shape.slice();
  shape[shape.length - 2] = (shape[shape.length - 2] / channels) * copies.length;
  return { shape, data };
}

export interface SplitSpec {
  /** The Dense/Conv2D layer whose units are split. */
  layer: string;
  /** The next Dense/Conv2D layer(s), whose input weights take the copies. */
  consumer: string | string[];
  /** BatchNormalization right after the layer: the scaling then goes into gamma and beta. */
  batchNorm?: string;
  /** Other layers whose output channels are identified with this one's (the other inputs of a residual Add). */
  also?: { layer: string; batchNorm?: string }[];
  /** A DepthwiseConv2D (weights [depthwise kernel, bias?]) carrying the channels on, and its BatchNormalization. */
  follower?: { layer: string; batchNorm?: string };
  /** 'scaled' for positively homogeneous activations, 'exact' otherwise. */
  mode: 'scaled' | 'exact';
  /** Positions per channel when the consumer reads the layer through a channel-major Flatten (NCHW: ONNX). */
  channelMajor?: number;
  seed: number;
}

/**
 * Applies the splits in order to a copy of the weights (layer name → [kernel, bias] or BN's
 * [gamma, beta, mean, variance]); returns the new weights and the wide units per split layer.
 */
export function widen(original: Map<string, Arr[]>, splits: SplitSpec[]): { weights: Map<string, Arr[]>; units: Record<string, number> } {
  const weights = new Map<string, Arr[]>([...original].map(([k, v]) => [k, v.map((a) => ({ shape: a.shape.slice(), data: a.data.slice() }))]));
  const units: Record<string, number> = {};
  for (const s of splits) {
    const own = weights.get(s.layer)!;
    const n = own[0].shape[own[0].shape.length - 1];
    const copies = splitPlan(n, s.seed, s.mode === 'exact');
    const scaled = s.mode === 'scaled';
    const factor = (c: Copy): number => (scaled ? c.c : 1);
    for (const member of [{ layer: s.layer, batchNorm: s.batchNorm }, ...(s.also ?? [])]) {
      weights.set(member.layer, weights.get(member.layer)!.map((a) => expandLastAxis(a, copies, member.batchNorm ? () => 1 : factor)));
      if (member.batchNorm) {
        const [gamma, beta, mean, variance] = weights.get(member.batchNorm)!;
        weights.set(member.batchNorm, [
          expandLastAxis(gamma, copies, factor),
          expandLastAxis(beta, copies, factor),
          expandLastAxis(mean, copies, () => 1),
          expandLastAxis(variance, copies, () => 1),
        ]);
      }
    }
    if (s.follower) {
      // Its input copy is c·(the original channel): the same filter, and a shift scaled by c, give c·(its output).
      const [kernel, bias] = weights.get(s.follower.layer)!;
      weights.set(s.follower.layer, [expandInputAxis(kernel, n, copies, () => 1), ...(bias ? [expandLastAxis(bias, copies, factor)] : [])]);
      if (s.follower.batchNorm) {
        const [gamma, beta, mean, variance] = weights.get(s.follower.batchNorm)!;
        weights.set(s.follower.batchNorm, [
          expandLastAxis(gamma, copies, () => 1),
          expandLastAxis(beta, copies, factor),
          expandLastAxis(mean, copies, factor),
          expandLastAxis(variance, copies, () => 1),
        ]);
      }
    }
    for (const name of typeof s.consumer === 'string' ? [s.consumer] : s.consumer) {
      const consumer = weights.get(name)!;
      consumer[0] = expandInputAxis(consumer[0], n, copies, (c) => (scaled ? c.t / c.c : c.t), s.channelMajor);
    }
    for (const name of [s.layer, ...(s.also ?? []).map((m) => m.layer)]) units[name] = copies.length;
  }
  return { weights, units };
}

/** `build(units)` at the wider units `splits` give, holding `original`'s weights split by widen(): the same function. */
export function widenModel(
  original: tf.LayersModel, build: (units: Record<string, number>) => tf.LayersModel, splits: SplitSpec[],
): { wide: tf.LayersModel; units: Record<string, number> } {
  const { weights, units } = widen(layerWeights(original), splits);
  const wide = build(units);
  setLayerWeights(wide, weights);
  return { wide, units };
}

/** Makes unit `to` a positive multiple of unit `from` in every given weight (kernel, bias, …), in place. */
export function plantDuplicate(arrs: Arr[], from: number, to: number, factor: number): void {
  for (const a of arrs) {
    const n = a.shape[a.shape.length - 1];
    for (let o = 0; o < a.data.length / n; o++) a.data[o * n + to] = a.data[o * n + from] * factor;
  }
}

const ROLES: Record<string, string[]> = {
  Dense: ['kernel', 'bias'],
  Conv2D: ['kernel', 'bias'],
  DepthwiseConv2D: ['depthwise_kernel', 'bias'],
  BatchNormalization: ['gamma', 'beta', 'moving_mean', 'moving_variance'],
};

/** Each Dense/Conv2D/BatchNormalization layer's weights (engine layout) from a ModelSource's graph, as widen() takes them. */
export function graphArrays(graph: ModelGraph): Map<string, Arr[]> {
  const out = new Map<string, Arr[]>();
  for (const layer of graph.layers) {
    const weights = (ROLES[layer.className] ?? []).flatMap((role) => layer.weights.get(role) ?? []);
    if (weights.length) out.set(layer.name, weights.map((w) => ({ shape: w.shape.slice(), data: Float32Array.from(w.data) })));
  }
  return out;
}

/** Arrays from graphArrays() (widened, planted…) as weight tensors by weight name, for ModelSource.encode(). */
export function graphTensors(graph: ModelGraph, arrays: Map<string, Arr[]>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, arrs] of arrays) {
    const layer = graph.byName.get(name)!;
    const roles = ROLES[layer.className].filter((role) => layer.weights.has(role));
    roles.forEach((role, i) => out.set(layer.weights.get(role)!.name, { shape: arrs[i].shape, dtype: 'float32', data: arrs[i].data }));
  }
  return out;
}
