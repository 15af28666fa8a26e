/**
 * A trainable tfjs network built from the engine's graph (any format: all are read into that graph),
 * holding the file's weights; after training, its weights come back as the engine's tensors by weight
 * name — the `changed` map a format's writer takes, so the written file keeps the original's
 * structure, names and dtypes.
 */
import type * as TF from '@tensorflow/tfjs';
import { InputError } from '../model/errors';
import { LayerNode, ModelGraph } from '../model/graph';
import { sizeOf, Tensor } from '../model/tensor';
import { isInput } from '../structure/layerKinds';
import { TRAINABLE_KINDS, Unbuildable, unbuildable } from './layers';

export interface TrainableNetwork {
  model: TF.LayersModel;
  /** Engine nodes with weights, and the tfjs layer holding them in `roles` order. */
  bound: { node: LayerNode; layer: TF.layers.Layer; roles: string[] }[];
}

/**
 * Builds the network from the graph's single input to its first output. `inputShape` is one sample's
 * shape, channels-last (from the data: the graph may leave sizes unknown). Nodes off the path to the
 * first output are not built.
 */
export function buildTrainable(tf: typeof TF, graph: ModelGraph, file: string, inputShape: number[]): TrainableNetwork {
  if (graph.inputs.length !== 1) throw new InputError(file, 'retraining supports single-input models only');
  const needed = ancestors(graph, graph.outputs[0]);
  const outputs = new Map<string, TF.SymbolicTensor>();
  const input = tf.input({ shape: inputShape });
  const bound: TrainableNetwork['bound'] = [];
  for (const node of graph.layers) {
    if (!needed.has(node.name)) continue;
    if (isInput(node)) {
      outputs.set(node.name, input);
      continue;
    }
    const kind = TRAINABLE_KINDS.get(node.className);
    if (!kind) throw unbuildable(file, node);
    if (node.shared) throw unbuildable(file, node, 'a layer shared by several calls');
    const inputs = node.inbound.map((name) => outputs.get(name)!);
    let built;
    try {
      built = kind.build(tf, node, inputs);
    } catch (e) {
      if (e instanceof Unbuildable) throw unbuildable(file, node, e.message);
      throw unbuildable(file, node, (e as Error).message);
    }
    outputs.set(node.name, built.output);
    const roles = kind.roles?.(node) ?? [];
    if (roles.length && built.weighted) bound.push({ node, layer: built.weighted, roles });
  }
  const model = tf.model({ inputs: input, outputs: outputs.get(graph.outputs[0])! });
  for (const { node, layer, roles } of bound) {
    const held = layer.weights;
    if (held.length !== roles.length) throw unbuildable(file, node, `tfjs holds ${held.length} weights, the file ${roles.length}`);
    const values = roles.map((role, i) => {
      const w = node.weights.get(role);
      if (!w) throw unbuildable(file, node, `no "${role}" weight`);
      if (sizeOf(w.shape) !== sizeOf(held[i].shape as number[]) || w.shape.length !== held[i].shape.length) {
        throw unbuildable(file, node, `its ${role} is [${w.shape.join(', ')}], tfjs expects [${held[i].shape.join(', ')}]`);
      }
      return tf.tensor(Float32Array.from(w.data), held[i].shape as number[], 'float32');
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
  return { model, bound };
}

/** The names of the layers `output` is computed from (itself included). */
export function ancestors(graph: ModelGraph, output: string): Set<string> {
  const seen = new Set<string>();
  const stack = [output];
  while (stack.length) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    stack.push(...graph.byName.get(name)!.inbound);
  }
  return seen;
}

/** The network's weights as the engine's tensors, by the file's weight names (in the engine's layout). */
export function trainedWeights(network: TrainableNetwork): Map<string, Tensor> {
  const changed = new Map<string, Tensor>();
  for (const { node, layer, roles } of network.bound) {
    layer.weights.forEach((variable, i) => {
      const w = node.weights.get(roles[i])!;
      changed.set(w.name, { shape: w.shape.slice(), dtype: 'float32', data: Float32Array.from(variable.read().dataSync()) });
    });
  }
  return changed;
}
