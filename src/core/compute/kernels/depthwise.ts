/** DepthwiseConv2D: each input channel filtered on its own (kernel [kh, kw, C, multiplier]), then its own activation. */
import { LayerNode } from '../../model/graph';
import { Tensor } from '../../model/tensor';
import { isUnsupported, Outcome, Value } from '../value';
import { ownActivation } from './activation';
import { convGeometry } from './geometry';
import { Kernel } from './kernel';
import { excerpt } from '../../codecs/json';

function depthwise(layer: LayerNode, x: Value, weight: (role: string) => Tensor | undefined): Outcome {
  const kernel = weight('depthwise_kernel');
  if (!kernel) return { unsupported: `${excerpt(layer.name)} has no depthwise kernel` };
  const g = convGeometry(layer, x.shape);
  if (isUnsupported(g)) return g;
  const { kh, kw, sh, sw, dh, dw, top, left, outH, outW } = g;
  const [n, height, width, channels] = x.shape;
  const multiplier = kernel.shape[3];
  if (kernel.shape[2] !== channels) return { unsupported: `${excerpt(layer.name)}'s kernel does not match its input` };
  const outC = channels * multiplier;
  const bias = layer.config.use_bias === false ? undefined : weight('bias');
  const data = new Float64Array(n * outH * outW * outC);
  for (let s = 0; s < n; s++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const at = ((s * outH + oy) * outW + ox) * outC;
        if (bias) for (let o = 0; o < outC; o++) data[at + o] = bias.data[o];
        for (let i = 0; i < kh; i++) {
          const y = oy * sh + i * dh - top;
          if (y < 0 || y >= height) continue;
          for (let j = 0; j < kw; j++) {
            const xx = ox * sw + j * dw - left;
            if (xx < 0 || xx >= width) continue;
            const from = ((s * height + y) * width + xx) * channels;
            const k0 = (i * kw + j) * channels * multiplier;
            for (let c = 0; c < channels; c++) {
              const v = x.data[from + c];
              for (let m = 0; m < multiplier; m++) data[at + c * multiplier + m] += v * kernel.data[k0 + c * multiplier + m];
            }
          }
        }
      }
    }
  }
  return { shape: [n, outH, outW, outC], data };
}

export const depthwiseKernel: Kernel = { reads: 'one', run: (layer, [x], context) => ownActivation(layer, depthwise(layer, x, context.weight)) };
