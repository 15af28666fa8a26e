/**
 * The baseline condensation is compared with: magnitude pruning of whole units (Li et al., "Pruning
 * Filters for Efficient ConvNets", 2017). Each layer keeps its units with the largest L1 norm of their
 * input weights and drops the rest. The result is a MergePlan in which every kept unit is a group of
 * its own, so applyPlan and refitPlan slice the model exactly as for a condensation — the dropped
 * units' output weights are discarded instead of being folded into a representative.
 *
 * The norm is taken of the weights the unit really applies: a BatchNormalization after the layer is
 * folded in (its γ/σ rescales the filter), the bias is left out (as in the original method). Channels
 * tied across layers (a residual group, see structure/coupling.ts) are kept or dropped together: their score is
 * the sum of every member's norm for that channel.
 */
import { Analysis } from '../analyze';
import { LayerPlan, MergePlan } from './merge';
import { neuronVectors } from '../similarity/weights';
import { ChannelLayer } from '../structure/walk';

/**
 * A plan keeping, in every layer named in `units`, that many units with the largest L1 norm (ties: the
 * lower index). Layers not named keep all their units. A joint group is named by any of its members,
 * all of which must agree.
 */
export function planL1(analysis: Analysis, units: Record<string, number>): MergePlan {
  const summaries = new Map(analysis.summary.layers.map((l) => [l.name, l]));
  const counts = new Map<string, number>();
  for (const [name, count] of Object.entries(units)) {
    const layer = summaries.get(name);
    if (!layer) throw new Error(`planL1: the model has no layer "${name}"`);
    if (!layer.reducible || layer.units === null) throw new Error(`planL1: layer "${name}" is not reducible (${layer.reason ?? 'no units'})`);
    if (!Number.isInteger(count) || count < 1 || count > layer.units) {
      throw new Error(`planL1: layer "${name}" has ${layer.units} units, cannot keep ${count}`);
    }
    const key = layer.joint?.lead ?? name;
    const earlier = counts.get(key);
    if (earlier !== undefined && earlier !== count) {
      throw new Error(`planL1: layer "${name}" is reduced jointly with "${key}" and must keep the same units (${earlier}, not ${count})`);
    }
    counts.set(key, count);
  }

  const layers: LayerPlan[] = [];
  const byLead = new Map<string, LayerPlan>();
  for (const layer of analysis.summary.layers) {
    const key = layer.joint?.lead ?? layer.name;
    const count = counts.get(key);
    if (count === undefined || !layer.reducible) continue;
    const shared = byLead.get(key);
    if (shared) {
      layers.push({ ...shared, name: layer.name });
      continue;
    }
    const { info } = analysis.details.get(layer.name)!;
    const norms = l1Norms(info.joint ? info.joint.members : [info], info.units);
    const kept = Array.from(norms.keys())
      .sort((a, b) => norms[b] - norms[a] || a - b)
      .slice(0, count)
      .sort((a, b) => a - b);
    const plan: LayerPlan = {
      name: layer.name,
      // No similarity threshold decides a pruning plan; NaN is written as null in the report.
      threshold: NaN,
      unitsBefore: info.units,
      kept,
      groups: kept.map((unit) => ({ representative: unit, members: [unit], scales: [1] })),
      dead: [],
    };
    layers.push(plan);
    byLead.set(key, plan);
  }
  return { layers };
}

/** Per unit, the summed L1 norm of the (BatchNorm-folded) input weights of every given layer, bias excluded. */
function l1Norms(members: ChannelLayer[], units: number): Float64Array {
  const norms = new Float64Array(units);
  for (const member of members) {
    const { rows, d } = neuronVectors({ ...member, units });
    for (let j = 0; j < units; j++) {
      let sum = 0;
      for (let i = 0; i < d - 1; i++) sum += Math.abs(rows[j * d + i]);
      norms[j] += sum;
    }
  }
  return norms;
}
