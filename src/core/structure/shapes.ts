/**
 * Output-shape rules: how a layer's output shape (without the batch axis) follows from its config
 * and its inputs' shapes, Keras' arithmetic, channels-last. The table of layer kinds names each
 * kind's rule; inferShapes (layerKinds.ts) applies them in topological order.
 */
import { kernelSize, LayerNode, pair, Padding, paddings, Shape } from '../model/graph';

/** A layer's output shape from its inputs' shapes (null where unknown), or null when it cannot tell. */
export type ShapeRule = (layer: LayerNode, inputs: readonly (Shape | null)[]) => Shape | null;

/** A rule that needs its first input's shape: unknown while that is. */
const fromInput = (rule: (layer: LayerNode, input: Shape, inputs: readonly (Shape | null)[]) => Shape | null): ShapeRule =>
  (layer, inputs) => (inputs[0] ? rule(layer, inputs[0], inputs) : null);

/** The engine does not infer the kind's output shape: nothing it does with such layers needs it. */
export const notInferred: ShapeRule = () => null;

/** The model's input: the shape its config declares. */
export const declaredShape: ShapeRule = (layer) => {
  const c = layer.config;
  const shape = c.batch_input_shape ?? c.batchInputShape ?? c.batch_shape;
  return Array.isArray(shape) ? (shape.slice(1) as Shape) : null;
};

/** Element-wise layers and merges of equal shapes: the first input's shape. */
export const sameShape: ShapeRule = fromInput((_layer, input) => input.slice());

export const denseShape: ShapeRule = fromInput((layer, input) => [...input.slice(0, -1), Number(layer.config.units)]);

function convOut(size: number | null, kernel: number, stride: number, dilation: number, padding: Padding): number | null {
  if (size === null) return null;
  if (padding === 'same') return Math.ceil(size / stride);
  const [before, after] = Array.isArray(padding) ? padding : [0, 0];
  return Math.floor((size + before + after - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** A channels-last convolution's output: its windows over the image, and `channels` of them. */
function convolved(layer: LayerNode, input: Shape, channels: (input: Shape) => number | null): Shape | null {
  const c = layer.config;
  if (input.length !== 3 || c.data_format === 'channels_first') return null;
  const [kh, kw] = kernelSize(layer);
  const [sh, sw] = pair(c.strides, 1);
  const [dh, dw] = pair(c.dilation_rate, 1);
  const [padH, padW] = paddings(c.padding);
  return [convOut(input[0], kh, sh, dh, padH), convOut(input[1], kw, sw, dw, padW), channels(input)];
}

export const conv2dShape: ShapeRule = fromInput((layer, input) => convolved(layer, input, () => Number(layer.config.filters)));

export const depthwiseShape: ShapeRule = fromInput((layer, input) =>
  convolved(layer, input, ([, , channels]) => (channels === null ? null : channels * Number(layer.config.depth_multiplier ?? 1))),
);

export const poolingShape: ShapeRule = fromInput((layer, input) => {
  const c = layer.config;
  if (input.length !== 3) return null;
  const [ph, pw] = pair(c.pool_size, 2);
  const [sh, sw] = c.strides == null ? [ph, pw] : pair(c.strides, ph);
  const [padH, padW] = paddings(c.padding);
  return [convOut(input[0], ph, sh, 1, padH), convOut(input[1], pw, sw, 1, padW), input[2]];
});

export const globalPoolingShape: ShapeRule = fromInput((layer, input) => {
  const channels = input[input.length - 1];
  return layer.config.keepdims ? [1, 1, channels] : [channels];
});

export const zeroPaddingShape: ShapeRule = fromInput((layer, input) => {
  if (input.length !== 3) return null;
  const p = layer.config.padding;
  let top = 1, bottom = 1, left = 1, right = 1;
  if (typeof p === 'number') top = bottom = left = right = p;
  else if (Array.isArray(p) && Array.isArray(p[0])) {
    [top, bottom] = p[0] as number[];
    [left, right] = p[1] as number[];
  } else if (Array.isArray(p)) {
    top = bottom = Number(p[0]);
    left = right = Number(p[1]);
  }
  return [input[0] === null ? null : input[0] + top + bottom, input[1] === null ? null : input[1] + left + right, input[2]];
});

export const flattenShape: ShapeRule = fromInput((_layer, input) => [input.some((d) => d === null) ? null : input.reduce<number>((a, b) => a * (b as number), 1)]);

/** The inputs side by side along the config's axis (Keras counts it with the batch axis); unknown unless every input's shape is known. */
export const concatenateShape: ShapeRule = fromInput((layer, input, inputs) => {
  if (inputs.some((s) => !s)) return null;
  const requested = Number(layer.config.axis ?? -1);
  const axis = requested < 0 ? input.length + requested : requested - 1;
  const out = input.slice();
  out[axis] = inputs.reduce<number | null>((sum, s) => (sum === null || s![axis] === null ? null : sum + s![axis]), 0);
  return out;
});
