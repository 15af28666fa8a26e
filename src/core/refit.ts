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
import { Analysis } from './analysis';
import { Calibration, evenRows } from './calibration';
import { productEngine } from './backend';
import { GraphEvaluator, isUnsupported, LayerRows, layerRows, originalWeights, replacedWeights } from './forward';
import { ProductEngine, solveSymmetric, transposeMatrix, typescriptProducts } from './linalg';
import { applyPlan, MergePlan } from './merge';
import { sizeOf, Tensor } from './tensor';

/** Ridge term relative to the mean feature variance: regularises rank-deficient fits, barely biases others. */
export const RIDGE = 1e-6;
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
  /** Null where the fit ran; else why the plain merge was kept for this consumer. */
  skipped: string | null;
  rows: number;
  features: number;
  /** RMS of the fit's residual over the RMS of the (centred) target, on up to 256 of the fitted rows. */
  relativeError: number | null;
}

export interface RefitResult {
  changed: Map<string, Tensor>;
  layers: RefitLayer[];
}

/**
 * The plan's changed weights with every consumer refitted on the calibration data where it can be
 * evaluated. Consumers are fitted in topological order, so each reads inputs computed with final
 * weights — also across residual Adds, whose sums may involve a consumer fitted earlier.
 */
export async function refitPlan(analysis: Analysis, plan: MergePlan, calibration: Calibration, engine?: ProductEngine): Promise<RefitResult> {
  const products = engine ?? (await productEngine());
  const changed = applyPlan(analysis, plan);
  const { graph } = analysis.model.source;
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
    const record = (skipped: string | null, rows = 0, features = 0, relativeError: number | null = null): void =>
      void layers.push({ producer: producerOf.get(consumer.name)!, consumer: consumer.name, skipped, rows, features, relativeError });
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
    // Rows of the pre-activation are the rows layerRows gives (samples × output positions).
    const pick = evenRows(zo.data.length / out, FIT_ROWS);
    const rr = layerRows(consumer, xr, pick);
    if (isUnsupported(rr)) {
      record(rr.unsupported);
      continue;
    }
    if (rr.rows < rr.width) {
      // Fewer rows than features interpolate the calibration rows and generalise poorly (seen on MobileNetV2 with 16 images).
      record(`${rr.rows} calibration rows for ${rr.width} features: too few to fit (give at least ${rr.width} rows)`, rr.rows, rr.width);
      continue;
    }
    const keep = planned.get(consumer.name)?.kept ?? Array.from({ length: out }, (_, j) => j);
    const target = pickRows(zo.data, out, pick, keep);
    const batchNorm = analysis.details.get(consumer.name)?.info.batchNorm ?? null;
    const mean = batchNorm?.weights.get('moving_mean');
    // The plain merge's kernel is the prior: what the rows leave undetermined stays merged, not zeroed.
    const merged = changed.get(kernel.name) ?? kernel;
    const prior = merged.data.length === rr.width * keep.length ? Float64Array.from(merged.data) : undefined;
    const fit = await ridgeLeastSquares(rr.data, rr.rows, rr.width, target, keep.length, bias !== undefined || mean !== undefined, { engine: products, prior });
    record(null, rr.rows, rr.width, await relativeError(rr, fit, target, keep.length, products));

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
  return { changed, layers };
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

/** Rows the reported residual is measured on: an estimate, so it costs little next to the fit. */
const RESIDUAL_ROWS = 256;

async function relativeError(a: LayerRows, fit: RidgeFit, y: Float64Array, out: number, products: ProductEngine): Promise<number> {
  const pick = evenRows(a.rows, RESIDUAL_ROWS);
  const rows = pick.length;
  const z = await products.multiplyRows(pickRows(a.data, a.width, pick), rows, transposeMatrix(fit.weights, a.width, out), out, a.width);
  const t = pickRows(y, out, pick);
  let residual = 0, spread = 0;
  for (let o = 0; o < out; o++) {
    let mean = 0;
    for (let r = 0; r < rows; r++) mean += t[r * out + o];
    mean /= Math.max(rows, 1);
    for (let r = 0; r < rows; r++) {
      residual += (z[r * out + o] + (fit.intercept ? fit.intercept[o] : 0) - t[r * out + o]) ** 2;
      spread += (t[r * out + o] - mean) ** 2;
    }
  }
  return spread > 0 ? Math.sqrt(residual / spread) : Math.sqrt(residual);
}
