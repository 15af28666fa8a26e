/** Windows over images (convolutions, pooling): padding and output sizes as Keras computes them. */
import { kernelSize, LayerNode, Padding, paddings, pair } from '../../model/graph';
import { Unsupported } from '../value';
import { excerpt } from '../../codecs/json';

export interface ConvGeometry {
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  top: number; left: number; outH: number; outW: number;
}

export function convGeometry(layer: LayerNode, shape: number[]): ConvGeometry | Unsupported {
  if ((layer.className !== 'Conv2D' && layer.className !== 'DepthwiseConv2D') || shape.length !== 4 || layer.config.data_format === 'channels_first') return { unsupported: `${excerpt(layer.name)} is not a channels-last Dense or Conv2D layer` };
  const [kh, kw] = kernelSize(layer);
  const [sh, sw] = pair(layer.config.strides, 1);
  const [dh, dw] = pair(layer.config.dilation_rate, 1);
  const [padH, padW] = paddings(layer.config.padding);
  const [top, outH] = padAmount(shape[1], kh, sh, dh, padH);
  const [left, outW] = padAmount(shape[2], kw, sw, dw, padW);
  return { kh, kw, sh, sw, dh, dw, top, left, outH, outW };
}

/** Padding before the first position and the output size along one axis (Keras "same"/"valid", or explicit amounts). */
export function padAmount(size: number, kernel: number, stride: number, dilation: number, padding: Padding): [number, number] {
  const span = dilation * (kernel - 1) + 1;
  if (padding === 'same') {
    const out = Math.ceil(size / stride);
    return [Math.floor(Math.max((out - 1) * stride + span - size, 0) / 2), out];
  }
  const [before, after] = Array.isArray(padding) ? padding : [0, 0];
  return [before, Math.floor((size + before + after - span) / stride) + 1];
}
