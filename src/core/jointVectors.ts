/**
 * Similarity vectors of channels tied across layers (coupling.ts): per channel, the members' folded
 * vectors side by side, then each follower taken in series. Built so that two channels' vectors are
 * parallel exactly when one channel's output is a positive multiple of the other's along every path
 * (for positively homogeneous activations), with the ratio of their norms as that multiple — the
 * merge scale, as for a single layer.
 *
 *  - Members in parallel (the inputs of a residual Add): channel j of the sum is c·(channel r) when
 *    every member's vector for j is c times its vector for r, with one c: the concatenation is
 *    then c times r's.
 *  - A follower in series (DepthwiseConv2D: per channel a filter f and a folded bias β) multiplies
 *    its input channel by f: with the channel before it c·(channel r) and f_j = s·f_r, its output is
 *    c·s·(output r) when β_j = c·s·β_r. The vector [u·‖f‖, f·‖u‖, β] (u: the channel's vector before
 *    it) is c·s times r's exactly then.
 *
 *  - With calibration data, a follower enters by its outputs instead: y, its (folded) pre-activation
 *    per channel over the data. The vector [û·‖y‖, y] (û: the channel's vector before it, normalised)
 *    has as cosine the mean of the two cosines, and as norm ratio that of the outputs.
 *
 * `bias` is the last column, as for a single layer; `zeroWeights` marks rows that are zero throughout
 * (biases included), so the dead-unit test only removes channels that output zero along every path.
 */
import { neuronVectors, NeuronVectors } from './similarity';
import { JointInfo } from './structure';

/**
 * `members`: each member's vectors, when not its folded weights (e.g. seen through calibration data);
 * `followerOutputs`: each follower's outputs on the data (rows: channels), when measured.
 */
export function jointVectors(joint: JointInfo, units: number, members?: NeuronVectors[], followerOutputs?: NeuronVectors[]): NeuronVectors {
  const parts = members ?? joint.members.map((m) => neuronVectors({ ...m, units }));
  let v = parts.length === 1 ? parts[0] : concatenated(parts);
  joint.followers.forEach((f, k) => {
    v = followerOutputs ? beforeOutputs(v, followerOutputs[k]) : inSeries(v, neuronVectors({ ...f, units }, 'depthwise_kernel'));
  });
  return v;
}

function concatenated(parts: NeuronVectors[]): NeuronVectors {
  const n = parts[0].n;
  const d = parts.reduce((s, p) => s + p.d, 0);
  const rows = new Float64Array(n * d);
  for (let j = 0; j < n; j++) {
    let at = j * d;
    for (const p of parts) {
      rows.set(p.rows.subarray(j * p.d, (j + 1) * p.d), at);
      at += p.d;
    }
  }
  return fromRows(n, d, rows);
}

/** `u` followed by a per-channel filter whose vectors (filter, folded bias) are `f`. */
function inSeries(u: NeuronVectors, f: NeuronVectors): NeuronVectors {
  const n = u.n;
  const taps = f.d - 1;
  const d = u.d + f.d;
  const rows = new Float64Array(n * d);
  for (let j = 0; j < n; j++) {
    let filterNorm = 0;
    for (let i = 0; i < taps; i++) filterNorm += f.rows[j * f.d + i] ** 2;
    filterNorm = Math.sqrt(filterNorm);
    const out = j * d;
    for (let i = 0; i < u.d; i++) rows[out + i] = u.rows[j * u.d + i] * filterNorm;
    for (let i = 0; i < taps; i++) rows[out + u.d + i] = f.rows[j * f.d + i] * u.norms[j];
    rows[out + d - 1] = f.bias[j];
  }
  return fromRows(n, d, rows);
}

/** `u`, normalised and scaled by the follower's output norm, beside the follower's outputs `y`. */
function beforeOutputs(u: NeuronVectors, y: NeuronVectors): NeuronVectors {
  const d = u.d + y.d;
  const rows = new Float64Array(u.n * d);
  for (let j = 0; j < u.n; j++) {
    const scale = u.norms[j] > 0 ? y.norms[j] / u.norms[j] : 0;
    for (let i = 0; i < u.d; i++) rows[j * d + i] = u.rows[j * u.d + i] * scale;
    rows.set(y.rows.subarray(j * y.d, (j + 1) * y.d), j * d + u.d);
  }
  return fromRows(u.n, d, rows);
}

/** Rows as NeuronVectors (norms, last column as bias, all-zero rows marked). */
export function fromRows(n: number, d: number, rows: Float64Array): NeuronVectors {
  const norms = new Float64Array(n);
  const bias = new Float64Array(n);
  const zeroWeights = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    let sum = 0;
    for (let i = j * d; i < (j + 1) * d; i++) sum += rows[i] * rows[i];
    norms[j] = Math.sqrt(sum);
    bias[j] = rows[(j + 1) * d - 1];
    zeroWeights[j] = sum === 0 ? 1 : 0;
  }
  return { n, d, rows, norms, bias, zeroWeights };
}
