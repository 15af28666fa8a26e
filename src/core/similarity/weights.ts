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
 * Plain TypeScript: a 4×4 register-blocked kernel accumulating in float64 over the upper triangle,
 * then a tiled mirror. V8 emits scalar code, so keeping 16 sums in registers per 8 loads is what
 * counts; cache blocking over d measured no gain. Faster than tfjs-cpu's matMul.
 */
export const typescriptGram: GramEngine = {
  name: 'typescript',
  async gram(rows, n, d) {
    // Rows padded with zeros to a multiple of 4, so the kernel needs no edge cases.
    const padded = (n + 3) & ~3;
    const a = new Float32Array(padded * d);
    a.set(rows.subarray(0, n * d));
    const s = new Float32Array(n * n);
    for (let i = 0; i < n; i += 4) {
      const x0 = i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d;
      for (let j = i; j < n; j += 4) {
        const y0 = j * d, y1 = y0 + d, y2 = y1 + d, y3 = y2 + d;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < d; k++) {
          const a0 = a[x0 + k], a1 = a[x1 + k], a2 = a[x2 + k], a3 = a[x3 + k];
          let b = a[y0 + k];
          s00 += a0 * b; s10 += a1 * b; s20 += a2 * b; s30 += a3 * b;
          b = a[y1 + k];
          s01 += a0 * b; s11 += a1 * b; s21 += a2 * b; s31 += a3 * b;
          b = a[y2 + k];
          s02 += a0 * b; s12 += a1 * b; s22 += a2 * b; s32 += a3 * b;
          b = a[y3 + k];
          s03 += a0 * b; s13 += a1 * b; s23 += a2 * b; s33 += a3 * b;
        }
        storeRow(s, n, i, j, s00, s01, s02, s03);
        storeRow(s, n, i + 1, j, s10, s11, s12, s13);
        storeRow(s, n, i + 2, j, s20, s21, s22, s23);
        storeRow(s, n, i + 3, j, s30, s31, s32, s33);
      }
    }
    mirrorUpper(s, n);
    return s;
  },
};

/** Writes up to four entries of row i from column j, skipping the padding rows and columns. */
function storeRow(s: Float32Array, n: number, i: number, j: number, v0: number, v1: number, v2: number, v3: number): void {
  if (i >= n) return;
  const at = i * n + j;
  s[at] = v0;
  if (j + 1 < n) s[at + 1] = v1;
  if (j + 2 < n) s[at + 2] = v2;
  if (j + 3 < n) s[at + 3] = v3;
}

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
