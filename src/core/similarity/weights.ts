import { blockProducts } from '../compute/linalg';
import { ProducerInfo } from '../structure/walk';

/**
 * Each neuron's input-weight vector (kernel column or flattened filter, bias appended), with any
 * BatchNormalization right after the layer folded in: w' = w·γ/σ, b' = (b − μ)·γ/σ + β.
 */
export interface NeuronVectors {
  n: number;
  d: number;
  /** n × d, row-major. */
  rows: Float64Array;
  norms: Float64Array;
  /** Folded biases (the last column of rows), kept for the dead-neuron test. */
  bias: Float64Array;
  /** True where every input weight (bias excluded) is exactly zero. */
  zeroWeights: Uint8Array;
}

/** `kernelRole`: "depthwise_kernel" for a DepthwiseConv2D ([kh, kw, C, 1]: a filter per channel). */
export function neuronVectors(info: Pick<ProducerInfo, 'layer' | 'units' | 'batchNorm'>, kernelRole = 'kernel'): NeuronVectors {
  const kernel = info.layer.weights.get(kernelRole)!;
  const bias = info.layer.config.use_bias === false ? undefined : info.layer.weights.get('bias');
  const n = info.units;
  const fanIn = kernel.data.length / n;
  const d = fanIn + 1;
  const scale = new Float64Array(n).fill(1);
  const shift = new Float64Array(n);
  if (bias) for (let j = 0; j < n; j++) shift[j] = bias.data[j];
  const bn = info.batchNorm;
  if (bn) {
    const eps = Number(bn.config.epsilon ?? 1e-3);
    const gamma = bn.weights.get('gamma');
    const beta = bn.weights.get('beta');
    const mean = bn.weights.get('moving_mean')!;
    const variance = bn.weights.get('moving_variance')!;
    for (let j = 0; j < n; j++) {
      const s = (gamma ? gamma.data[j] : 1) / Math.sqrt(variance.data[j] + eps);
      scale[j] = s;
      shift[j] = (shift[j] - mean.data[j]) * s + (beta ? beta.data[j] : 0);
    }
  }
  const rows = new Float64Array(n * d);
  const norms = new Float64Array(n);
  const zeroWeights = new Uint8Array(n).fill(1);
  // The kernel is fanIn × n and rows are its columns: transpose in tiles so that both the strided
  // reads and the writes stay in cache, summing squares (into norms) on the way.
  const k = kernel.data;
  const tile = 32;
  for (let i0 = 0; i0 < fanIn; i0 += tile) {
    const i1 = Math.min(fanIn, i0 + tile);
    for (let j0 = 0; j0 < n; j0 += tile) {
      const j1 = Math.min(n, j0 + tile);
      for (let j = j0; j < j1; j++) {
        const s = scale[j];
        let sum = 0;
        let zero = true;
        for (let i = i0, from = i0 * n + j, to = j * d + i0; i < i1; i++, from += n, to++) {
          const v = k[from] * s;
          rows[to] = v;
          sum += v * v;
          if (v !== 0) zero = false;
        }
        norms[j] += sum;
        if (!zero) zeroWeights[j] = 0;
      }
    }
  }
  for (let j = 0; j < n; j++) {
    rows[j * d + fanIn] = shift[j];
    norms[j] = Math.sqrt(norms[j] + shift[j] * shift[j]);
  }
  return { n, d, rows, norms, bias: shift, zeroWeights };
}

/** Rows scaled to unit length (zero rows stay zero, so they are similar to nothing). */
export function unitRows(v: NeuronVectors, pick: Int32Array): Float32Array {
  const out = new Float32Array(pick.length * v.d);
  for (let r = 0; r < pick.length; r++) {
    const j = pick[r];
    const inv = v.norms[j] > 0 ? 1 / v.norms[j] : 0;
    for (let i = 0; i < v.d; i++) out[r * v.d + i] = v.rows[j * v.d + i] * inv;
  }
  return out;
}

/**
 * Computes the Gram matrix A·Aᵀ of n unit rows of length d, n×n and exactly symmetric (the
 * clustering reads either side). Engines differ only in speed.
 */
export interface GramEngine {
  readonly name: string;
  gram(rows: Float32Array, n: number, d: number): Promise<Float32Array>;
}

/**
 * Plain TypeScript: the 4×4 register-blocked kernel of compute/linalg accumulating in float64 over
 * the upper triangle, then a tiled mirror. Faster than tfjs-cpu's matMul.
 */
export const typescriptGram: GramEngine = {
  name: 'typescript',
  async gram(rows, n, d) {
    // Rows padded with zeros to a multiple of 4, so the kernel needs no edge cases; float64, as it reads.
    const padded = (n + 3) & ~3;
    const a = new Float64Array(padded * d);
    a.set(rows.subarray(0, n * d));
    const s = new Float32Array(n * n);
    blockProducts(a, n, a, n, d, true, s);
    mirrorUpper(s, n);
    return s;
  },
};

/** Copies the upper triangle onto the lower one, in tiles so the column-wise writes stay in cache. */
export function mirrorUpper(s: Float32Array, n: number): void {
  const tile = 64;
  for (let r0 = 0; r0 < n; r0 += tile) {
    const r1 = Math.min(n, r0 + tile);
    for (let c0 = r0; c0 < n; c0 += tile) {
      const c1 = Math.min(n, c0 + tile);
      for (let r = r0; r < r1; r++) for (let c = Math.max(c0, r + 1); c < c1; c++) s[c * n + r] = s[r * n + c];
    }
  }
}

/** Each neuron's highest similarity to another neuron (−1 when it is alone). */
export function highestSimilarity(s: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // Two loops around the diagonal rather than a test per entry.
    let best = -1;
    for (let j = i * n, end = j + i; j < end; j++) if (s[j] > best) best = s[j];
    for (let j = i * n + i + 1, end = (i + 1) * n; j < end; j++) if (s[j] > best) best = s[j];
    out[i] = best;
  }
  return out;
}
