/**
 * Complete-linkage clustering on cosine similarity.
 *
 * The similarity of two clusters is the lowest similarity between their members, and the closest
 * clusters are merged first. Cutting the resulting tree at γ yields clusters in which *every pair*
 * of members has similarity ≥ γ (so every member is within γ of any representative). Because the
 * tree does not depend on γ, a threshold change only re-cuts it: counting clusters is a binary
 * search over the sorted merge similarities, and labelling is a union-find pass.
 *
 * This file is pure (no Node, no DOM) so the webview re-counts clusters itself.
 */
export interface Dendrogram {
  /** Number of leaves (neurons taking part; dead neurons are excluded beforehand). */
  n: number;
  /** Merges sorted by similarity, highest first; a and b are leaf indices, one from each side. */
  a: Int32Array;
  b: Int32Array;
  sim: Float64Array;
}

/**
 * Builds the tree with the nearest-neighbour-chain algorithm: O(n²) time on an n×n similarity
 * matrix, which it overwrites. Ties go to the lower index, so the result is deterministic.
 */
export function completeLinkage(s: Float32Array, n: number): Dendrogram {
  // Active clusters in increasing order: searches and updates visit only these, so the work
  // shrinks as clusters merge (about half of a scan over all n on average).
  const active = Int32Array.from({ length: n }, (_, i) => i);
  let activeCount = n;
  const mergeA = new Int32Array(Math.max(n - 1, 0));
  const mergeB = new Int32Array(Math.max(n - 1, 0));
  const mergeSim = new Float64Array(Math.max(n - 1, 0));
  const chain = new Int32Array(n);
  let chainLength = 0;
  let merges = 0;
  while (merges < n - 1) {
    if (chainLength === 0) chain[chainLength++] = active[0];
    const tip = chain[chainLength - 1];
    const previous = chainLength > 1 ? chain[chainLength - 2] : -1;
    // Nearest active neighbour of the tip; the previous chain element wins ties (keeps the chain acyclic),
    // else the lowest index does (the scan is in increasing order and replaces only on a strict gain).
    // A NaN similarity counts as -Infinity, and a lone tip takes its first neighbour even at -Infinity:
    // every step then either extends the chain or merges, so the loop ends whatever the matrix holds.
    const row = tip * n;
    let best = previous;
    let bestSim = previous >= 0 ? orLowest(s[row + previous]) : -Infinity;
    for (let a = 0; a < activeCount; a++) {
      const j = active[a];
      const v = orLowest(s[row + j]);
      if (j !== tip && (v > bestSim || best < 0)) {
        best = j;
        bestSim = v;
      }
    }
    if (best === previous) {
      chainLength -= 2;
      const keep = Math.min(tip, previous);
      const drop = Math.max(tip, previous);
      mergeA[merges] = keep;
      mergeB[merges] = drop;
      mergeSim[merges] = bestSim;
      merges++;
      let at = 0;
      while (active[at] !== drop) at++;
      active.copyWithin(at, at + 1, activeCount--);
      // Complete linkage in similarity terms: the merged cluster is as similar as its least similar side.
      const rk = keep * n, rd = drop * n;
      for (let a = 0; a < activeCount; a++) {
        const j = active[a];
        if (j === keep) continue;
        const v = Math.min(s[rk + j], s[rd + j]);
        s[rk + j] = v;
        s[j * n + keep] = v;
      }
    } else {
      chain[chainLength++] = best;
    }
  }
  return sortMerges({ n, a: mergeA, b: mergeB, sim: mergeSim });
}

/** A similarity, NaN (from non-finite weights) as the lowest. */
function orLowest(v: number): number {
  return Number.isNaN(v) ? -Infinity : v;
}

function sortMerges(d: Dendrogram): Dendrogram {
  const order = Array.from(d.sim.keys()).sort((x, y) => d.sim[y] - d.sim[x] || x - y);
  return {
    n: d.n,
    a: Int32Array.from(order, (i) => d.a[i]),
    b: Int32Array.from(order, (i) => d.b[i]),
    sim: Float64Array.from(order, (i) => d.sim[i]),
  };
}

/** Number of merges at similarity ≥ γ (the merge list is sorted descending). */
function mergesAtLeast(d: Dendrogram, gamma: number): number {
  let lo = 0, hi = d.sim.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (d.sim[mid] >= gamma) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function countClusters(d: Dendrogram, gamma: number): number {
  return d.n - mergesAtLeast(d, gamma);
}

/**
 * Cluster label per leaf: the lowest leaf index in its cluster. `atLeast` undoes the loosest merges
 * (those at the lowest similarity) until there are that many clusters: a finer cut, never a coarser one.
 */
export function clusterLabels(d: Dendrogram, gamma: number, atLeast = 0): Int32Array {
  const parent = Int32Array.from({ length: d.n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const count = Math.min(mergesAtLeast(d, gamma), Math.max(0, d.n - atLeast));
  for (let m = 0; m < count; m++) {
    const ra = find(d.a[m]), rb = find(d.b[m]);
    if (ra < rb) parent[rb] = ra;
    else if (rb < ra) parent[ra] = rb;
  }
  const labels = new Int32Array(d.n);
  for (let i = 0; i < d.n; i++) labels[i] = find(i);
  return labels;
}
