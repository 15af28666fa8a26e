/**
 * What the cosine of weight vectors misses, and how data fixes it.
 *
 * With calibration inputs, a layer's units are compared on what they compute: the cosine of their
 * pre-activations over the data. With Σ = E[[x;1][x;1]ᵀ] the second moment of the layer's input
 * (patches for a convolution) and Σ = L·Lᵀ, the pre-activations' inner product is vᵢᵀΣvⱼ = (Lᵀvᵢ)·(Lᵀvⱼ),
 * so each weight vector v (bias appended, BatchNorm folded) is replaced by Lᵀv and the usual Gram,
 * clustering and merge run unchanged.
 *
 * Without data, a layer whose (folded) bias dominates its weights is flagged: the bias-appended
 * cosine then mostly compares biases, which says little about what the units compute.
 */
import { completeLinkage, Dendrogram } from './cluster';
import { evenRows } from '../data/calibration';
import { GraphEvaluator, isUnsupported, layerRows, rowCount } from '../compute/evaluator';
import { LayerNode } from '../model/graph';
import { jointVectors } from './jointVectors';
import { cholesky, ProductEngine, transposeMatrix } from '../compute/linalg';
import { median } from '../compute/statistics';
import { GramEngine, neuronVectors, NeuronVectors, unitRows } from './weights';
import { ProducerInfo } from '../structure/walk';
import { BiasDominance } from '../estimate';

/** A layer is bias-dominated when the median |bias| exceeds this many times the median weight norm. */
const BIAS_DOMINANCE_RATIO = 2;
/** Input rows (samples × positions) the second moment is estimated from. */
const MOMENT_ROWS = 65536;

/** Median |folded bias| against the median norm of the weight part, over the live units (none: NaN, not dominated). */
function biasStatistics(v: NeuronVectors, live: Int32Array): { medianBias: number; medianWeightNorm: number; dominated: boolean } {
  const bias = Float64Array.from(live, (j) => Math.abs(v.bias[j]));
  const weight = Float64Array.from(live, (j) => Math.sqrt(Math.max(0, v.norms[j] ** 2 - v.bias[j] ** 2)));
  const medianBias = median(bias);
  const medianWeightNorm = median(weight);
  return { medianBias, medianWeightNorm, dominated: medianBias > BIAS_DOMINANCE_RATIO * medianWeightNorm };
}

/** The weight part alone (bias column zeroed): what the panel shows beside a bias-dominated layer's similarity. */
async function weightOnlyTree(v: NeuronVectors, live: Int32Array, gram: GramEngine): Promise<Dendrogram> {
  const rows = new Float64Array(v.rows);
  const norms = new Float64Array(v.n);
  for (let j = 0; j < v.n; j++) {
    rows[j * v.d + v.d - 1] = 0;
    norms[j] = Math.sqrt(Math.max(0, v.norms[j] ** 2 - v.bias[j] ** 2));
  }
  const s = await gram.gram(unitRows({ ...v, rows, norms }, live), live.length, v.d);
  return completeLinkage(s, live.length);
}

/** Flags a bias-dominated layer; null when it is not. */
async function biasDominance(v: NeuronVectors, live: Int32Array, gram: GramEngine): Promise<BiasDominance | null> {
  const stats = biasStatistics(v, live);
  if (!stats.dominated) return null;
  return { medianBias: stats.medianBias, medianWeightNorm: stats.medianWeightNorm, weightOnly: await weightOnlyTree(v, live, gram) };
}

function biasDominatedReason(b: BiasDominance): string {
  return `its bias dominates its weights (median |bias| ${b.medianBias.toPrecision(2)} vs median weight norm ${b.medianWeightNorm.toPrecision(2)}), ` +
    'so the cosine compares biases more than what the units compute; give calibration data to measure similarity on it, or allow it explicitly';
}

/**
 * The second moment Σ = E[[x;1][x;1]ᵀ] of the producer's input on the calibration data (rows
 * subsampled evenly on large feature maps), or the reason it cannot be had.
 */
async function inputMoment(layer: LayerNode, data: GraphEvaluator, products: ProductEngine): Promise<{ sigma: Float64Array; d: number } | string> {
  const x = await data.inputOf(layer);
  if (isUnsupported(x)) return x.unsupported;
  const total = rowCount(layer, x.shape);
  if (isUnsupported(total)) return total.unsupported;
  const rows = layerRows(layer, x, evenRows(total.rows, MOMENT_ROWS));
  if (isUnsupported(rows)) return rows.unsupported;
  const d = rows.width + 1;
  // Columns of [X 1] as rows, so the moment is one Gram of d rows.
  const columns = new Float64Array(d * rows.rows);
  columns.set(transposeMatrix(rows.data, rows.rows, rows.width));
  columns.fill(1, rows.width * rows.rows);
  const sigma = await products.gramRows(columns, d, rows.rows);
  for (let i = 0; i < sigma.length; i++) sigma[i] /= rows.rows;
  return { sigma, d };
}

/** Each vector v replaced by Lᵀv (Σ = L·Lᵀ): their cosines are the pre-activations' cosines over the data. */
async function weighByData(v: NeuronVectors, sigma: Float64Array, products: ProductEngine): Promise<NeuronVectors> {
  const l = cholesky(sigma, v.d);
  const rows = await products.multiplyRows(v.rows, v.n, transposeMatrix(l, v.d, v.d), v.d, v.d);
  const norms = new Float64Array(v.n);
  for (let j = 0; j < v.n; j++) {
    let sum = 0;
    for (let i = 0; i < v.d; i++) sum += rows[j * v.d + i] ** 2;
    norms[j] = Math.sqrt(sum);
  }
  return { ...v, rows, norms };
}

/** The original network on the calibration inputs, and the engine its products run on. */
export interface CalibrationData {
  evaluator: GraphEvaluator;
  products: ProductEngine;
}

export interface MeasuredLayer {
  /** The producer, refused with a reason where it is bias-dominated and may not be merged silently. */
  info: ProducerInfo;
  /** The vectors clustering and merging use: weights, or weights seen through the data. */
  vectors: NeuronVectors;
  similarity: 'weights' | 'data';
  biasDominance: BiasDominance | null;
}

/**
 * How a layer's similarity is measured: on the data where it is given and the layer's input can be
 * evaluated, else on the weights — and then a bias-dominated layer is flagged and, unless allowed,
 * not reduced.
 */
export async function measureLayer(
  info: ProducerInfo,
  weights: NeuronVectors,
  live: Int32Array,
  data: CalibrationData | null,
  gram: GramEngine,
  allowBiasDominated: boolean,
): Promise<MeasuredLayer> {
  if (info.joint && data) return measureJoint(info, weights, live, data, gram, allowBiasDominated);
  const moment = data && !info.joint ? await inputMoment(info.layer, data.evaluator, data.products) : null;
  if (moment && typeof moment !== 'string') {
    return { info, vectors: await weighByData(weights, moment.sigma, data!.products), similarity: 'data', biasDominance: null };
  }
  const dominance = await biasDominance(weights, live, gram);
  if (!dominance || allowBiasDominated || info.reason !== null) return { info, vectors: weights, similarity: 'weights', biasDominance: dominance };
  const why = typeof moment === 'string' ? `${biasDominatedReason(dominance)} (the calibration data cannot reach this layer: ${moment})` : biasDominatedReason(dominance);
  return { info: { ...info, reason: why }, vectors: weights, similarity: 'weights', biasDominance: dominance };
}

/**
 * A joint group (coupling.ts) with data: every member's vectors are seen through its
 * own input's second moment before they are joined — the inner product of joined vectors is then
 * the sum of the members' pre-activation inner products, i.e. that of the channels' summed
 * pre-activations over the data (followers still enter by their weights). Where a member's input
 * cannot be evaluated, the group is compared on its weights.
 */
async function measureJoint(
  info: ProducerInfo,
  weights: NeuronVectors,
  live: Int32Array,
  data: CalibrationData,
  gram: GramEngine,
  allowBiasDominated: boolean,
): Promise<MeasuredLayer> {
  const members: NeuronVectors[] = [];
  for (const member of info.joint!.members) {
    const moment = await inputMoment(member.layer, data.evaluator, data.products);
    if (typeof moment === 'string') return measureLayer(info, weights, live, null, gram, allowBiasDominated);
    members.push(await weighByData(neuronVectors({ ...member, units: info.units }), moment.sigma, data.products));
  }
  return { info, vectors: jointVectors(info.joint!, info.units, members), similarity: 'data', biasDominance: null };
}
