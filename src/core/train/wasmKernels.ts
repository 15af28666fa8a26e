/**
 * Kernels the tfjs wasm backend (4.22) lacks for training, composed of ops it has.
 *
 * Training Conv2D + BatchNormalization + ReLU + MaxPool + Dense needs, besides the forward kernels:
 * Conv2DBackpropInput, MaxPoolGrad, Step (ReLU), the ops tfjs-core composes FusedBatchNorm's and
 * MatMul's gradients from, and Conv2DBackpropFilter. A MobileNetV2-style network (DepthwiseConv2D,
 * ReLU6, residual Add, global average pooling) also needs DepthwiseConv2dNativeBackpropFilter and
 * DepthwiseConv2dNativeBackpropInput. wasm has all the others (ReLU6's and clipByValue's gradients,
 * Add's and Mean's are composed of ops it has), so these three are registered here.
 */
import type * as TF from '@tensorflow/tfjs';

const BACKEND = 'wasm';

type KernelInputs = Record<string, TF.Tensor>;

/** Kernel name → the gradient it computes, from its (Tensor) inputs and attributes. */
const KERNELS: Record<string, (tf: typeof TF, inputs: KernelInputs, attrs: Record<string, unknown>) => TF.Tensor> = {
  Conv2DBackpropFilter: (tf, { x, dy }, attrs) => conv2dFilterGradient(tf, x as TF.Tensor4D, dy as TF.Tensor4D, attrs as unknown as TF.Conv2DBackpropFilterAttrs),
  DepthwiseConv2dNativeBackpropFilter: (tf, { x, dy }, attrs) =>
    depthwiseFilterGradient(tf, x as TF.Tensor4D, dy as TF.Tensor4D, attrs as unknown as TF.DepthwiseConv2dNativeBackpropFilterAttrs),
  DepthwiseConv2dNativeBackpropInput: (tf, { dy, filter }, attrs) =>
    depthwiseInputGradient(tf, dy as TF.Tensor4D, filter as TF.Tensor4D, attrs as unknown as TF.DepthwiseConv2dNativeBackpropInputAttrs),
};

/** Registers the missing kernels for the wasm backend; a no-op for kernels already registered. */
export function registerWasmTrainingKernels(tf: typeof TF): void {
  for (const [kernelName, gradient] of Object.entries(KERNELS)) {
    if (tf.getKernel(kernelName, BACKEND)) continue;
    tf.registerKernel({
      kernelName,
      backendName: BACKEND,
      // Ops reach these kernels with Tensors (tfjs-core's backprop ops pass their arguments through). A
      // Tensor is a valid kernel output: the engine adopts it as is (ops run inside a kernel are not taped).
      kernelFunc: ({ inputs, attrs }) => tf.tidy(() => gradient(tf, inputs as KernelInputs, attrs as Record<string, unknown>)),
    });
  }
}

/** tfjs-core's convolution gradients refuse dilation > 1 before reaching a kernel; a caller that does pass it must not get the undilated gradient silently. */
function assertUndilated(kernelName: string, attrs: object): void {
  const dilations = (attrs as { dilations?: number | [number, number] }).dilations;
  if (dilations !== undefined && [dilations].flat().some((d) => d !== 1)) {
    throw new Error(`${kernelName} (wasm): dilation rates other than 1 are not supported, got ${JSON.stringify(dilations)}`);
  }
}

/**
 * The input padded as the forward convolution pads it and cut to exactly the extent its windows reach:
 * bottom/right padding where the last window reaches past the input (ceil rounding reads zeros there, as
 * in the reference kernels), rows and columns no window reaches ('valid' with a remainder) dropped.
 */
function paddedToReach(tf: typeof TF, x: TF.Tensor4D, info: TF.backend_util.Conv2DInfo, kh: number, kw: number): TF.Tensor4D {
  const [n, height, width, channels] = x.shape;
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const reachHeight = (outHeight - 1) * strideHeight + kh;
  const reachWidth = (outWidth - 1) * strideWidth + kw;
  const padded = tf.pad(x, [[0, 0], [top, Math.max(0, reachHeight - top - height)], [left, Math.max(0, reachWidth - left - width)], [0, 0]]);
  return tf.slice(padded, 0, [n, reachHeight, reachWidth, channels]);
}

/** The inputs filter tap (i, j) meets at every output position: a strided slice of the padded input, [n, outH, outW, C]. */
function tapWindow(tf: typeof TF, padded: TF.Tensor4D, info: TF.backend_util.Conv2DInfo, i: number, j: number): TF.Tensor4D {
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const [n, , , channels] = padded.shape;
  return tf.stridedSlice(padded, [0, i, j, 0], [n, i + (outHeight - 1) * strideHeight + 1, j + (outWidth - 1) * strideWidth + 1, channels], [1, strideHeight, strideWidth, 1]) as TF.Tensor4D;
}

/**
 * dW[kh, kw, ci, co] = Σ over n, oh, ow of xPadded[n, oh·sh + kh, ow·sw + kw, ci] · dy[n, oh, ow, co]:
 * one strided slice of the padded input per filter tap, multiplied by dy. Per tap rather than one
 * im2col product: the extra memory stays at one input-sized slice, and it measured 1.0–1.5× faster on
 * wasm. dy is transposed once up front so the products need no transpose flag (a slow path in wasm's matMul).
 */
function conv2dFilterGradient(tf: typeof TF, x: TF.Tensor4D, dy: TF.Tensor4D, attrs: TF.Conv2DBackpropFilterAttrs): TF.Tensor4D {
  assertUndilated('Conv2DBackpropFilter', attrs);
  const channelsFirst = attrs.dataFormat === 'NCHW';
  // NCHW is computed in NHWC: the filter layout [kh, kw, in, out] is the same for both.
  const xNhwc = channelsFirst ? tf.transpose(x, [0, 2, 3, 1]) : x;
  const dyNhwc = channelsFirst ? tf.transpose(dy, [0, 2, 3, 1]) : dy;
  const [kh, kw, inChannels, outChannels] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(xNhwc.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const padded = paddedToReach(tf, xNhwc, info, kh, kw);
  const positions = xNhwc.shape[0] * info.outHeight * info.outWidth;
  const dyT = tf.transpose(tf.reshape(dyNhwc, [positions, outChannels])); // [out, positions]
  const taps: TF.Tensor2D[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) taps.push(tf.matMul(dyT, tf.reshape(tapWindow(tf, padded, info, i, j), [positions, inChannels]))); // [out, in]
  }
  // [kh·kw, out, in] → [kh, kw, in, out]
  return tf.reshape(tf.transpose(tf.stack(taps), [0, 2, 1]), [kh, kw, inChannels, outChannels]);
}

/**
 * dW[kh, kw, c, m] = Σ over n, oh, ow of xPadded[n, oh·sh + kh, ow·sw + kw, c] · dy[n, oh, ow, c·M + m]
 * (M: the depth multiplier). That is, per (n, c, m), a correlation of the padded input with dy used as
 * a filter dilated by the stride — which wasm's own depthwise convolution computes in one call when the
 * samples are moved into the channel axis (channel n·C·M + c·M + m); the samples are summed after.
 * Per-tap slices instead cost about ten times more (strided slices and broadcasts are slow in wasm).
 */
function depthwiseFilterGradient(tf: typeof TF, x: TF.Tensor4D, dy: TF.Tensor4D, attrs: TF.DepthwiseConv2dNativeBackpropFilterAttrs): TF.Tensor4D {
  assertUndilated('DepthwiseConv2dNativeBackpropFilter', attrs);
  const [kh, kw, channels, multiplier] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(x.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true, 'channelsLast');
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const n = x.shape[0];
  const depth = n * channels * multiplier;
  const padded = paddedToReach(tf, x, info, kh, kw);
  // [n, H, W, C] → [1, H, W, n·C·M]: each input channel repeated for its M outputs.
  const repeated = multiplier === 1 ? padded : tf.reshape(tf.tile(tf.expandDims(padded, 4), [1, 1, 1, 1, multiplier]), [...padded.shape.slice(0, 3), channels * multiplier]);
  const [, height, width] = padded.shape;
  const input = tf.reshape(tf.transpose(repeated, [1, 2, 0, 3]), [1, height, width, depth]);
  const filter = tf.reshape<TF.Rank.R4>(tf.transpose(dy, [1, 2, 0, 3]), [outHeight, outWidth, depth, 1]);
  // The padded input reaches exactly (out − 1)·stride + k, so a 'valid' correlation yields kh × kw taps.
  const taps = tf.depthwiseConv2d(input as TF.Tensor4D, filter, 1, 'valid', 'NHWC', [strideHeight, strideWidth]); // [1, kh, kw, n·C·M]
  return tf.reshape<TF.Rank.R4>(tf.sum(tf.reshape(taps, [kh, kw, n, channels * multiplier]), 2), [kh, kw, channels, multiplier]);
}

/**
 * dx[n, h, w, c] = Σ over kh, kw, m of dy[n, oh, ow, c·M + m] · W[kh, kw, c, m] where h + top = oh·sh + kh:
 * dy is spread onto the stride grid (zeros between its rows and columns), correlated in full with the
 * spatially flipped filter by wasm's own depthwise convolution (one channel per (c, m)), summed over m,
 * and cropped to the input by the forward padding.
 */
function depthwiseInputGradient(tf: typeof TF, dy: TF.Tensor4D, filter: TF.Tensor4D, attrs: TF.DepthwiseConv2dNativeBackpropInputAttrs): TF.Tensor4D {
  assertUndilated('DepthwiseConv2dNativeBackpropInput', attrs);
  const [n, height, width, channels] = attrs.inputShape;
  const [kh, kw, , multiplier] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(attrs.inputShape, filter.shape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true, 'channelsLast');
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  const depth = channels * multiplier;
  let spread: TF.Tensor4D = dy;
  if (strideHeight > 1 || strideWidth > 1) {
    const gaps = tf.pad(tf.reshape(dy, [n, outHeight, 1, outWidth, 1, depth]), [[0, 0], [0, 0], [0, strideHeight - 1], [0, 0], [0, strideWidth - 1], [0, 0]]);
    spread = tf.slice(tf.reshape(gaps, [n, outHeight * strideHeight, outWidth * strideWidth, depth]), 0, [n, (outHeight - 1) * strideHeight + 1, (outWidth - 1) * strideWidth + 1, depth]) as TF.Tensor4D;
  }
  const flipped = tf.reshape<TF.Rank.R4>(tf.reverse(filter, [0, 1]), [kh, kw, depth, 1]);
  const full = tf.depthwiseConv2d(tf.pad(spread, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]]), flipped, 1, 'valid');
  const [, fullHeight, fullWidth] = full.shape;
  const summed = multiplier === 1 ? full : tf.sum<TF.Tensor4D>(tf.reshape(full, [n, fullHeight, fullWidth, channels, multiplier]), 4);
  // Rows and columns of the padded input that no window reaches get no gradient.
  const reaching = tf.pad(summed, [[0, 0], [0, Math.max(0, top + height - fullHeight)], [0, Math.max(0, left + width - fullWidth)], [0, 0]]);
  return tf.slice(reaching, [0, top, left, 0], [n, height, width, channels]);
}
