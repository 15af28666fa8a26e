import type { Dendrogram } from './cluster';
import type { NeuronVectors } from './weights';

/** A per-layer similarity picture: units in dendrogram order, averaged into at most `size`² cells. */
export interface Heatmap {
  size: number;
  /** Row/column k averages dendrogram-order positions [bounds[k], bounds[k + 1]). */
  bounds: number[];
  /** Unit index at each dendrogram-order position. */
  order: number[];
  /** size × size mean cosine similarities, row-major. */
  values: number[];
}

/**
 * Leaves in an order where every cluster, at every threshold, is contiguous: replaying the merges
 * (highest similarity first) and concatenating the two sides' lists each time.
 */
export function leafOrder(d: Dendrogram): Int32Array {
  const next = new Int32Array(d.n).fill(-1);
  const tail = Int32Array.from({ length: d.n }, (_, i) => i);
  const parent = Int32Array.from({ length: d.n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]];
    return x;
  };
  for (let m = 0; m < d.sim.length; m++) {
    const ra = find(d.a[m]), rb = find(d.b[m]);
    next[tail[ra]] = rb;
    tail[ra] = tail[rb];
    parent[rb] = ra;
  }
  const order = new Int32Array(d.n);
  let at = 0;
  for (let root = 0; root < d.n; root++) {
    if (find(root) !== root) continue;
    for (let x = root; x !== -1; x = next[x]) order[at++] = x;
  }
  return order;
}

/**
 * The mean cosine similarity between blocks of units is the dot product of the blocks' summed
 * unit vectors over the block sizes, so a downsampled picture costs size² · d, not n² · d.
 */
export function heatmapOf(v: NeuronVectors, live: Int32Array, d: Dendrogram, maxSize = 96): Heatmap {
  const order = Array.from(leafOrder(d), (leaf) => live[leaf]);
  const n = order.length;
  const size = Math.min(n, maxSize);
  const bounds = Array.from({ length: size + 1 }, (_, k) => Math.round((k * n) / size));
  const sums = new Float64Array(size * v.d);
  for (let k = 0; k < size; k++) {
    for (let p = bounds[k]; p < bounds[k + 1]; p++) {
      const unit = order[p];
      const inv = v.norms[unit] > 0 ? 1 / v.norms[unit] : 0;
      for (let i = 0; i < v.d; i++) sums[k * v.d + i] += v.rows[unit * v.d + i] * inv;
    }
  }
  const values = new Array<number>(size * size);
  for (let r = 0; r < size; r++) {
    for (let c = r; c < size; c++) {
      let dot = 0;
      for (let i = 0; i < v.d; i++) dot += sums[r * v.d + i] * sums[c * v.d + i];
      const mean = dot / ((bounds[r + 1] - bounds[r]) * (bounds[c + 1] - bounds[c]));
      values[r * size + c] = values[c * size + r] = mean;
    }
  }
  return { size, bounds, order, values };
}
