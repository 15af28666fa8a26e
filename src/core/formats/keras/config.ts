/**
 * Keras model configs. Keras 2 configs are the vocabulary the TF.js Layers topology parser and
 * tfjs read; Keras 3 configs are translated into it. A reduced model's config gets its new widths
 * and, in Keras 3, the input shapes its layers are built with.
 */
import { InputError } from '../../model/errors';
import { ModelGraph, Shape } from '../../model/graph';
import { NamedWeight } from '../../model/tensor';
import { isRecord, parseJsonInput } from '../../codecs/json';
import { buildLayersGraph, setUnits } from '../../codecs/kerasLayers';
import { jsonDifferences, patchJson } from './jsonPatch';

/** `{class_name, config}` as Keras serialises a model (Keras 3 adds module, registered_name, build_config, …). */
export interface ModelConfig {
  class_name: string;
  config: unknown;
  [key: string]: unknown;
}

export function parseModelConfig(file: string, text: string, where: string): ModelConfig {
  const parsed = parseJsonInput(file, text, where);
  if (!isRecord(parsed) || typeof parsed.class_name !== 'string') {
    throw new InputError(file, `${where} has no "class_name": not a Keras model config`);
  }
  return parsed as ModelConfig;
}

/** The layer entries of a Sequential (a bare list in Keras 2.0, else `{layers}`) or Functional config. */
export function layerEntries(model: ModelConfig): Record<string, unknown>[] {
  const list = Array.isArray(model.config) ? model.config : isRecord(model.config) ? model.config.layers : undefined;
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

/** A layer entry's name: top-level in Functional configs, inside `config` in Sequential ones. */
export function layerName(entry: Record<string, unknown>): string {
  const config = isRecord(entry.config) ? entry.config : {};
  return String(config.name ?? entry.name);
}

/** The engine's graph of a Keras config (either vocabulary), with the weights attached by "<layer>/<role>". */
export function graphOf(file: string, model: ModelConfig, weights: NamedWeight[] = []): ModelGraph {
  return buildLayersGraph(file, toKeras2(model), weights);
}

// ---- Keras 3 → Keras 2 ------------------------------------------------------------------------

/**
 * A Keras 3 config in Keras 2 terms: serialised objects lose module/registered_name/build_config,
 * dtype policies become their dtype name, InputLayer's batch_shape becomes batch_input_shape, and
 * Functional inbound nodes `{args: [KerasTensor…]}` become `[[layer, node, tensor, {}], …]`.
 * A Keras 2 config passes through unchanged.
 */
function toKeras2(model: ModelConfig): ModelConfig {
  return translate(model) as ModelConfig;
}

function translate(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => translate(v));
  if (!isRecord(value)) return value;
  if (key === 'dtype' && typeof value.class_name === 'string' && /DTypePolicy/.test(value.class_name)) {
    return isRecord(value.config) ? value.config.name : 'float32';
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'module' || k === 'registered_name' || k === 'build_config' || k === 'compile_config') continue;
    if (k === 'inbound_nodes' && Array.isArray(v)) out[k] = v.map(inboundNode);
    else if ((k === 'input_layers' || k === 'output_layers') && Array.isArray(v) && typeof v[0] === 'string') out[k] = [v];
    else out[k] = translate(v, k);
  }
  if (out.class_name === 'InputLayer' && isRecord(out.config)) {
    const { batch_shape: batchShape, optional: _optional, ...rest } = out.config;
    out.config = batchShape === undefined ? rest : { ...rest, batch_input_shape: batchShape };
  }
  return out;
}

/** A Keras 3 node `{args, kwargs}` as a Keras 2 node: the layer outputs it consumes, in order. */
function inboundNode(node: unknown): unknown {
  if (!isRecord(node)) return node;
  const inputs: unknown[] = [];
  const collect = (arg: unknown): void => {
    if (Array.isArray(arg)) arg.forEach(collect);
    else if (isRecord(arg) && arg.class_name === '__keras_tensor__' && isRecord(arg.config) && Array.isArray(arg.config.keras_history)) {
      const [layer, nodeIndex, tensorIndex] = arg.config.keras_history as unknown[];
      inputs.push([layer, nodeIndex, tensorIndex, {}]);
    }
  };
  collect(node.args);
  return inputs;
}

/**
 * What tfjs needs beyond Keras 2 terms: float32 everywhere (it has no float64), and no initializers,
 * regularizers or constraints (the weights are set from the file, and tfjs lacks some of Keras's).
 */
export function forTfjs(model: ModelConfig): ModelConfig {
  const adapt = (value: unknown, key = ''): unknown => {
    if (key.endsWith('_initializer')) return { class_name: 'Zeros', config: {} };
    if (key.endsWith('_regularizer') || key.endsWith('_constraint')) return null;
    if (Array.isArray(value)) return value.map((v) => adapt(v));
    if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, adapt(v, k)]));
    return key === 'dtype' && typeof value === 'string' && value.includes('float') ? 'float32' : value;
  };
  return adapt(toKeras2(model)) as ModelConfig;
}

// ---- the reduced model's config ------------------------------------------------------------------

/**
 * The reduced model's config text: `text` (the stored config, parsed as `model`) with only the
 * values that change rewritten, so everything else stays as Keras wrote it.
 */
export function reducedConfigText(file: string, text: string, model: ModelConfig, units: Map<string, number>): string {
  return patchJson(text, jsonDifferences(model, reducedConfig(file, model, units)));
}

/**
 * A copy of the config with the new widths. Keras 3 also records the shape each layer was built
 * with (`build_config.input_shape`) and the shapes of the tensors between layers; both follow the
 * reduced widths, taken from the reduced graph's inferred shapes.
 */
function reducedConfig(file: string, model: ModelConfig, units: Map<string, number>): ModelConfig {
  const reduced = structuredClone(model);
  setUnits(reduced, units);
  const graph = graphOf(file, reduced);
  const shapeOf = (layer: unknown): Shape | null => graph.byName.get(String(layer))?.outputShape ?? null;
  for (const entry of layerEntries(reduced)) {
    const node = graph.byName.get(layerName(entry)) ?? graph.byName.get(String(entry.name));
    const build = entry.build_config;
    if (node?.inbound.length === 1 && isRecord(build) && 'input_shape' in build) {
      build.input_shape = withShape(build.input_shape, shapeOf(node.inbound[0]));
    }
    if (Array.isArray(entry.inbound_nodes)) visitTensors(entry.inbound_nodes, (tensor) => {
      tensor.shape = withShape(tensor.shape, shapeOf((tensor.keras_history as unknown[])[0]));
    });
  }
  return reduced;
}

function visitTensors(value: unknown, visit: (config: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) value.forEach((v) => visitTensors(v, visit));
  else if (isRecord(value)) {
    if (value.class_name === '__keras_tensor__' && isRecord(value.config) && Array.isArray(value.config.keras_history)) visit(value.config);
    else Object.values(value).forEach((v) => visitTensors(v, visit));
  }
}

/** A batch shape `[batch, ...]` with the known sizes of `shape` filled in; anything else unchanged. */
function withShape(old: unknown, shape: Shape | null): unknown {
  if (!shape || !Array.isArray(old) || old.length !== shape.length + 1 || old.some((d) => Array.isArray(d))) return old;
  const dims: unknown[] = old;
  return [dims[0], ...shape.map((d, i) => d ?? dims[i + 1])];
}

// ---- weights by position ------------------------------------------------------------------------

/**
 * Keras 3 stores a layer's variables by position (`vars/0`, `vars/1`, …), in the order the layer
 * creates them; the engine knows them by role. Layers it does not analyse keep positional roles.
 */
export function weightRoles(className: string, config: Record<string, unknown>): string[] | null {
  const bias = config.use_bias === false ? [] : ['bias'];
  switch (className) {
    case 'Dense':
    case 'Conv1D':
    case 'Conv2D':
    case 'Conv3D':
    case 'Conv1DTranspose':
    case 'Conv2DTranspose':
    case 'Conv3DTranspose':
      return ['kernel', ...bias];
    case 'DepthwiseConv2D':
      return ['depthwise_kernel', ...bias];
    case 'SeparableConv2D':
      return ['depthwise_kernel', 'pointwise_kernel', ...bias];
    case 'BatchNormalization':
      return [...(config.scale === false ? [] : ['gamma']), ...(config.center === false ? [] : ['beta']), 'moving_mean', 'moving_variance'];
    default:
      return null;
  }
}
