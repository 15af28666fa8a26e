import { InputError } from './errors';
import { NamedWeight } from './tensor';
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
