/**
 * What an exported network computes, read off the engine's graph: a chain of Dense layers and
 * element-wise activations from one vector input to one output. Anything else (convolutions,
 * softmax, branches) is refused naming the layer, because the generated code would not compute it.
 */
import { activationByName, ActivationFn } from '../structure/activations';
import { layerKind } from '../structure/layerKinds';
import { InputError } from '../model/errors';
import { LayerNode, ModelGraph } from '../model/graph';
import { StorageDtype } from '../model/tensor';
import { excerpt } from '../codecs/json';

/** The element-wise functions the generated code implements (as the engine defines them, structure/activations.ts). */
export type ExportActivation =
  | { name: 'relu' | 'elu' | 'tanh' | 'sigmoid' | 'gelu' | 'softplus' | 'swish' }
  | { name: 'leaky_relu'; alpha: number };

export type ExportStep =
  | { op: 'dense'; layer: string; inputs: number; outputs: number; /** [inputs, outputs], row-major. */ kernel: Float32Array; bias: Float32Array }
  | { op: 'activation'; layer: string; width: number; activation: ExportActivation };

/** The precision the model's weights are stored in; the generated code computes in it too. */
export type ExportDtype = 'float32' | 'float64';

export interface ExportPlan {
  dtype: ExportDtype;
  inputs: number;
  outputs: number;
  steps: ExportStep[];
  /** Widest vector between steps: the size of the generated code's work buffers. */
  maxWidth: number;
}

const NAMED = new Set(['relu', 'elu', 'tanh', 'sigmoid', 'gelu', 'softplus', 'swish']);
/** leakyRelu names itself after its slope, printed as a JavaScript number. */
const LEAKY = /^leaky_relu\((-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\)$/;

/** The generated form of an engine activation; undefined for one the generators do not implement; null for the identity. */
function exportActivation(fn: ActivationFn): ExportActivation | null | undefined {
  if (fn.name === 'linear') return null;
  if (NAMED.has(fn.name)) return { name: fn.name } as ExportActivation;
  const leaky = LEAKY.exec(fn.name);
  return leaky ? { name: 'leaky_relu', alpha: Number(leaky[1]) } : undefined;
}

/** The dtype a model computes in: float64 when its Dense weights are all stored so, float32 otherwise (float16 and quantised weights widen to it). */
function modelDtype(storages: StorageDtype[]): ExportDtype {
  return storages.length > 0 && storages.every((s) => s === 'float64') ? 'float64' : 'float32';
}

export function exportPlan(file: string, graph: ModelGraph): ExportPlan {
  const refuse = (layer: LayerNode, problem: string): never => {
    throw new InputError(file, `cannot export layer ${excerpt(layer.name)} (${layer.className}): ${problem}; export takes Dense layers and element-wise activations (relu, leaky_relu, elu, tanh, sigmoid, gelu, softplus, swish, linear)`);
  };
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    throw new InputError(file, `cannot export a model with ${graph.inputs.length} inputs and ${graph.outputs.length} outputs; export takes one input and one output`);
  }
  const input = graph.byName.get(graph.inputs[0])!;
  const shape = input.outputShape;
  if (!shape || shape.length !== 1 || shape[0] === null) {
    // The layers are checked first: a convolutional model is refused for its first convolution.
    const unsupported = graph.layers.find((l) => l !== input && l.className !== 'Dense' && !['activation', 'identity'].includes(layerKind(l.className)?.channels ?? ''));
    if (unsupported) refuse(unsupported, 'export does not implement it');
    throw new InputError(file, `cannot export: the input must be a vector of known length, got shape [${shape?.map((d) => d ?? '?').join(', ') ?? 'unknown'}]`);
  }
  const steps: ExportStep[] = [];
  const storages: StorageDtype[] = [];
  let width = shape[0];
  let maxWidth = width;
  const addActivation = (layer: LayerNode, fn: ActivationFn | null, what: string): void => {
    const activation = fn ? exportActivation(fn) : undefined;
    if (activation === undefined) refuse(layer, `its activation ${what} is not one export implements`);
    if (activation) steps.push({ op: 'activation', layer: layer.name, width, activation });
  };
  // A chain: from the input, each layer the only consumer of the one before, up to the output.
  let at = input;
  while (at.name !== graph.outputs[0]) {
    if (at.outbound.length !== 1) refuse(at, `its output feeds ${at.outbound.length} layers, not one`);
    const layer = graph.byName.get(at.outbound[0])!;
    if (layer.inbound.length !== 1 || layer.shared) refuse(layer, 'it is not part of a single chain of layers');
    const channels = layerKind(layer.className)?.channels;
    if (layer.className === 'Dense') {
      const kernel = layer.weights.get('kernel')!;
      if (kernel.shape.length !== 2 || kernel.shape[0] !== width) refuse(layer, `its kernel has shape [${kernel.shape.join(', ')}] for an input of ${width} values`);
      const outputs = kernel.shape[1];
      const bias = layer.config.use_bias === false ? undefined : layer.weights.get('bias');
      const values = { kernel: Float32Array.from(kernel.data), bias: bias ? Float32Array.from(bias.data) : new Float32Array(outputs) };
      if (![values.kernel, values.bias].every((a) => a.every(Number.isFinite))) refuse(layer, 'its weights hold a value that is not finite');
      storages.push(kernel.storage, ...(bias ? [bias.storage] : []));
      steps.push({ op: 'dense', layer: layer.name, inputs: width, outputs, ...values });
      width = outputs;
      maxWidth = Math.max(maxWidth, width);
      const named = layer.config.activation;
      addActivation(layer, activationByName(named), excerpt(named));
    } else if (channels === 'activation') {
      addActivation(layer, layerKind(layer.className)!.activation!(layer.config), 'as configured');
    } else if (channels !== 'identity') {
      refuse(layer, 'export does not implement it');
    }
    at = layer;
  }
  if (!steps.some((s) => s.op === 'dense')) throw new InputError(file, 'cannot export: the model has no Dense layer');
  return { dtype: modelDtype(storages), inputs: shape[0], outputs: width, steps, maxWidth };
}

/** Where a step reads and writes one sample's vector: the caller's arrays or one of two work buffers. */
export type Place = 'input' | 'a' | 'b' | 'output';

/**
 * The route of a sample through the steps: Dense layers alternate between the two work buffers
 * (a product cannot be written over its own input), the last one writes the outputs, and
 * activations apply in place, except on the caller's input, which they copy to a buffer.
 */
export function route(plan: ExportPlan): { steps: { step: ExportStep; index: number; from: Place; to: Place }[]; buffers: Place[] } {
  const lastDense = plan.steps.map((s) => s.op).lastIndexOf('dense');
  const buffers = new Set<Place>();
  let at: Place = 'input';
  const steps = plan.steps.map((step, index) => {
    const from = at;
    if (step.op === 'dense') at = index === lastDense ? 'output' : from === 'a' ? 'b' : 'a';
    else if (from === 'input') at = 'a';
    if (at === 'a' || at === 'b') buffers.add(at);
    return { step, index, from, to: at };
  });
  return { steps, buffers: [...buffers].sort() };
}
