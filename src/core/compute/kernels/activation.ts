/** Element-wise activations, softmax, and the identities of inference. */
import { activationByName, ActivationFn } from '../../structure/activations';
import { LayerNode } from '../../model/graph';
import { Outcome, Value } from '../value';
import { Kernel, notEvaluated } from './kernel';
import { excerpt } from '../../codecs/json';

function activate(x: Value, act: ActivationFn): Value {
  if (act.name === 'linear') return x;
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) data[i] = act.apply(x.data[i]);
  return { shape: x.shape, data };
}

/** Softmax over the last axis (max subtracted first). */
function softmax(x: Value): Value {
  const width = x.shape[x.shape.length - 1];
  const data = new Float64Array(x.data.length);
  for (let r = 0; r < data.length; r += width) {
    let max = -Infinity;
    for (let i = r; i < r + width; i++) max = Math.max(max, x.data[i]);
    let sum = 0;
    for (let i = r; i < r + width; i++) sum += data[i] = Math.exp(x.data[i] - max);
    for (let i = r; i < r + width; i++) data[i] /= sum;
  }
  return { shape: x.shape, data };
}

/** The activation a Dense, Conv2D or DepthwiseConv2D layer's config names, applied to its pre-activation. */
export function ownActivation(layer: LayerNode, z: Outcome): Outcome {
  if ('unsupported' in z) return z;
  const name = layer.config.activation;
  if (name === 'softmax') return softmax(z);
  const act = activationByName(name);
  if (!act) return { unsupported: `activation ${excerpt(name)} of ${excerpt(layer.name)}` };
  return activate(z, act);
}

/**
 * An activation layer computing the function its config describes (null: a config the engine does
 * not take); `isSoftmax`: the configs that ask for a softmax over the channels instead.
 */
export function activationKernel(
  functionOf: (config: Record<string, unknown>) => ActivationFn | null,
  isSoftmax?: (config: Record<string, unknown>) => boolean,
): Kernel {
  return {
    reads: 'one',
    run(layer, [x]) {
      if (isSoftmax?.(layer.config)) return softmax(x);
      const act = functionOf(layer.config);
      return act ? activate(x, act) : notEvaluated(layer);
    },
  };
}

export const softmaxKernel: Kernel = { reads: 'one', run: (_, [x]) => softmax(x) };

/** Layers that pass their input on unchanged at inference (dropout, noise). */
export const identityKernel: Kernel = { reads: 'one', run: (_, [x]) => x };
