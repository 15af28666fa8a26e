/** BatchNormalization at inference: each channel shifted and scaled by its moving statistics. */
import { Outcome } from '../value';
import { Kernel } from './kernel';
import { excerpt } from '../../codecs/json';

export const batchNormKernel: Kernel = {
  reads: 'one',
  run(layer, [x], { weight }): Outcome {
    const mean = weight('moving_mean');
    const variance = weight('moving_variance');
    if (!mean || !variance) return { unsupported: `${excerpt(layer.name)} has no moving statistics` };
    const gamma = weight('gamma');
    const beta = weight('beta');
    const eps = Number(layer.config.epsilon ?? 1e-3);
    const channels = x.shape[x.shape.length - 1];
    if (mean.data.length !== channels) return { unsupported: `${excerpt(layer.name)} normalises an axis other than the channels` };
    const scale = Float64Array.from({ length: channels }, (_, j) => (gamma ? gamma.data[j] : 1) / Math.sqrt(variance.data[j] + eps));
    const data = new Float64Array(x.data.length);
    for (let i = 0; i < data.length; i++) {
      const j = i % channels;
      data[i] = (x.data[i] - mean.data[j]) * scale[j] + (beta ? beta.data[j] : 0);
    }
    return { shape: x.shape, data };
  },
};
