import { Analysis, LayerDetail } from '../analyze';
import { clusterLabels } from '../similarity/cluster';
import { ConsumerLink } from '../structure/walk';
import { keptUnits, thresholdFor, Thresholds } from '../estimate';
import { sizeOf, Tensor } from '../model/tensor';

interface ClusterGroup {
  representative: number;
  /** All members, the representative included, ascending. */
  members: number[];
  /** Factor applied to each member's output weights when summed into the representative's. */
  scales: number[];
}

export interface LayerPlan {
  name: string;
  threshold: number;
  unitsBefore: number;
  /** Units kept, ascending (the original order is preserved). */
  kept: number[];
  groups: ClusterGroup[];
  /** Units removed because their output is identically zero. */
  dead: number[];
}

export interface MergePlan {
  layers: LayerPlan[];
}

/**
 * Clusters every reducible layer at its threshold and picks a representative per cluster: the
 * member whose direction is closest to the cluster's mean direction (ties → lowest index).
 * Scales are ‖wᵢ‖/‖w_rep‖ for positively homogeneous activations, 1 otherwise. The members of a
 * joint group all get their lead's plan. With `roundTo`, a layer keeps a multiple of it (capped at its
 * width): the loosest clusters are split into the subclusters they were merged from, and past the
 * live units dead ones are kept too, so no two units are merged that were not merged at γ.
 */
export function planMerge(analysis: Analysis, thresholds: Thresholds, roundTo?: number): MergePlan {
  const layers: LayerPlan[] = [];
  const byName = new Map<string, LayerPlan>();
  for (const layer of analysis.summary.layers) {
    if (!layer.reducible || !layer.dendrogram) continue;
    const lead = layer.joint ? byName.get(layer.joint.lead) : undefined;
    if (lead) {
      layers.push({ ...lead, name: layer.name });
      continue;
    }
    const detail = analysis.details.get(layer.name)!;
    const gamma = thresholdFor(thresholds, layer);
    const width = keptUnits(layer, gamma, roundTo);
    const labels = clusterLabels(layer.dendrogram, gamma, width);
    const byLabel = new Map<number, number[]>();
    labels.forEach((label, leaf) => {
      const list = byLabel.get(label) ?? [];
      list.push(detail.live[leaf]);
      byLabel.set(label, list);
    });
    let groups = [...byLabel.values()].map((members) => makeGroup(detail, members));
    let dead = Array.from(detail.dead);
    if (groups.length === 0) {
      // Every unit is dead: keep one so the layer still exists (its output stays zero).
      groups = [{ representative: dead[0], members: [dead[0]], scales: [1] }];
      dead = dead.slice(1);
    }
    // A dead unit's output is zero: keeping it changes nothing but the width.
    while (groups.length < width && dead.length > 0) {
      const unit = dead.shift()!;
      groups.push({ representative: unit, members: [unit], scales: [1] });
    }
    groups.sort((a, b) => a.representative - b.representative);
    const plan = {
      name: layer.name,
      threshold: gamma,
      unitsBefore: detail.info.units,
      kept: groups.map((g) => g.representative),
      groups,
      dead,
    };
    layers.push(plan);
    byName.set(layer.name, plan);
  }
  return { layers };
}

function makeGroup(detail: LayerDetail, members: number[]): ClusterGroup {
  const { rows, norms, d } = detail.vectors;
  members.sort((a, b) => a - b);
  let representative = members[0];
  if (members.length > 2) {
    const mean = new Float64Array(d);
    for (const m of members) {
      const inv = norms[m] > 0 ? 1 / norms[m] : 0;
      for (let i = 0; i < d; i++) mean[i] += rows[m * d + i] * inv;
    }
    let best = -Infinity;
    for (const m of members) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += rows[m * d + i] * mean[i];
      const cos = norms[m] > 0 ? dot / norms[m] : -Infinity;
      if (cos > best) {
        best = cos;
        representative = m;
      }
    }
  }
  const homogeneous = detail.info.activation.homogeneous;
  const scales = members.map((m) =>
    homogeneous && norms[representative] > 0 ? norms[m] / norms[representative] : 1,
  );
  return { representative, members, scales };
}

/** Weight tensors the plan changes, by weight name; every other weight is carried over unchanged. */
export function applyPlan(analysis: Analysis, plan: MergePlan): Map<string, Tensor> {
  const changed = new Map<string, Tensor>();
  const current = (t: { name: string } & Tensor): Tensor => changed.get(t.name) ?? t;
  // Per consumer, every reduced producer feeding it: combined in one pass, so the sources of a Concatenate keep their places.
  const feeds = new Map<string, Feed[]>();
  for (const layerPlan of plan.layers) {
    const detail = analysis.details.get(layerPlan.name)!;
    const { info } = detail;
    const kernel = info.layer.weights.get('kernel')!;
    changed.set(kernel.name, sliceLastAxis(current(kernel), layerPlan.kept));
    const perUnit = [info.layer.weights.get('bias'), ...(info.batchNorm ? info.batchNorm.weights.values() : [])];
    for (const w of perUnit) if (w) changed.set(w.name, sliceLastAxis(current(w), layerPlan.kept));
    // A joint group's followers and consumers change once, with its lead.
    if (info.joint && info.joint.lead !== info.layer.name) continue;
    for (const f of info.joint?.followers ?? []) {
      for (const w of [...f.layer.weights.values(), ...(f.batchNorm ? f.batchNorm.weights.values() : [])]) {
        changed.set(w.name, sliceChannels(current(w), layerPlan.kept));
      }
    }
    for (const link of info.consumers) {
      feeds.set(link.layer.name, [...(feeds.get(link.layer.name) ?? []), { link, units: info.units, groups: layerPlan.groups }]);
    }
  }
  for (const [first, ...rest] of feeds.values()) {
    const k = first.link.layer.weights.get('kernel')!;
    const { channels, groups } = inputGroups([first, ...rest]);
    changed.set(k.name, combineInputs(current(k), channels, groups, first.link.channelMajor ? first.link.positions : 1));
  }
  return changed;
}

interface Feed {
  link: ConsumerLink;
  units: number;
  groups: ClusterGroup[];
}

/**
 * The groups over all of a consumer's input channels: each reduced source's own (moved to its place
 * in a Concatenate), every other channel kept on its own.
 */
function inputGroups(feeds: Feed[]): { channels: number; groups: ClusterGroup[] } {
  const [first] = feeds;
  if (feeds.length === 1 && !first.link.slice) return { channels: first.units, groups: first.groups };
  const channels = first.link.slice?.total ?? first.units;
  const covered = new Uint8Array(channels);
  const groups: ClusterGroup[] = [];
  for (const { link, units, groups: own } of feeds) {
    const offset = link.slice?.offset ?? 0;
    covered.fill(1, offset, offset + units);
    for (const g of own) groups.push({ representative: g.representative + offset, members: g.members.map((m) => m + offset), scales: g.scales });
  }
  covered.forEach((c, i) => {
    if (!c) groups.push({ representative: i, members: [i], scales: [1] });
  });
  groups.sort((a, b) => a.representative - b.representative);
  return { channels, groups };
}

/** A follower's weight with the kept channels: its last axis, or the channel axis of a depthwise kernel [kh, kw, C, 1]. */
function sliceChannels(t: Tensor, keep: number[]): Tensor {
  if (t.shape.length < 4) return sliceLastAxis(t, keep);
  const sliced = sliceLastAxis({ ...t, shape: t.shape.slice(0, -1) }, keep);
  return { ...sliced, shape: [...sliced.shape, 1] };
}

function sliceLastAxis(t: Tensor, keep: number[]): Tensor {
  const n = t.shape[t.shape.length - 1];
  const outer = sizeOf(t.shape) / n;
  const data = t.dtype === 'int32' ? new Int32Array(outer * keep.length) : new Float32Array(outer * keep.length);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < keep.length; k++) data[o * keep.length + k] = t.data[o * n + keep[k]];
  }
  return { shape: [...t.shape.slice(0, -1), keep.length], dtype: t.dtype, data };
}

/**
 * A consumer kernel seen as [outer, channels, inner · out] (outer = kernel positions for conv,
 * flattened positions for Dense after a channels-last Flatten; inner = flattened positions after a
 * channel-major one, else 1): each kept channel's slice becomes the scaled sum of its group's.
 */
function combineInputs(t: Tensor, channels: number, groups: ClusterGroup[], inner: number): Tensor {
  const block = inner * t.shape[t.shape.length - 1];
  const outer = sizeOf(t.shape) / (channels * block);
  const data = new Float32Array(outer * groups.length * block);
  for (let o = 0; o < outer; o++) {
    groups.forEach((g, k) => {
      const target = (o * groups.length + k) * block;
      g.members.forEach((m, idx) => {
        const source = (o * channels + m) * block;
        const scale = g.scales[idx];
        for (let c = 0; c < block; c++) data[target + c] += scale * t.data[source + c];
      });
    });
  }
  const shape = t.shape.slice();
  // Dense kernels are [positions·channels, out]; conv kernels [kh, kw, channels, out].
  shape[shape.length - 2] = (shape[shape.length - 2] / channels) * groups.length;
  return { shape, dtype: 'float32', data };
}
