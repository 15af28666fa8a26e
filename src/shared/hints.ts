/**
 * Reduction hints for one layer, as the hover in model.json and the panel's rows show them.
 * Pure: used by the extension host and the webview alike.
 */
import { countClusters } from '../core/similarity/cluster';
import { median } from '../core/compute/statistics';
import type { Estimate, LayerEstimate, LayerSummary, ModelSummary } from '../core/estimate';

export interface LayerHint {
  /** One line, e.g. "strongly condensed: 512 → 37 at γ 0.95". */
  headline: string;
  /** Further lines (parameters saved, similarity spread, why not reduced). */
  details: string[];
}

const pct = (x: number): string => `${(100 * x).toFixed(x < 0.1 ? 1 : 0)} %`;

export function formatGamma(gamma: number): string {
  return String(Number(gamma.toFixed(4)));
}

export function layerHint(layer: LayerSummary, e: LayerEstimate, gamma: number): LayerHint {
  const g = formatGamma(gamma);
  if (!layer.analysed) {
    if (layer.reason) return { headline: layer.reason, details: [] };
    return { headline: `${layer.type}: no weights to condense`, details: [] };
  }
  const units = layer.units ?? 0;
  const clusters = e.clusters ?? units;
  const details: string[] = [];
  if (layer.highest && layer.highest.length > 1) {
    details.push(`Highest similarity per unit: median ${median(layer.highest).toFixed(3)}, min ${Math.min(...layer.highest).toFixed(3)}.`);
  }
  details.push(similarityNote(layer, gamma));
  if (!layer.reducible) {
    return { headline: `${layer.reason ?? 'not reduced'}: not reduced`, details: [`${units} units would form ${clusters} clusters at γ ${g}.`, ...details] };
  }
  const kept = e.unitsAfter ?? units;
  const saved = e.paramsBefore - e.paramsAfter;
  const ratio = units ? kept / units : 1;
  const headline =
    kept === units
      ? `no condensation at γ ${g}: ${units} units, all distinct`
      : ratio <= 0.5
        ? `strongly condensed: ${units} → ${kept} at γ ${g}`
        : `condenses: ${units} → ${kept} at γ ${g}`;
  if (saved > 0) details.unshift(`Parameters in this layer: ${e.paramsBefore} → ${e.paramsAfter} (saves ${pct(saved / Math.max(1, e.paramsBefore))}).`);
  if (layer.dead) details.push(`${layer.dead} dead unit${layer.dead === 1 ? '' : 's'} (output always zero) removed.`);
  return { headline, details };
}

/** How similarity was measured, and for a bias-dominated layer what the weight part alone gives. */
function similarityNote(layer: LayerSummary, gamma: number): string {
  if (layer.similarity === 'data') return 'Similarity measured on the calibration data: cosine of the units’ pre-activations.';
  const b = layer.biasDominance;
  if (!b) return 'Similarity measured on the weights (bias appended).';
  return `Bias-dominated: median |bias| ${b.medianBias.toPrecision(2)} vs median weight norm ${b.medianWeightNorm.toPrecision(2)}. ` +
    `Without the bias, the weights form ${countClusters(b.weightOnly, gamma)} clusters at γ ${formatGamma(gamma)}.`;
}

/** One line per model for the Models view, e.g. "3 layers · 41 % of size at γ 0.95". */
export function modelSummaryLine(summary: ModelSummary, e: Estimate, gamma: number): string {
  const reducible = summary.layers.filter((l) => l.reducible).length;
  return `${reducible} reducible layer${reducible === 1 ? '' : 's'} · ${pct(e.totals.ratio)} of size at γ ${formatGamma(gamma)}`;
}
