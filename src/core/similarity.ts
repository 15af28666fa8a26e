import { ProducerInfo } from './structure';

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

export function neuronVectors(info: ProducerInfo): NeuronVectors {
  const kernel = info.layer.weights.get('kernel')!;
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
  const k = kernel.data;
  for (let i = 0; i < fanIn; i++) {
    const base = i * n;
    for (let j = 0; j < n; j++) {
      const v = k[base + j] * scale[j];
      rows[j * d + i] = v;
      if (v !== 0) zeroWeights[j] = 0;
    }
  }
  for (let j = 0; j < n; j++) {
    rows[j * d + fanIn] = shift[j];
    let sum = 0;
    for (let i = 0, at = j * d; i < d; i++, at++) sum += rows[at] * rows[at];
    norms[j] = Math.sqrt(sum);
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

/** Computes the Gram matrix A·Aᵀ of n unit rows of length d. Engines differ only in speed. */
export interface GramEngine {
  readonly name: string;
  gram(rows: Float32Array, n: number, d: number): Promise<Float32Array>;
}

/**
 * Plain TypeScript, register-blocked 2×4 and accumulating in float64; computes the upper
 * triangle and mirrors it. Faster than tfjs-cpu's matMul here.
 */
export const typescriptGram: GramEngine = {
  name: 'typescript',
  async gram(a, n, d) {
    const s = new Float32Array(n * n);
    for (let i = 0; i < n; i += 2) {
      const i1 = Math.min(i + 1, n - 1);
      const ai0 = i * d, ai1 = i1 * d;
      for (let j = i; j < n; j += 4) {
        const j1 = Math.min(j + 1, n - 1), j2 = Math.min(j + 2, n - 1), j3 = Math.min(j + 3, n - 1);
        const b0 = j * d, b1 = j1 * d, b2 = j2 * d, b3 = j3 * d;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        for (let k = 0; k < d; k++) {
          const x0 = a[ai0 + k], x1 = a[ai1 + k];
          const y0 = a[b0 + k], y1 = a[b1 + k], y2 = a[b2 + k], y3 = a[b3 + k];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        }
        const put = (r: number, c: number, v: number): void => {
          s[r * n + c] = v;
          s[c * n + r] = v;
        };
        put(i, j, s00); put(i, j1, s01); put(i, j2, s02); put(i, j3, s03);
        put(i1, j, s10); put(i1, j1, s11); put(i1, j2, s12); put(i1, j3, s13);
      }
    }
    return s;
  },
};

/** Each neuron's highest similarity to another neuron (−1 when it is alone). */
export function highestSimilarity(s: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let j = 0; j < n; j++) if (j !== i && s[i * n + j] > best) best = s[i * n + j];
    out[i] = best;
  }
  return out;
}
