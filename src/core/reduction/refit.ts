/**
 * Data-aware merge: after a layer's kept units are chosen, the next layer's weights and bias are
 * solved by ridge least squares so that its pre-activations on calibration inputs match the
 * original network's. Layers are taken front to back, each fit reading its inputs from the
 * already-reduced network, so later fits also absorb earlier fits' residual errors.
 *
 * The plain merge (applyPlan) gives every sliced tensor first; the refit then replaces each
 * consumer's kernel and bias. A consumer that is reduced too is fitted on its own kept outputs
 * only (least squares is separable per output, so this is the fit of all outputs, sliced).
 * Without a bias, a consumer followed by BatchNormalization takes the fitted intercept into the
 * moving mean; otherwise it is fitted without one.
 */
import { Analysis } from '../analyze';
import { Calibration, evenRows } from '../data/calibration';
import { productEngine } from '../compute/engines';
import { GraphEvaluator, isUnsupported, LayerRows, layerRows, originalWeights, replacedWeights } from '../compute/evaluator';
import { ProductEngine, solveSymmetric, transposeMatrix, typescriptProducts } from '../compute/linalg';
import { applyPlan, MergePlan } from './merge';
import { sizeOf, Tensor } from '../model/tensor';

/** Ridge term relative to the mean feature variance: regularises rank-deficient fits, barely biases others. */
const RIDGE = 1e-6;
/** Rows (samples × output positions) a convolution's fit reads at most, spread evenly. */
const FIT_ROWS = 65536;

export interface RidgeFit {
  /** width × out, row-major. */
  weights: Float64Array;
  /** Per output; null when fitted without an intercept. */
  intercept: Float64Array | null;
}

/**
 * argmin ‖A·W + 1·bᵀ − Y‖² + λ‖W − P‖² in float64, with λ = ridge · trace(AᶜᵀAᶜ)/width (Aᶜ: A with
 * column means removed when fitting an intercept, which also keeps the system well conditioned) and
 * P the prior (zero when not given). Solved as a ridge fit of Δ = W − P to Y − A·P: where the rows
 * do not determine W (fewer rows than features, or directions the data never excites), W stays at
 * the prior — the plain merge, for the refit — instead of at zero. Cholesky on the normal equations,
 * or on their dual (A·Aᵀ + λI) when there are fewer rows than features — the same solution, at the
 * smaller cost.
 */
export async function ridgeLeastSquares(
  a: Float64Array, rows: number, width: number, y: Float64Array, out: number, intercept: boolean,
  { engine = typescriptProducts, ridge = RIDGE, prior }: { engine?: ProductEngine; ridge?: number; prior?: Float64Array } = {},
): Promise<RidgeFit> {
  const ac = new Float64Array(a.subarray(0, rows * width));
  const yc = new Float64Array(y.subarray(0, rows * out));
  if (prior) {
    const predicted = await engine.multiplyRows(ac, rows, transposeMatrix(prior, width, out), out, width);
    for (let i = 0; i < yc.length; i++) yc[i] -= predicted[i];
  }
  const mx = new Float64Array(width);
  const my = new Float64Array(out);
  if (intercept) {
    centerColumns(ac, rows, width, mx);
    centerColumns(yc, rows, out, my);
  }
  let trace = 0;
  for (const v of ac) trace += v * v;
  const lambda = trace > 0 ? (ridge * trace) / width : ridge;
  const at = transposeMatrix(ac, rows, width);
  const yt = transposeMatrix(yc, rows, out);
  let weights: Float64Array;
  if (rows >= width) {
    const normal = await engine.gramRows(at, width, rows);
    for (let i = 0; i < width; i++) normal[i * width + i] += lambda;
    weights = await solveSymmetric(engine, normal, width, await engine.multiplyRows(yt, out, at, width, rows), out);
  } else {
    const dual = await engine.gramRows(ac, rows, width);
    for (let i = 0; i < rows; i++) dual[i * rows + i] += lambda;
    const alpha = await solveSymmetric(engine, dual, rows, yt, out);
    weights = await engine.multiplyRows(at, width, transposeMatrix(alpha, rows, out), out, rows);
  }
  // The intercept of the fit of Δ is the whole model's: A·P + A·Δ + b.
  const b = intercept ? Float64Array.from(my) : null;
  if (b) for (let i = 0; i < width; i++) for (let o = 0; o < out; o++) b[o] -= mx[i] * weights[i * out + o];
  if (prior) for (let i = 0; i < weights.length; i++) weights[i] += prior[i];
  return { weights, intercept: b };
}

function centerColumns(m: Float64Array, rows: number, cols: number, means: Float64Array): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) means[c] += m[r * cols + c];
  for (let c = 0; c < cols; c++) means[c] /= Math.max(rows, 1);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r * cols + c] -= means[c];
}

/** One consumer's fit, for the report. */
export interface RefitLayer {
  producer: string;
  consumer: string;
  /** Null where the fit was taken; else why the plain merge was kept for this consumer. */
  skipped: string | null;
  /** Rows (samples × output positions) the fit read. */
  rows: number;
  features: number;
  /** RMS residual over the RMS of the centred target, on the calibration samples held out of the fit: the fit's, and the plain merge's. */
  relativeError: number | null;
  plainError: number | null;
}

export interface RefitResult {
  /** The refitted weights, or the plain merge's where the refit did not improve the outputs (taken false). */
  changed: Map<string, Tensor>;
  layers: RefitLayer[];
  /** Whether the fits were kept: their model's outputs on the held-out calibration samples beat the plain merge's. */
  taken: boolean;
  /** Relative MSE of the model's outputs against the original's on the held-out samples; null when none were held out or the outputs cannot be evaluated. */
  outputError: { fit: number; plain: number } | null;
}

/** Every HOLDOUT_EVERY-th calibration sample is held out of the fits, to check each fit against the plain merge. */
const HOLDOUT_EVERY = 5;

/** Whether a calibration sample is held out: every fifth, or the last one of fewer than five (none of a single sample). */
function heldOut(sample: number, samples: number): boolean {
  return samples >= HOLDOUT_EVERY ? sample % HOLDOUT_EVERY === HOLDOUT_EVERY - 1 : samples > 1 && sample === samples - 1;
}

/**
 * The plan's changed weights with every consumer refitted on the calibration data where it can be
 * evaluated. Consumers are fitted in topological order, so each reads inputs computed with final
 * weights — also across residual Adds, whose sums may involve a consumer fitted earlier. A fit is
 * taken only where it beats the plain merge on calibration samples it did not see: with few samples
 * a fit can match them closely and still generalise worse than the merge it started from.
 */
export async function refitPlan(analysis: Analysis, plan: MergePlan, calibration: Calibration, engine?: ProductEngine): Promise<RefitResult> {
  const products = engine ?? (await productEngine());
  const changed = applyPlan(analysis, plan);
  const { graph } = analysis.model.source;
  const samples = calibration.input.shape[0];
  const original = new GraphEvaluator(graph, calibration.input, originalWeights, products);
  const reduced = new GraphEvaluator(graph, calibration.input, replacedWeights(changed), products);
  const planned = new Map(plan.layers.map((l) => [l.name, l]));
  // Each consumer once, with the first reduced producer feeding it (the members of a residual group share their consumers).
  const producerOf = new Map<string, string>();
  for (const layerPlan of plan.layers) {
    for (const { layer } of analysis.details.get(layerPlan.name)!.info.consumers) if (!producerOf.has(layer.name)) producerOf.set(layer.name, layerPlan.name);
  }
  const layers: RefitLayer[] = [];
  for (const consumer of graph.layers.filter((l) => producerOf.has(l.name))) {
    const record = (skipped: string | null, rows = 0, features = 0, errors: { fit: number; plain: number } | null = null): void =>
      void layers.push({ producer: producerOf.get(consumer.name)!, consumer: consumer.name, skipped, rows, features, relativeError: errors?.fit ?? null, plainError: errors?.plain ?? null });
    const zo = await original.preActivation(consumer);
    if (isUnsupported(zo)) {
      record(zo.unsupported);
      continue;
    }
    const xr = await reduced.inputOf(consumer);
    if (isUnsupported(xr)) {
      record(xr.unsupported);
      continue;
    }
    const kernel = consumer.weights.get('kernel')!;
    const bias = consumer.config.use_bias === false ? undefined : consumer.weights.get('bias');
    const out = kernel.shape[kernel.shape.length - 1];
    // Rows of the pre-activation are the rows layerRows gives (samples × output positions), sample-major.
    const total = zo.data.length / out;
    const perSample = total / samples;
    const pick = evenRows(total, FIT_ROWS);
    const checkPick = pick.filter((r) => heldOut(Math.floor(r / perSample), samples));
    const fitPick = pick.filter((r) => !heldOut(Math.floor(r / perSample), samples));
    const rr = layerRows(consumer, xr, fitPick);
    const check = layerRows(consumer, xr, evenSubset(checkPick, CHECK_ROWS));
    if (isUnsupported(rr) || isUnsupported(check)) {
      record(isUnsupported(rr) ? rr.unsupported : (check as { unsupported: string }).unsupported);
      continue;
    }
    if (rr.rows < rr.width) {
      // Fewer rows than features interpolate the calibration rows: the fit would be taken on chance.
      const needed = Math.ceil((rr.width * HOLDOUT_EVERY) / (HOLDOUT_EVERY - 1) / perSample);
      // Advice never asks for more rows than the evaluation can take.
      const advice = needed <= (calibration.rowLimit ?? Infinity) ? `give at least ${needed} samples` : `it needs ${needed} samples, more than the ${calibration.rowLimit} this model's evaluation takes`;
      record(`${rr.rows} calibration rows for ${rr.width} features: too few to fit (${advice})`, rr.rows, rr.width);
      continue;
    }
    const keep = planned.get(consumer.name)?.kept ?? Array.from({ length: out }, (_, j) => j);
    const target = pickRows(zo.data, out, fitPick, keep);
    const batchNorm = analysis.details.get(consumer.name)?.info.batchNorm ?? null;
    const mean = batchNorm?.weights.get('moving_mean');
    // The plain merge's kernel is the prior: what the rows leave undetermined stays merged, not zeroed.
    const merged = changed.get(kernel.name) ?? kernel;
    const prior = Float64Array.from(merged.data);
    const fit = await ridgeLeastSquares(rr.data, rr.rows, rr.width, target, keep.length, bias !== undefined || mean !== undefined, { engine: products, prior });
    let errors: { fit: number; plain: number } | null = null;
    if (check.rows > 0) {
      const checkTarget = pickRows(zo.data, out, evenSubset(checkPick, CHECK_ROWS), keep);
      const plainBias = bias ? (changed.get(bias.name) ?? bias).data : null;
      errors = {
        fit: await relativeError(check, fit.weights, fit.intercept, checkTarget, keep.length, products),
        plain: await relativeError(check, prior, plainBias, checkTarget, keep.length, products),
      };
      if (errors.fit >= errors.plain) {
        record(errors.plain < EXACT
          ? `the plain merge is exact here (relative error ${errors.plain.toPrecision(2)} on held-out calibration samples)`
          : `the fit did no better than the plain merge on held-out calibration samples (relative error ${errors.fit.toPrecision(2)} vs ${errors.plain.toPrecision(2)})`, rr.rows, rr.width, errors);
        continue;
      }
    }
    record(null, rr.rows, rr.width, errors);

    const shape = kernel.shape.slice();
    shape[shape.length - 2] = rr.width / sizeOf(shape.slice(0, -2));
    shape[shape.length - 1] = keep.length;
    changed.set(kernel.name, { shape, dtype: 'float32', data: Float32Array.from(fit.weights) });
    if (bias) changed.set(bias.name, { shape: [keep.length], dtype: 'float32', data: Float32Array.from(fit.intercept!) });
    else if (mean) {
      // BatchNorm(y + c) with moving mean μ equals BatchNorm(y) with μ − c.
      changed.set(mean.name, { shape: [keep.length], dtype: 'float32', data: Float32Array.from(keep, (j, k) => mean.data[j] - fit.intercept![k]) });
    }
  }
  // Each fit is greedy, for one layer: check the whole model's outputs before taking them.
  const outputError = await heldOutOutputError(analysis, plan, calibration, original, reduced, products);
  const taken = !outputError || outputError.fit < outputError.plain;
  return { changed: taken ? changed : applyPlan(analysis, plan), layers, taken, outputError };
}

/** Relative MSE of the outputs of the refitted and the plain-merged model against the original's, on the held-out calibration samples. */
async function heldOutOutputError(
  analysis: Analysis, plan: MergePlan, calibration: Calibration, original: GraphEvaluator, refitted: GraphEvaluator, products: ProductEngine,
): Promise<{ fit: number; plain: number } | null> {
  const { graph } = analysis.model.source;
  const samples = calibration.input.shape[0];
  const held = Int32Array.from({ length: samples }, (_, s) => s).filter((s) => heldOut(s, samples));
  if (held.length === 0) return null;
  const [yo, yr] = [await original.output(graph.outputs[0]), await refitted.output(graph.outputs[0])];
  if (isUnsupported(yo) || isUnsupported(yr)) return null;
  const width = yo.data.length / samples;
  const input = { shape: [held.length, ...calibration.input.shape.slice(1)], data: pickRows(calibration.input.data, calibration.input.data.length / samples, held) };
  const yp = await new GraphEvaluator(graph, input, replacedWeights(applyPlan(analysis, plan)), products).output(graph.outputs[0]);
  if (isUnsupported(yp)) return null;
  const reference = pickRows(yo.data, width, held);
  return { fit: relativeMse(reference, pickRows(yr.data, width, held)), plain: relativeMse(reference, yp.data) };
}

/** Σ(ŷ − y)² / Σy². */
export function relativeMse(y: Float64Array, yHat: Float64Array): number {
  let err = 0, sq = 0;
  y.forEach((v, i) => {
    err += (v - yHat[i]) ** 2;
    sq += v * v;
  });
  return sq > 0 ? err / sq : err;
}

/** A relative error below this is float32 rounding: nothing for a fit to improve. */
const EXACT = 1e-6;

/** Held-out rows the fit is checked on at most, spread evenly. */
const CHECK_ROWS = 4096;

/** At most `max` of the given ascending indices, spread evenly. */
function evenSubset(indices: Int32Array, max: number): Int32Array {
  return indices.length <= max ? indices : evenRows(indices.length, max).map((i) => indices[i]);
}

/** The picked rows of a rows × width matrix, and of those only the given columns (default: all). */
function pickRows(data: Float64Array, width: number, pick: Int32Array, columns?: number[]): Float64Array {
  const all = !columns || (columns.length === width && columns.every((c, i) => c === i));
  if (all && pick.length * width === data.length) return data;
  const cols = columns ?? Array.from({ length: width }, (_, c) => c);
  const out = new Float64Array(pick.length * cols.length);
  pick.forEach((r, i) => cols.forEach((c, k) => (out[i * cols.length + k] = data[r * width + c])));
  return out;
}

/** RMS of A·W + b − Y over the RMS of Y's centred columns (the share of the target's variation left unexplained). */
async function relativeError(a: LayerRows, weights: ArrayLike<number>, intercept: ArrayLike<number> | null, y: Float64Array, out: number, products: ProductEngine): Promise<number> {
  const rows = a.rows;
  const z = await products.multiplyRows(a.data, rows, transposeMatrix(weights, a.width, out), out, a.width);
  let residual = 0, spread = 0;
  for (let o = 0; o < out; o++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += y[r * out + o];
    mean /= Math.max(rows, 1);
    for (let r = 0; r < rows; r++) {
      residual += (z[r * out + o] + (intercept ? intercept[o] : 0) - y[r * out + o]) ** 2;
      spread += (y[r * out + o] - mean) ** 2;
    }
  }
  return spread > 0 ? Math.sqrt(residual / spread) : Math.sqrt(residual);
}
