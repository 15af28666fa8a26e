/** Flatten: each sample as one vector; channel-major (NCHW files) puts each channel's positions together. */
import { sizeOf } from '../../model/tensor';
import { transposeMatrix } from '../linalg';
import { Value } from '../value';
import { Kernel } from './kernel';

function flatten(x: Value, channelMajor: boolean): Value {
  const n = x.shape[0];
  const per = sizeOf(x.shape.slice(1));
  if (!channelMajor || x.shape.length < 3) return { shape: [n, per], data: x.data };
  const channels = x.shape[x.shape.length - 1];
  const positions = per / channels;
  const data = new Float64Array(x.data.length);
  for (let s = 0; s < n; s++) {
    const t = transposeMatrix(x.data.subarray(s * per, (s + 1) * per), positions, channels);
    data.set(t, s * per);
  }
  return { shape: [n, per], data };
}

export const flattenKernel: Kernel = { reads: 'one', run: (layer, [x]) => flatten(x, layer.channelMajor === true) };
