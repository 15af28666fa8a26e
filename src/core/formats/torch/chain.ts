/**
 * A state dict carries weights but no graph. This infers one: the model is taken to be a plain
 * feed-forward stack, Linear/Conv2d layers in state-dict order, each optionally followed by a
 * BatchNorm, with the user's activation between layers and none after the last.
 *
 * Rules, over the state dict's modules (keys grouped by their prefix, "net.0.weight" → "net.0"):
 *  - `weight` [out, in] (+ `bias` [out]) is a Linear; `weight` [out, in, kh, kw] (+ bias) a Conv2d;
 *  - `running_mean`/`running_var` (+ `weight`, `bias`, `num_batches_tracked`) right after a layer,
 *    with its channel count, is that layer's BatchNorm (folded like Keras' BatchNormalization);
 *  - a layer continues the current chain when its inputs are the previous layer's outputs; a Linear
 *    after a Conv2d when its inputs are a whole multiple of the channels: the convolution's output is
 *    flattened channel-major (NCHW, as torch.flatten does), `in / channels` positions per channel;
 *  - anything else (a layer that does not connect, LayerNorm, embeddings, …) ends the chain; keys
 *    that are no layer or BatchNorm (or a grouped convolution) are carried through unchanged and
 *    listed as unmatched.
 * Each chain's last layer is an output.
 */
import { isFloatDtype, RawTensor } from '../../codecs/dtypes';
import { convolves, layerKind, layerKinds } from '../../structure/layerKinds';

/** A module's tensors by role ("weight", "running_mean", …). */
interface Module {
  name: string;
  tensors: Map<string, RawTensor>;
}

export interface LayerSpec {
  /** The module's state-dict prefix, e.g. "net.0" or "fc1": what users see and edit. */
  name: string;
  /** The engine's class name: Dense or Conv2D. */
  kind: string;
  weight: RawTensor;
  bias: RawTensor | null;
  units: number;
  inputs: number;
  /** Conv2d kernel height and width. */
  kernelSize: [number, number];
  /** A Linear after a Conv2d: its input is the flattened feature map, `positions` values per channel. */
  flatten: { positions: number } | null;
  /** The BatchNorm right after the layer (num_batches_tracked is carried, not used). */
  batchNorm: Module | null;
}

export interface StateDictLayout {
  chains: LayerSpec[][];
  /** Modules that are not part of a chain, carried through unchanged; `position` chains come before each. */
  unmatched: { name: string; tensors: RawTensor[]; position: number }[];
}

const TOP_LEVEL = '(top level)';

/** The producer kinds PyTorch names, by the rank of their weight: Linear's [out, in] and Conv2d's [out, in, kh, kw] have the rank of the engine's kernels. */
const PRODUCERS_BY_RANK: ReadonlyMap<number, string> = new Map(
  layerKinds().filter((kind) => kind.channels === 'producer' && kind.torch).map((kind) => [kind.kernelRank!, kind.className]),
);

/** A BatchNorm's state-dict roles, as the table names them (num_batches_tracked aside). */
const BATCH_NORM_ROLES = [...layerKind('BatchNormalization')!.torch!.keys()];

export function inferChains(tensors: RawTensor[]): StateDictLayout {
  const chains: LayerSpec[][] = [];
  const unmatched: StateDictLayout['unmatched'] = [];
  let chain: LayerSpec[] = [];
  const close = (): void => {
    if (chain.length) chains.push(chain);
    chain = [];
  };
  for (const module of modulesOf(tensors)) {
    const previous = chain[chain.length - 1];
    const layer = asLayer(module);
    if (layer && !(previous && isGrouped(previous, layer))) {
      const link = previous ? connect(previous, layer) : null;
      if (!link) close();
      chain.push({ ...layer, flatten: link === 'direct' ? null : link });
      continue;
    }
    if (previous && !previous.batchNorm && isBatchNorm(module, previous.units)) {
      previous.batchNorm = module;
      continue;
    }
    close();
    unmatched.push({ name: module.name, tensors: [...module.tensors.values()], position: chains.length });
  }
  close();
  return { chains, unmatched };
}

/** Keys grouped by prefix, in order of first appearance. */
function modulesOf(tensors: RawTensor[]): Module[] {
  const modules = new Map<string, Module>();
  for (const t of tensors) {
    const dot = t.name.lastIndexOf('.');
    // A bare module's state dict ("weight", "bias") has no prefix.
    const name = dot < 0 ? TOP_LEVEL : t.name.slice(0, dot);
    const module = modules.get(name) ?? { name, tensors: new Map() };
    module.tensors.set(t.name.slice(dot + 1), t);
    modules.set(name, module);
  }
  return [...modules.values()];
}

function asLayer(module: Module): Omit<LayerSpec, 'flatten'> | null {
  const weight = module.tensors.get('weight');
  const bias = module.tensors.get('bias') ?? null;
  const roles = module.tensors.size - (bias ? 1 : 0);
  const kind = weight && PRODUCERS_BY_RANK.get(weight.shape.length);
  if (!weight || !kind || roles !== 1 || !isFloatDtype(weight.dtype)) return null;
  const [units, inputs, kh = 1, kw = 1] = weight.shape;
  if (bias && !isVector(bias, units)) return null;
  return { name: module.name, kind, weight, bias, units, inputs, kernelSize: [kh, kw], batchNorm: null };
}

function isBatchNorm(module: Module, channels: number): boolean {
  const t = module.tensors;
  if (!t.has('running_mean') || !t.has('running_var')) return false;
  return [...t].every(([role, tensor]) =>
    role === 'num_batches_tracked' ? tensor.shape.length === 0 : BATCH_NORM_ROLES.includes(role) && isVector(tensor, channels),
  );
}

function isVector(t: RawTensor, length: number): boolean {
  return isFloatDtype(t.dtype) && t.shape.length === 1 && t.shape[0] === length;
}

/** How `next` takes `previous`'s outputs, or null when it cannot be its consumer. */
function connect(previous: LayerSpec, next: Omit<LayerSpec, 'flatten'>): 'direct' | LayerSpec['flatten'] {
  if (previous.kind === next.kind) return next.inputs === previous.units ? 'direct' : null;
  if (convolves(previous.kind) && next.inputs % previous.units === 0 && next.inputs > 0) {
    return { positions: next.inputs / previous.units };
  }
  return null;
}

/**
 * A convolution taking a fraction of the previous one's channels is grouped (depthwise when one
 * each): its filters read different channels, so comparing them would be meaningless. It is not
 * taken for a layer.
 */
function isGrouped(previous: LayerSpec, next: Omit<LayerSpec, 'flatten'>): boolean {
  return convolves(previous.kind) && convolves(next.kind) && next.inputs < previous.units && previous.units % next.inputs === 0;
}
