/**
 * A small float64 evaluator over the engine's own graph, for the data-aware steps: it yields each
 * layer's output on calibration inputs, for the original network or one whose weights are being
 * replaced (reduced widths follow from the weights' shapes). It knows the layers that sit on
 * condensable chains — Dense, Conv2D (strides, padding, dilation), DepthwiseConv2D,
 * BatchNormalization, activations, pooling, zero padding, Flatten (also channel-major), residual
 * Add, channel Concatenate and inference-time identities. A layer it
 * does not know has no value, and neither has anything computed from it: callers fall back to the
 * weights-only path there, with the reason this evaluator gives.
 */
import { activationByName, ActivationFn } from '../structure/activations';
import { kernelSize, LayerNode, ModelGraph, Padding, paddings, pair } from '../model/graph';
import { sizeOf, Tensor } from '../model/tensor';
import { ProductEngine, transposeMatrix, typescriptProducts } from './linalg';
import { activationLayer, IDENTITY_AT_INFERENCE } from '../structure/layerKinds';

/** A batch: shape includes the leading sample axis; images are channels-last. */
export interface Value {
  shape: number[];
  data: Float64Array;
}

/** Why a layer has no value (it, or something it reads, is not supported). */
export interface Unsupported {
  unsupported: string;
}

export type Outcome = Value | Unsupported;

export const isUnsupported = <T extends object>(o: T | Unsupported): o is Unsupported => 'unsupported' in o;

/** The weight a layer uses in the network being evaluated (reduced copies replace originals). */
export type WeightLookup = (layer: LayerNode, role: string) => Tensor | undefined;

export const originalWeights: WeightLookup = (layer, role) => layer.weights.get(role);

/** The network with `changed` weights (by weight name) in place of the originals. */
export const replacedWeights = (changed: Map<string, Tensor>): WeightLookup => (layer, role) => {
  const w = layer.weights.get(role);
  return w && (changed.get(w.name) ?? w);
};

/**
 * Lazily evaluates layers on one batch, each once; ask only for layers whose weights are final.
 * Asynchronous because the products may run on a native engine (see ProductEngine).
 */
export class GraphEvaluator {
  private readonly values = new Map<string, Promise<Outcome>>();
  private readonly linear = new Map<string, Promise<Outcome>>();

  constructor(
    private readonly graph: ModelGraph,
    private readonly input: Value,
    private readonly weight: WeightLookup = originalWeights,
    private readonly products: ProductEngine = typescriptProducts,
  ) {}

  output(name: string): Promise<Outcome> {
    let value = this.values.get(name);
    if (!value) {
      value = this.evaluate(this.graph.byName.get(name)!);
      this.values.set(name, value);
    }
    return value;
  }

  /** A Dense/Conv2D layer's pre-activation (kept: the refit's targets are the original network's). */
  preActivation(layer: LayerNode): Promise<Outcome> {
    let z = this.linear.get(layer.name);
    if (!z) {
      z = this.inputOf(layer).then((x) => (isUnsupported(x) ? x : linearOutput(layer, x, this.weight, this.products)));
      this.linear.set(layer.name, z);
    }
    return z;
  }

  /** The (only) input of a layer: the output of the layer feeding it. */
  async inputOf(layer: LayerNode): Promise<Outcome> {
    if (layer.inbound.length !== 1) return { unsupported: `${layer.name} has ${layer.inbound.length} inputs` };
    return this.output(layer.inbound[0]);
  }

  private async evaluate(layer: LayerNode): Promise<Outcome> {
    if (layer.className === 'InputLayer') {
      return this.graph.inputs.length === 1 ? this.input : { unsupported: 'the model has several inputs' };
    }
    if (layer.className === 'Add' || layer.className === 'Concatenate') {
      const inputs = await Promise.all(layer.inbound.map((name) => this.output(name)));
      const missing = inputs.find(isUnsupported);
      if (missing) return missing;
      return layer.className === 'Add' ? add(layer, inputs as Value[]) : concatenate(layer, inputs as Value[]);
    }
    const x = await this.inputOf(layer);
    if (isUnsupported(x)) return x;
    const c = layer.config;
    switch (layer.className) {
      case 'Dense':
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const z = layer.className === 'DepthwiseConv2D' ? depthwise(layer, x, this.weight) : await this.preActivation(layer);
        if (isUnsupported(z)) return z;
        if (c.activation === 'softmax') return softmax(z);
        const act = activationByName(c.activation);
        if (!act) return { unsupported: `activation "${String(c.activation)}" of ${layer.name}` };
        return activate(z, act);
      }
      case 'BatchNormalization':
        return batchNorm(layer, x, this.weight);
      case 'ZeroPadding2D':
        return zeroPad(layer, x);
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return pool(layer, x);
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
        return globalPool(layer, x);
      case 'Flatten':
        return flatten(x, layer.channelMajor === true);
    }
    if (IDENTITY_AT_INFERENCE.has(layer.className)) return x;
    if (layer.className === 'Softmax' || (layer.className === 'Activation' && c.activation === 'softmax')) return softmax(x);
    const act = activationLayer(layer);
    if (act) return activate(x, act);
    return { unsupported: `${layer.className} (${layer.name}) is not evaluated on calibration data` };
  }
}

/** Elementwise sum of inputs of one shape (a residual connection). */
function add(layer: LayerNode, inputs: Value[]): Outcome {
  const [first] = inputs;
  if (inputs.some((v) => v.shape.join() !== first.shape.join())) return { unsupported: `${layer.name} adds tensors of different shapes` };
  const data = Float64Array.from(first.data);
  for (const v of inputs.slice(1)) for (let i = 0; i < data.length; i++) data[i] += v.data[i];
  return { shape: first.shape, data };
}

/** Concatenation along the last (channel) axis, the one the engine's channel bookkeeping knows. */
function concatenate(layer: LayerNode, inputs: Value[]): Outcome {
  const rank = inputs[0].shape.length;
  const axis = Number(layer.config.axis ?? -1);
  if (axis !== -1 && axis !== rank - 1) return { unsupported: `${layer.name} concatenates along axis ${axis}, not the channels` };
  const outer = inputs[0].data.length / inputs[0].shape[rank - 1];
  if (inputs.some((v) => v.shape.length !== rank || v.data.length / v.shape[rank - 1] !== outer)) return { unsupported: `${layer.name} concatenates tensors of different shapes` };
  const widths = inputs.map((v) => v.shape[rank - 1]);
  const total = widths.reduce((a, b) => a + b, 0);
  const data = new Float64Array(outer * total);
  for (let r = 0; r < outer; r++) {
    let at = r * total;
    inputs.forEach((v, k) => {
      data.set(v.data.subarray(r * widths[k], (r + 1) * widths[k]), at);
      at += widths[k];
    });
  }
  return { shape: [...inputs[0].shape.slice(0, -1), total], data };
}

/** A DepthwiseConv2D's pre-activation: each input channel filtered on its own (kernel [kh, kw, C, multiplier]). */
function depthwise(layer: LayerNode, x: Value, weight: WeightLookup): Outcome {
  const kernel = weight(layer, 'depthwise_kernel');
  if (!kernel) return { unsupported: `${layer.name} has no depthwise kernel` };
  const g = convGeometry(layer, x.shape);
  if (isUnsupported(g)) return g;
  const { kh, kw, sh, sw, dh, dw, top, left, outH, outW } = g;
  const [n, height, width, channels] = x.shape;
  const multiplier = kernel.shape[3];
  if (kernel.shape[2] !== channels) return { unsupported: `${layer.name}'s kernel does not match its input` };
  const outC = channels * multiplier;
  const bias = layer.config.use_bias === false ? undefined : weight(layer, 'bias');
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

function activate(x: Value, act: ActivationFn): Value {
  if (act.name === 'linear') return x;
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) data[i] = act.apply(x.data[i]);
  return { shape: x.shape, data };
}

/** Softmax over the last axis (max subtracted first). */
function softmax(x: Value): Value {
  const width = x.shape[x.shape.length - 1];
  const data = new Float64Array(x.data.length);
  for (let r = 0; r < data.length; r += width) {
    let max = -Infinity;
    for (let i = r; i < r + width; i++) max = Math.max(max, x.data[i]);
    let sum = 0;
    for (let i = r; i < r + width; i++) sum += data[i] = Math.exp(x.data[i] - max);
    for (let i = r; i < r + width; i++) data[i] /= sum;
  }
  return { shape: x.shape, data };
}

/** Rows a Dense or Conv2D layer multiplies by its kernel: input vectors, or im2col patches in kernel order (kh, kw, channels). */
export interface LayerRows {
  /** rows × width, row-major. */
  data: Float64Array;
  rows: number;
  width: number;
  /** Shape of the layer's output without its channel axis (sample axis first). */
  outer: number[];
}

/**
 * The rows a Dense/Conv2D layer sees on input x. `pick` (ascending row indices) keeps a subset,
 * which the least-squares fit uses to bound its cost on large feature maps.
 */
export function layerRows(layer: LayerNode, x: Value, pick?: Int32Array): LayerRows | Unsupported {
  if (layer.className === 'DepthwiseConv2D') return { unsupported: `${layer.name} is a DepthwiseConv2D, which has no rows` };
  if (layer.className === 'Dense') {
    const width = x.shape[x.shape.length - 1];
    const rows = x.data.length / width;
    if (!pick) return { data: x.data, rows, width, outer: x.shape.slice(0, -1) };
    const data = new Float64Array(pick.length * width);
    pick.forEach((r, i) => data.set(x.data.subarray(r * width, (r + 1) * width), i * width));
    return { data, rows: pick.length, width, outer: [pick.length] };
  }
  const g = convGeometry(layer, x.shape);
  if (isUnsupported(g)) return g;
  const { kh, kw, sh, sw, dh, dw, top, left, outH, outW } = g;
  const [n, height, width, channels] = x.shape;
  const patch = kh * kw * channels;
  const total = n * outH * outW;
  const count = pick ? pick.length : total;
  const data = new Float64Array(count * patch);
  for (let r = 0; r < count; r++) {
    const row = pick ? pick[r] : r;
    const s = Math.floor(row / (outH * outW));
    const oy = Math.floor(row / outW) % outH;
    const ox = row % outW;
    let at = r * patch;
    for (let i = 0; i < kh; i++) {
      const y = oy * sh + i * dh - top;
      for (let j = 0; j < kw; j++, at += channels) {
        const xx = ox * sw + j * dw - left;
        if (y < 0 || y >= height || xx < 0 || xx >= width) continue;
        const from = ((s * height + y) * width + xx) * channels;
        data.set(x.data.subarray(from, from + channels), at);
      }
    }
  }
  return { data, rows: count, width: patch, outer: pick ? [count] : [n, outH, outW] };
}

interface ConvGeometry {
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  top: number; left: number; outH: number; outW: number;
}

function convGeometry(layer: LayerNode, shape: number[]): ConvGeometry | Unsupported {
  if ((layer.className !== 'Conv2D' && layer.className !== 'DepthwiseConv2D') || shape.length !== 4 || layer.config.data_format === 'channels_first') return { unsupported: `${layer.name} is not a channels-last Dense or Conv2D layer` };
  const [kh, kw] = kernelSize(layer);
  const [sh, sw] = pair(layer.config.strides, 1);
  const [dh, dw] = pair(layer.config.dilation_rate, 1);
  const [padH, padW] = paddings(layer.config.padding);
  const [top, outH] = padAmount(shape[1], kh, sh, dh, padH);
  const [left, outW] = padAmount(shape[2], kw, sw, dw, padW);
  return { kh, kw, sh, sw, dh, dw, top, left, outH, outW };
}

/** How many rows layerRows gives for input of this shape (samples × output positions for a convolution). */
export function rowCount(layer: LayerNode, shape: number[]): { rows: number } | Unsupported {
  if (layer.className === 'DepthwiseConv2D') return { unsupported: `${layer.name} is a DepthwiseConv2D, which has no rows` };
  if (layer.className === 'Dense') return { rows: sizeOf(shape.slice(0, -1)) };
  const g = convGeometry(layer, shape);
  return isUnsupported(g) ? g : { rows: shape[0] * g.outH * g.outW };
}

/** Padding before the first position and the output size along one axis (Keras "same"/"valid", or explicit amounts). */
function padAmount(size: number, kernel: number, stride: number, dilation: number, padding: Padding): [number, number] {
  const span = dilation * (kernel - 1) + 1;
  if (padding === 'same') {
    const out = Math.ceil(size / stride);
    return [Math.floor(Math.max((out - 1) * stride + span - size, 0) / 2), out];
  }
  const [before, after] = Array.isArray(padding) ? padding : [0, 0];
  return [before, Math.floor((size + before + after - span) / stride) + 1];
}

/** A Dense/Conv2D layer's pre-activation (kernel and bias, no activation) on input x. */
async function linearOutput(layer: LayerNode, x: Value, weight: WeightLookup, products: ProductEngine = typescriptProducts): Promise<Outcome> {
  const kernel = weight(layer, 'kernel');
  if (!kernel) return { unsupported: `${layer.name} has no kernel` };
  const rows = layerRows(layer, x);
  if (isUnsupported(rows)) return rows;
  const out = kernel.shape[kernel.shape.length - 1];
  if (rows.width * out !== kernel.data.length) return { unsupported: `${layer.name}'s kernel does not match its input` };
  const bias = layer.config.use_bias === false ? undefined : weight(layer, 'bias');
  return { shape: [...rows.outer, out], data: await applyKernel(rows, kernel, bias, products) };
}

/** rows · kernel (+ bias): kernel is [width, out] in row-major order (conv kernels flattened over kh, kw, channels). */
async function applyKernel(rows: LayerRows, kernel: Tensor, bias: Tensor | undefined, products: ProductEngine): Promise<Float64Array> {
  const out = kernel.shape[kernel.shape.length - 1];
  const z = await products.multiplyRows(rows.data, rows.rows, transposeMatrix(kernel.data, rows.width, out), out, rows.width);
  if (bias) for (let r = 0; r < rows.rows; r++) for (let j = 0; j < out; j++) z[r * out + j] += bias.data[j];
  return z;
}

function batchNorm(layer: LayerNode, x: Value, weight: WeightLookup): Outcome {
  const mean = weight(layer, 'moving_mean');
  const variance = weight(layer, 'moving_variance');
  if (!mean || !variance) return { unsupported: `${layer.name} has no moving statistics` };
  const gamma = weight(layer, 'gamma');
  const beta = weight(layer, 'beta');
  const eps = Number(layer.config.epsilon ?? 1e-3);
  const channels = x.shape[x.shape.length - 1];
  if (mean.data.length !== channels) return { unsupported: `${layer.name} normalises an axis other than the channels` };
  const scale = Float64Array.from({ length: channels }, (_, j) => (gamma ? gamma.data[j] : 1) / Math.sqrt(variance.data[j] + eps));
  const data = new Float64Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    const j = i % channels;
    data[i] = (x.data[i] - mean.data[j]) * scale[j] + (beta ? beta.data[j] : 0);
  }
  return { shape: x.shape, data };
}

function zeroPad(layer: LayerNode, x: Value): Outcome {
  if (x.shape.length !== 4) return { unsupported: `${layer.name} pads a tensor that is not an image` };
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
}

/** Max or average over windows; average pooling with "same" padding divides by the window's valid cells, as TensorFlow does. */
function pool(layer: LayerNode, x: Value): Outcome {
  if (x.shape.length !== 4) return { unsupported: `${layer.name} pools a tensor that is not an image` };
  const [n, h, w, c] = x.shape;
  const [ph, pw] = pair(layer.config.pool_size, 2);
  const [sh, sw] = layer.config.strides == null ? [ph, pw] : pair(layer.config.strides, ph);
  const [padH, padW] = paddings(layer.config.padding);
  const [top, oh] = padAmount(h, ph, sh, 1, padH);
  const [left, ow] = padAmount(w, pw, sw, 1, padW);
  const max = layer.className === 'MaxPooling2D';
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
}

function globalPool(layer: LayerNode, x: Value): Outcome {
  if (x.shape.length !== 4) return { unsupported: `${layer.name} pools a tensor that is not an image` };
  const [n, h, w, c] = x.shape;
  const max = layer.className === 'GlobalMaxPooling2D';
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
}

/** Flattens each sample; channel-major (NCHW files) puts each channel's positions together. */
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
