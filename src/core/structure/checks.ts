/**
 * The checks of an opened model's graph against what the table of layer kinds says of each kind: its
 * numeric config fields, its weights' shapes against its width, and every layer's inferred shape.
 */
import { excerpt } from '../codecs/json';
import { InputError } from '../model/errors';
import { LayerNode, ModelGraph } from '../model/graph';
import { MAX_TENSOR_ELEMENTS, NamedWeight, sizeOf } from '../model/tensor';
import { layerKind } from './layerKinds';

/**
 * Refuses a graph whose configs and weights do not fit together, before the engine relies on them:
 * every inferred shape is whole sizes within the allocation limit, every width a reduction changes
 * (Dense units, Conv2D filters) is a positive integer that its kernel and bias agree with, and every
 * layer the similarity reads (kernels, batch normalisation statistics) has those weights.
 */
export function checkGraph(file: string, graph: ModelGraph): void {
  for (const layer of graph.layers) {
    for (const field of layerKind(layer.className)?.configNumbers ?? []) configNumber(file, layer, field);
    checkLayerWeights(file, layer);
    checkOutputShape(file, layer);
  }
}

/** A numeric config field: the fallback when absent, else a finite number, or the model is refused naming the layer and field. */
function configNumber(file: string, layer: LayerNode, field: string, fallback?: number): number | undefined {
  const value = Object.hasOwn(layer.config, field) ? layer.config[field] : undefined;
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) has ${field} ${excerpt(value)}; it must be a finite number`);
  }
  return value;
}

function checkOutputShape(file: string, layer: LayerNode): void {
  const shape = layer.outputShape;
  if (!shape) return;
  if (!shape.every((d) => d === null || (Number.isSafeInteger(d) && d >= 0))) {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) would produce shape [${shape.join(', ')}], which is not whole sizes: its config does not fit its input`);
  }
  if (sizeOf(shape.filter((d): d is number => d !== null)) > MAX_TENSOR_ELEMENTS) {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) would produce shape [${shape.join(', ')}], more than this tool will allocate`);
  }
}

function checkLayerWeights(file: string, layer: LayerNode): void {
  // A declaration, not an arrow: only a declared never-returning function narrows what follows its call.
  function refuse(problem: string): never {
    throw new InputError(file, `layer ${excerpt(layer.name)} (${layer.className}) ${problem}`);
  }
  const weight = (role: string): NamedWeight => layer.weights.get(role) ?? refuse(`has no ${role} in the weights (a layer renamed in the config?)`);
  const shapeText = (w: NamedWeight): string => `[${w.shape.join(', ')}]`;
  const kind = layerKind(layer.className);
  if (kind?.channels === 'producer' && kind.widthKey && kind.kernelRank) {
    const { widthKey, kernelRank } = kind;
    const width = layer.config[widthKey];
    if (typeof width !== 'number' || !Number.isSafeInteger(width) || width <= 0) refuse(`has ${widthKey} ${excerpt(width)}; it must be a positive integer`);
    const kernel = weight('kernel');
    if (kernel.shape.length < kernelRank || kernel.shape[kernel.shape.length - 1] !== width) refuse(`has ${widthKey} ${width}, but its kernel has shape ${shapeText(kernel)}`);
    const bias = layer.weights.get('bias');
    if (bias && sizeOf(bias.shape) !== width) refuse(`has ${widthKey} ${width}, but its bias has shape ${shapeText(bias)}`);
  } else if (kind?.channels === 'depthwise') {
    const kernel = weight('depthwise_kernel');
    if (kernel.shape.length !== 4) refuse(`has a depthwise kernel of shape ${shapeText(kernel)}; it must have 4 axes`);
    const bias = layer.weights.get('bias');
    if (bias && sizeOf(bias.shape) !== kernel.shape[2] * kernel.shape[3]) refuse(`has a bias of shape ${shapeText(bias)} for a kernel of shape ${shapeText(kernel)}`);
  } else if (kind?.channels === 'batchNorm') {
    const channels = sizeOf(weight('moving_mean').shape);
    for (const role of ['moving_variance', 'gamma', 'beta']) {
      const w = role === 'moving_variance' ? weight(role) : layer.weights.get(role);
      if (w && sizeOf(w.shape) !== channels) refuse(`has ${role} of shape ${shapeText(w)} but ${channels} moving means`);
    }
  }
}
