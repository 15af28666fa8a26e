/** ZeroPadding2D: zeros around each image. */
import { Outcome } from '../value';
import { Kernel } from './kernel';
import { excerpt } from '../../codecs/json';

export const zeroPaddingKernel: Kernel = {
  reads: 'one',
  run(layer, [x]): Outcome {
    if (x.shape.length !== 4) return { unsupported: `${excerpt(layer.name)} pads a tensor that is not an image` };
    const p = layer.config.padding;
    let top = 1, bottom = 1, left = 1, right = 1;
    if (typeof p === 'number') top = bottom = left = right = p;
    else if (Array.isArray(p) && Array.isArray(p[0])) {
      [top, bottom] = (p[0] as unknown[]).map(Number);
      [left, right] = (p[1] as unknown[]).map(Number);
    } else if (Array.isArray(p)) {
      top = bottom = Number(p[0]);
      left = right = Number(p[1]);
    }
    const [n, h, w, c] = x.shape;
    const oh = h + top + bottom, ow = w + left + right;
    const data = new Float64Array(n * oh * ow * c);
    for (let s = 0; s < n; s++) {
      for (let y = 0; y < h; y++) {
        const from = ((s * h + y) * w) * c;
        data.set(x.data.subarray(from, from + w * c), ((s * oh + y + top) * ow + left) * c);
      }
    }
    return { shape: [n, oh, ow, c], data };
  },
};
