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
 * `bias` is the last column, as for a single layer; `zeroWeights` marks rows that are zero throughout
 * (biases included), so the dead-unit test only removes channels that output zero along every path.
 */
import { neuronVectors, NeuronVectors } from './weights';
import { JointInfo } from '../structure/walk';

/** `members`: each member's vectors, when not its folded weights (e.g. seen through calibration data). */
export function jointVectors(joint: JointInfo, units: number, members?: NeuronVectors[]): NeuronVectors {
  const parts = members ?? joint.members.map((m) => neuronVectors({ ...m, units }));
  let v = parts.length === 1 ? parts[0] : concatenated(parts);
  for (const f of joint.followers) v = inSeries(v, neuronVectors({ ...f, units }, 'depthwise_kernel'));
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

function fromRows(n: number, d: number, rows: Float64Array): NeuronVectors {
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
