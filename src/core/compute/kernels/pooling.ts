/** Pooling over image windows, and over whole images. */
import { LayerNode, paddings, pair } from '../../model/graph';
import { Outcome, Value } from '../value';
import { padAmount } from './geometry';
import { Kernel } from './kernel';
import { excerpt } from '../../codecs/json';

/** A kernel pooling one image [samples, height, width, channels]; any other input is refused, naming the layer. */
function imagePooling(pool: (layer: LayerNode, x: Value, [n, h, w, c]: number[]) => Outcome): Kernel {
  return {
    reads: 'one',
    run(layer, [x]): Outcome {
      if (x.shape.length !== 4) return { unsupported: `${excerpt(layer.name)} pools a tensor that is not an image` };
      return pool(layer, x, x.shape);
    },
  };
}

/** Max or average over windows; average pooling with "same" padding divides by the window's valid cells, as TensorFlow does. */
export function poolingKernel(mode: 'max' | 'average'): Kernel {
  const max = mode === 'max';
  return imagePooling((layer, x, [n, h, w, c]) => {
    const [ph, pw] = pair(layer.config.pool_size, 2);
    const [sh, sw] = layer.config.strides == null ? [ph, pw] : pair(layer.config.strides, ph);
    const [padH, padW] = paddings(layer.config.padding);
    const [top, oh] = padAmount(h, ph, sh, 1, padH);
    const [left, ow] = padAmount(w, pw, sw, 1, padW);
    const data = new Float64Array(n * oh * ow * c);
    for (let s = 0; s < n; s++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const at = ((s * oh + oy) * ow + ox) * c;
          for (let ch = 0; ch < c; ch++) {
            let acc = max ? -Infinity : 0;
            let cells = 0;
            for (let i = 0; i < ph; i++) {
              const y = oy * sh + i - top;
              if (y < 0 || y >= h) continue;
              for (let j = 0; j < pw; j++) {
                const xx = ox * sw + j - left;
                if (xx < 0 || xx >= w) continue;
                const v = x.data[((s * h + y) * w + xx) * c + ch];
                acc = max ? Math.max(acc, v) : acc + v;
                cells++;
              }
            }
            data[at + ch] = max ? acc : acc / Math.max(cells, 1);
          }
        }
      }
    }
    return { shape: [n, oh, ow, c], data };
  });
}

/** Max or average over each whole image, per channel. */
export function globalPoolingKernel(mode: 'max' | 'average'): Kernel {
  const max = mode === 'max';
  return imagePooling((layer, x, [n, h, w, c]) => {
    const data = new Float64Array(n * c).fill(max ? -Infinity : 0);
    for (let s = 0; s < n; s++) {
      for (let p = 0; p < h * w; p++) {
        for (let ch = 0; ch < c; ch++) {
          const v = x.data[(s * h * w + p) * c + ch];
          data[s * c + ch] = max ? Math.max(data[s * c + ch], v) : data[s * c + ch] + v / (h * w);
        }
      }
    }
    return { shape: layer.config.keepdims ? [n, 1, 1, c] : [n, c], data };
  });
}
