/**
 * Kernels the tfjs wasm backend (4.22) lacks for training, composed of ops it has.
 *
 * Training Conv2D + BatchNormalization + ReLU + MaxPool + Dense needs, besides the forward kernels:
 * Conv2DBackpropInput, MaxPoolGrad, Step (ReLU), the ops tfjs-core composes FusedBatchNorm's and
 * MatMul's gradients from, and Conv2DBackpropFilter. wasm has all of them but the last, so only that
 * one is registered here. (DepthwiseConv2dNativeBackpropFilter/Input are missing too; condense does not
 * train depthwise convolutions.)
 */
import type * as TF from '@tensorflow/tfjs';

const BACKEND = 'wasm';
const CONV2D_BACKPROP_FILTER = 'Conv2DBackpropFilter';

/** Registers the missing kernels for the wasm backend; a no-op for kernels already registered. */
export function registerWasmTrainingKernels(tf: typeof TF): void {
  if (tf.getKernel(CONV2D_BACKPROP_FILTER, BACKEND)) return;
  tf.registerKernel({
    kernelName: CONV2D_BACKPROP_FILTER,
    backendName: BACKEND,
    kernelFunc: ({ inputs, attrs }) => {
      // Ops reach this kernel with Tensors (tfjs-core's conv2DBackpropFilter op passes its arguments through).
      const { x, dy } = inputs as { x: TF.Tensor4D; dy: TF.Tensor4D };
      // A Tensor is a valid kernel output: the engine adopts it as is (ops run inside a kernel are not taped).
      return tf.tidy(() => conv2dFilterGradient(tf, x, dy, attrs as unknown as TF.Conv2DBackpropFilterAttrs));
    },
  });
}

/**
 * dW[kh, kw, ci, co] = Σ over n, oh, ow of xPadded[n, oh·sh + kh, ow·sw + kw, ci] · dy[n, oh, ow, co]:
 * one strided slice of the padded input per filter tap, multiplied by dy. Per tap rather than one
 * im2col product: the extra memory stays at one input-sized slice, and it measured 1.0–1.5× faster on
 * wasm. dy is transposed once up front so the products need no transpose flag (a slow path in wasm's matMul).
 */
function conv2dFilterGradient(tf: typeof TF, x: TF.Tensor4D, dy: TF.Tensor4D, attrs: TF.Conv2DBackpropFilterAttrs): TF.Tensor4D {
  // tfjs-core's Conv2D gradient refuses dilation > 1 before reaching a kernel and passes no dilations; a
  // caller that does pass them must not get the undilated gradient silently.
  const dilations = (attrs as { dilations?: number | [number, number] }).dilations;
  if (dilations !== undefined && [dilations].flat().some((d) => d !== 1)) {
    throw new Error(`Conv2DBackpropFilter (wasm): dilation rates other than 1 are not supported, got ${dilations}`);
  }
  const channelsFirst = attrs.dataFormat === 'NCHW';
  // NCHW is computed in NHWC: the filter layout [kh, kw, in, out] is the same for both.
  const xNhwc = channelsFirst ? tf.transpose(x, [0, 2, 3, 1]) : x;
  const dyNhwc = channelsFirst ? tf.transpose(dy, [0, 2, 3, 1]) : dy;
  const [kh, kw, inChannels, outChannels] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(xNhwc.shape, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const [n, height, width] = xNhwc.shape;
  const { outHeight, outWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  // Pad the bottom/right to exactly the extent the last window reaches (none for 'valid'); a window past
  // the input (ceil rounding) then reads zeros, as in the reference kernels.
  const reachHeight = (outHeight - 1) * strideHeight + kh;
  const reachWidth = (outWidth - 1) * strideWidth + kw;
  const padded = tf.pad(xNhwc, [[0, 0], [top, Math.max(0, reachHeight - top - height)], [left, Math.max(0, reachWidth - left - width)], [0, 0]]);
  const positions = n * outHeight * outWidth;
  const dyT = tf.transpose(tf.reshape(dyNhwc, [positions, outChannels])); // [out, positions]
  const taps: TF.Tensor2D[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const window = tf.stridedSlice(padded, [0, i, j, 0], [n, i + (outHeight - 1) * strideHeight + 1, j + (outWidth - 1) * strideWidth + 1, inChannels], [1, strideHeight, strideWidth, 1]);
      taps.push(tf.matMul(dyT, tf.reshape(window, [positions, inChannels]))); // [out, in]
    }
  }
  // [kh·kw, out, in] → [kh, kw, in, out]
  return tf.reshape(tf.transpose(tf.stack(taps), [0, 2, 1]), [kh, kw, inChannels, outChannels]);
}
