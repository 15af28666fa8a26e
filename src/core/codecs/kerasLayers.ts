/**
 * The Keras Layers model config — the topology a TF.js Layers model.json and a Keras file share — read
 * into the engine's graph, and the one edit the writers make to it (new unit counts).
 */
import { InputError } from '../model/errors';
import { LayerNode, makeGraph, ModelGraph } from '../model/graph';
import { NamedWeight } from '../model/tensor';
import { isRecord } from './json';
import { inferShapes, layerKind } from '../structure/layerKinds';

interface RawLayer {
  class_name: string;
  config: Record<string, unknown>;
  name?: string;
  inbound_nodes?: unknown;
}

/**
 * The model config inside modelTopology, in both shapes seen in the wild: `{class_name, config}` directly,
 * or the Keras-converted `{keras_version, backend, model_config: {class_name, config}}`.
 */
export function modelConfigOf(topology: Record<string, unknown>): { class_name: string; config: unknown } {
  const inner = isRecord(topology.model_config) ? topology.model_config : topology;
  if (typeof inner.class_name !== 'string') throw new Error('modelTopology has no class_name');
  return inner as { class_name: string; config: unknown };
}

export function buildLayersGraph(file: string, topology: Record<string, unknown>, weights: NamedWeight[]): ModelGraph {
  let model;
  try {
    model = modelConfigOf(topology);
  } catch {
    throw new InputError(file, 'modelTopology has no "class_name": not a Keras/TF.js Layers topology');
  }
  const graph =
    model.class_name === 'Sequential'
      ? sequentialGraph(file, model.config)
      : functionalGraph(file, model.class_name, model.config);
  attachWeights(graph, weights);
  inferShapes(graph);
  return graph;
}

function rawLayers(file: string, list: unknown): RawLayer[] {
  if (!Array.isArray(list)) throw new InputError(file, 'the model config has no list of layers');
  return list.map((raw, i) => {
    if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config)) {
      throw new InputError(file, `layer ${i} has no class_name/config`);
    }
    return raw as unknown as RawLayer;
  });
}

function layerName(raw: RawLayer, fallback: string): string {
  const name = raw.config.name ?? raw.name;
  return typeof name === 'string' ? name : fallback;
}

function newNode(raw: RawLayer, name: string): LayerNode {
  return {
    name,
    className: raw.class_name,
    config: raw.config,
    inbound: [],
    outbound: [],
    shared: false,
    weights: new Map(),
    outputShape: null,
  };
}

function sequentialGraph(file: string, config: unknown): ModelGraph {
  // Keras 2.0 wrote a bare list; later versions write {name, layers}.
  const list = Array.isArray(config) ? config : isRecord(config) ? config.layers : undefined;
  const raws = rawLayers(file, list);
  if (raws.length === 0) throw new InputError(file, 'the Sequential model has no layers');
  const layers: LayerNode[] = [];
  const first = raws[0];
  if (first.class_name !== 'InputLayer') {
    const shape = first.config.batch_input_shape ?? first.config.batchInputShape;
    if (!Array.isArray(shape)) throw new InputError(file, `the first layer "${layerName(first, 'layer 0')}" has no batch_input_shape`);
    const input = newNode({ class_name: 'InputLayer', config: { batch_input_shape: shape } }, '__input__');
    layers.push({ ...input, synthetic: true });
  }
  raws.forEach((raw, i) => layers.push(newNode(raw, layerName(raw, `layer_${i}`))));
  for (let i = 1; i < layers.length; i++) {
    layers[i].inbound.push(layers[i - 1].name);
    layers[i - 1].outbound.push(layers[i].name);
  }
  return makeGraph(file, 'Sequential', layers, [layers[0].name], [layers[layers.length - 1].name]);
}

function functionalGraph(file: string, modelClass: string, config: unknown): ModelGraph {
  if (!isRecord(config)) throw new InputError(file, `the ${modelClass} config is not an object`);
  const raws = rawLayers(file, config.layers);
  const layers = raws.map((raw, i) => newNode(raw, typeof raw.name === 'string' ? raw.name : layerName(raw, `layer_${i}`)));
  const byName = new Map(layers.map((l) => [l.name, l]));
  raws.forEach((raw, i) => {
    const nodes: unknown[] = Array.isArray(raw.inbound_nodes) ? raw.inbound_nodes : [];
    if (nodes.length > 1) layers[i].shared = true;
    const first = nodes[0];
    if (!Array.isArray(first)) return;
    for (const entry of first) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') {
        throw new InputError(file, `layer "${layers[i].name}" has an inbound node this tool cannot read`);
      }
      const source = byName.get(entry[0]);
      if (!source) throw new InputError(file, `layer "${layers[i].name}" is fed by unknown layer "${entry[0]}"`);
      layers[i].inbound.push(source.name);
      source.outbound.push(layers[i].name);
    }
  });
  const endpoint = (key: string): string[] => {
    const list = config[key];
    if (!Array.isArray(list)) throw new InputError(file, `the ${modelClass} config has no ${key}`);
    // A single endpoint may be written flat: ["name", 0, 0].
    const entries = typeof list[0] === 'string' ? [list] : list;
    return entries.map((e) => {
      const name: unknown = Array.isArray(e) ? e[0] : undefined;
      if (typeof name !== 'string' || !byName.has(name)) throw new InputError(file, `${key} names an unknown layer`);
      return name;
    });
  };
  return makeGraph(file, modelClass, layers, endpoint('input_layers'), endpoint('output_layers'));
}

/**
 * Weight names are "<layer name>/<role>", possibly with outer scopes in front and ":0" behind.
 * Weights no layer owns (nested models) are carried through untouched by the writer.
 */
function attachWeights(graph: ModelGraph, weights: NamedWeight[]): void {
  for (const weight of weights) {
    const parts = weight.name.replace(/:\d+$/, '').split('/');
    const role = parts.pop()!;
    for (let start = 0; start < parts.length; start++) {
      const owner = graph.byName.get(parts.slice(start).join('/'));
      if (owner) {
        owner.weights.set(role, weight);
        break;
      }
    }
  }
}

/** Sets Dense units and Conv filters in the model config of a Keras Layers topology. */
export function setUnits(topology: Record<string, unknown>, newUnits: Map<string, number>): void {
  const model = modelConfigOf(topology);
  const config = model.config;
  const layers = Array.isArray(config) ? config : isRecord(config) && Array.isArray(config.layers) ? config.layers : [];
  for (const layer of layers as { class_name: string; name?: string; config: Record<string, unknown> }[]) {
    const name = (layer.config.name ?? layer.name) as string;
    const units = newUnits.get(name);
    if (units === undefined) continue;
    const key = layerKind(layer.class_name)?.widthKey;
    if (key) layer.config[key] = units;
  }
}
