/**
 * Runs an inferred PyTorch chain for verification, rebuilt as a tfjs model from the engine's
 * graph (so the original and a reduced file are run the same way). Inputs are PyTorch's: feature
 * vectors for a Linear-first chain, NCHW images for a Conv2d-first one, transposed to tfjs's NHWC.
 *
 * A state dict does not record strides, padding or pooling: convolutions are rebuilt with stride 1
 * and no pooling, and 'valid' or 'same' padding, whichever gives the following Linear as many
 * positions as it reads. The image size comes from the samples (a data file of shape [N, C, H, W]).
 */
import type * as TF from '@tensorflow/tfjs';
import { InputError } from '../../model/errors';
import { LayerNode, ModelGraph, Shape } from '../../model/graph';
import { Predictor } from '../../model/registry';
import { tfjsPredictor } from '../../compute/tfjsPredictor';
import { LayerSpec } from './chain';
import { BATCH_NORM_EPSILON } from './graph';

type Padding = 'valid' | 'same';

export function torchPredictor(tf: typeof TF, file: string, graph: ModelGraph, chains: LayerSpec[][]): Predictor {
  if (chains.length === 0) throw new InputError(file, 'holds no Linear or Conv2d layer to run');
  const inputShapes: Shape[] = chains.map((chain) => (chain[0].kind === 'Dense' ? [chain[0].inputs] : [chain[0].inputs, null, null]));
  // Built once the sample shapes are known (the image size of a conv-first chain comes with the data).
  let built: { key: string; predictor: Predictor } | null = null;
  return {
    inputShapes,
    classifier: false,
    async run(inputs, samples, shapes) {
      const key = JSON.stringify(shapes);
      if (built?.key !== key) {
        built?.predictor.dispose();
        built = { key, predictor: tfjsPredictor(tf, file, buildModel(tf, file, graph, chains, shapes), false) };
      }
      return built.predictor.run(inputs, samples, shapes);
    },
    dispose: () => built?.predictor.dispose(),
  };
}

function buildModel(tf: typeof TF, file: string, graph: ModelGraph, chains: LayerSpec[][], shapes: number[][]): TF.LayersModel {
  const inputs: TF.SymbolicTensor[] = [];
  const outputs: TF.SymbolicTensor[] = [];
  chains.forEach((chain, c) => {
    const input = tf.input({ shape: shapes[c] });
    inputs.push(input);
    let x = input;
    let padding: Padding = 'valid';
    if (chain[0].kind === 'Conv2D') {
      padding = choosePadding(file, chain, shapes[c]);
      x = tf.layers.permute({ dims: [2, 3, 1] }).apply(x) as TF.SymbolicTensor;
    }
    let node = graph.byName.get(graph.inputs[c])!;
    while (node.outbound.length) {
      node = graph.byName.get(node.outbound[0])!;
      const values = (WEIGHT_ROLES[node.className] ?? []).flatMap((role) => {
        const w = node.weights.get(role);
        return w ? [tf.tensor(w.data, w.shape)] : [];
      });
      // PyTorch flattens NCHW: back from tfjs's NHWC first, so the Linear's rows line up.
      if (node.channelMajor) x = tf.layers.permute({ dims: [3, 1, 2] }).apply(x) as TF.SymbolicTensor;
      // Applying builds the layer, which copies the values into its variables.
      x = toTfjsLayer(tf, node, values, padding).apply(x) as TF.SymbolicTensor;
      tf.dispose(values);
    }
    outputs.push(x);
  });
  return tf.model({ inputs, outputs });
}

/** Each layer's weights in the order tfjs takes them (absent ones skipped: no bias, BatchNorm without affine). */
const WEIGHT_ROLES: Record<string, string[]> = {
  Dense: ['kernel', 'bias'],
  Conv2D: ['kernel', 'bias'],
  BatchNormalization: ['gamma', 'beta', 'moving_mean', 'moving_variance'],
};

function toTfjsLayer(tf: typeof TF, node: LayerNode, weights: TF.Tensor[], padding: Padding): TF.layers.Layer {
  const config = node.config;
  const useBias = node.weights.has('bias');
  switch (node.className) {
    case 'Dense':
      return tf.layers.dense({ units: Number(config.units), useBias, weights });
    case 'Conv2D':
      return tf.layers.conv2d({ filters: Number(config.filters), kernelSize: config.kernel_size as number[], padding, useBias, weights });
    case 'BatchNormalization': {
      const affine = node.weights.has('gamma');
      return tf.layers.batchNormalization({ epsilon: BATCH_NORM_EPSILON, center: affine, scale: affine, weights });
    }
    case 'LeakyReLU':
      return tf.layers.leakyReLU({ alpha: Number(config.alpha) });
    case 'Activation':
      return tf.layers.activation({ activation: (config.activation === 'hard_sigmoid' ? 'hardSigmoid' : config.activation) as Parameters<typeof tf.layers.activation>[0]['activation'] });
    case 'Flatten':
      return tf.layers.flatten();
    default:
      throw new Error(`internal: no tfjs layer for ${node.className}`);
  }
}

/** The padding that makes the feature map before the first Linear as large as that Linear reads. */
function choosePadding(file: string, chain: LayerSpec[], shape: number[]): Padding {
  if (shape.length !== 3) throw new InputError(file, `the samples must be NCHW images (shape [N, ${chain[0].inputs}, H, W]) for this convolutional state dict`);
  const linear = chain.find((layer) => layer.flatten);
  if (!linear) return 'same';
  const convs = chain.slice(0, chain.indexOf(linear));
  const positions = (padding: Padding): number => {
    let [h, w] = shape.slice(1);
    for (const conv of convs) {
      if (padding === 'valid') {
        h -= conv.kernelSize[0] - 1;
        w -= conv.kernelSize[1] - 1;
      }
    }
    return Math.max(0, h) * Math.max(0, w);
  };
  const wanted = linear.flatten!.positions;
  const found = (['valid', 'same'] as const).find((p) => positions(p) === wanted);
  if (!found) {
    throw new InputError(
      file,
      `cannot rebuild the model for ${shape[1]}×${shape[2]} inputs: ${linear.name} reads ${wanted} positions per channel, but stride-1 convolutions ` +
        `without pooling give ${positions('valid')} (no padding) or ${positions('same')} (same padding). The state dict does not record strides, ` +
        'padding or pooling; export the model to ONNX to verify it',
    );
  }
  return found;
}
