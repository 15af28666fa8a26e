/**
 * The analysis result as every consumer sees it (CLI, worker, panel), and the size estimates
 * derived from it at any threshold. Pure: the webview imports this file to re-count without the worker.
 */
import { countClusters, Dendrogram } from './similarity/cluster';

/** coef × Π units(after) of the named layers: how a layer's size depends on the reduced layers. */
export interface SizeTerm {
  coef: number;
  factors: string[];
}

export interface LayerSummary {
  name: string;
  type: string;
  /** Neurons or filters; null for layers without such a notion. */
  units: number | null;
  /** Dense/Conv2D layers get a similarity analysis even when they cannot be reduced. */
  analysed: boolean;
  reducible: boolean;
  reason: string | null;
  activation: string | null;
  /** Units whose output is identically zero (removed on reduction, when reducible). */
  dead: number;
  /** Over the live units. */
  dendrogram: Dendrogram | null;
  /** Each live unit's highest similarity to another unit. */
  highest: Float32Array | null;
  params: SizeTerm[];
  macs: SizeTerm[];
  /** Stored bytes per parameter (the writer stores weights back the same way). */
  bytesPerParam: number;
  /** How similarity was measured: on weight vectors, or on the units' pre-activations over calibration data. Absent: weights. */
  similarity?: 'weights' | 'data';
  /** Set where, measured on weights, the (folded) bias dominates the weight vectors. */
  biasDominance?: BiasDominance | null;
  /**
   * Set on a reducible layer whose channels are tied to other layers' (a residual Add, a DepthwiseConv2D
   * after it): the group shares one clustering, cut at the threshold of its `lead`; `note` says what ties it.
   */
  joint?: { lead: string; note: string };
}

/** A layer whose bias-appended cosine mostly compares biases; the weight part's own tree is shown beside it. */
export interface BiasDominance {
  medianBias: number;
  medianWeightNorm: number;
  /** Complete-linkage tree of the weight part alone (bias left out), over the same live units. */
  weightOnly: Dendrogram;
}

export interface ModelSummary {
  model: string;
  format: string;
  backend: string;
  layers: LayerSummary[];
  /** Parameters no layer owns (nested models), carried through unchanged. */
  otherParams: number;
}

export type Thresholds = number | ((layer: string) => number);

/** Parameters, multiply-adds and bytes, before and after condensing: of a layer, or of the model. */
interface CostEstimate {
  paramsBefore: number;
  paramsAfter: number;
  macsBefore: number;
  macsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface LayerEstimate extends CostEstimate {
  name: string;
  clusters: number | null;
  unitsBefore: number | null;
  unitsAfter: number | null;
}

export interface Estimate {
  layers: LayerEstimate[];
  totals: CostEstimate & {
    /** paramsAfter / paramsBefore. */
    ratio: number;
  };
}

/** A layer's threshold; a joint group's members all take their lead's. */
export const thresholdFor = (t: Thresholds, layer: LayerSummary): number => (typeof t === 'number' ? t : t(layer.joint?.lead ?? layer.name));

export function clustersAt(layer: LayerSummary, gamma: number): number | null {
  return layer.dendrogram ? countClusters(layer.dendrogram, gamma) : null;
}

/**
 * A kept width rounded up to a multiple of `roundTo` (widths hardware runs faster), capped at the
 * layer's own width; without `roundTo` (or 1) the width itself.
 */
export function roundedWidth(width: number, units: number, roundTo?: number): number {
  if (!roundTo || roundTo <= 1) return width;
  return Math.min(units, Math.ceil(width / roundTo) * roundTo);
}

/** Units a reducible layer keeps at γ: one per cluster of live units, never fewer than one; with `roundTo`, rounded up (roundedWidth). */
export function keptUnits(layer: LayerSummary, gamma: number, roundTo?: number): number {
  if (!layer.reducible || !layer.dendrogram || layer.units === null) return layer.units ?? 0;
  return roundedWidth(Math.max(1, countClusters(layer.dendrogram, gamma)), layer.units, roundTo);
}

function evaluate(terms: SizeTerm[], units: Map<string, number>): number {
  let total = 0;
  for (const term of terms) {
    let value = term.coef;
    for (const f of term.factors) value *= units.get(f)!;
    total += value;
  }
  return total;
}

/** Sizes at the thresholds; `roundTo` rounds each reduced width up to a multiple of it (see roundedWidth). */
export function estimate(summary: ModelSummary, thresholds: Thresholds, roundTo?: number): Estimate {
  const before = new Map<string, number>();
  const after = new Map<string, number>();
  for (const layer of summary.layers) {
    if (layer.units === null) continue;
    before.set(layer.name, layer.units);
    after.set(layer.name, keptUnits(layer, thresholdFor(thresholds, layer), roundTo));
  }
  const layers = summary.layers.map((layer): LayerEstimate => {
    const gamma = thresholdFor(thresholds, layer);
    const paramsBefore = evaluate(layer.params, before);
    const paramsAfter = evaluate(layer.params, after);
    return {
      name: layer.name,
      clusters: clustersAt(layer, gamma),
      unitsBefore: layer.units,
      unitsAfter: layer.units === null ? null : after.get(layer.name)!,
      paramsBefore,
      paramsAfter,
      macsBefore: evaluate(layer.macs, before),
      macsAfter: evaluate(layer.macs, after),
      bytesBefore: Math.round(paramsBefore * layer.bytesPerParam),
      bytesAfter: Math.round(paramsAfter * layer.bytesPerParam),
    };
  });
  const sum = (key: keyof LayerEstimate): number => layers.reduce((s, l) => s + (l[key] as number), 0);
  const paramsBefore = sum('paramsBefore') + summary.otherParams;
  const paramsAfter = sum('paramsAfter') + summary.otherParams;
  return {
    layers,
    totals: {
      paramsBefore,
      paramsAfter,
      macsBefore: sum('macsBefore'),
      macsAfter: sum('macsAfter'),
      bytesBefore: sum('bytesBefore'),
      bytesAfter: sum('bytesAfter'),
      ratio: paramsBefore > 0 ? paramsAfter / paramsBefore : 1,
    },
  };
}

/** See the README for why 0.95: it merges only near-parallel units, so the merge barely moves the function. */
export const DEFAULT_THRESHOLD = 0.95;

/** Generated inputs the fidelity check runs when no data file is given. Kept here, in a module free of model readers, so the extension host can import it. */
export const DEFAULT_SAMPLES = 256;

/** Batch sizes verify's timing measures unless others are asked for: one request at a time, and a full batch (here for the extension host, as DEFAULT_SAMPLES). */
export const DEFAULT_TIMING_BATCHES: readonly number[] = [1, 1024];
/** The largest batch size the timing accepts. */
export const MAX_TIMING_BATCH = 65536;
