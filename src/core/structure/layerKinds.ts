/** What the engine knows about layer kinds, by the engine's class name (Keras vocabulary). */
import { activationByName, ActivationFn, leakyRelu } from './activations';
import { LayerNode } from '../model/graph';

export const IDENTITY_AT_INFERENCE = new Set([
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'ActivityRegularization',
]);
/** Per-channel ops that commute with positive scaling of a channel. */
export const PER_CHANNEL = new Set([
  'MaxPooling2D', 'AveragePooling2D', 'MaxPooling1D', 'AveragePooling1D', 'ZeroPadding2D', 'Cropping2D',
  'UpSampling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'GlobalAveragePooling1D', 'GlobalMaxPooling1D',
]);
export const MERGING = new Set(['Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Dot']);
export const TIED_CONSUMERS = new Set(['SeparableConv2D']);

export function isCondensable(layer: LayerNode): layer is LayerNode & { className: 'Dense' | 'Conv2D' } {
  return layer.className === 'Dense' || layer.className === 'Conv2D';
}

/** An activation layer's function, or undefined when the layer is not an activation. */
export function activationLayer(layer: LayerNode): ActivationFn | null | undefined {
  const c = layer.config;
  switch (layer.className) {
    case 'Activation':
      return activationByName(c.activation);
    case 'LeakyReLU':
      return leakyRelu(Number(c.alpha ?? c.negative_slope ?? 0.3));
    case 'ReLU': {
      const max = c.max_value ?? c.maxValue;
      const slope = Number(c.negative_slope ?? 0);
      const threshold = Number(c.threshold ?? 0);
      if (threshold !== 0) return null;
      if (max != null) return max === 6 ? activationByName('relu6') : null;
      return slope ? leakyRelu(slope) : activationByName('relu');
    }
    case 'ELU':
      return Number(c.alpha ?? 1) === 1 ? activationByName('elu') : null;
    default:
      return undefined;
  }
}


/** A layer that carries its input's channels on one to one, as far as which channel is which goes. */
export function passesChannels(layer: LayerNode): boolean {
  return layer.className === 'BatchNormalization' || layer.className === 'DepthwiseConv2D' || activationLayer(layer) !== undefined ||
    IDENTITY_AT_INFERENCE.has(layer.className) || PER_CHANNEL.has(layer.className);
}
