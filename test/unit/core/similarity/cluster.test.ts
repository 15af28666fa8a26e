import * as assert from 'assert';
import { clusterLabels, completeLinkage, countClusters } from '../../../../src/core/similarity/cluster';
import { seededRandom } from '../../../../src/core/data/random';

/** Cosine-similarity matrix of random unit vectors, some of them near-copies of others. */
function similarityOf(vectors: number[][]): Float32Array {
  const n = vectors.length;
  const unit = vectors.map((v) => {
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
  const s = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = unit[i].reduce((acc, x, k) => acc + x * unit[j][k], 0);
  return s;
}

function randomVectors(n: number, d: number, seed: number): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => Array.from({ length: d }, () => random() * 2 - 1));
}

describe('complete-linkage clustering', () => {
  it('finds planted groups and keeps every pair in a cluster above the threshold', () => {
    const base = randomVectors(6, 20, 1);
    const random = seededRandom(2);
    const vectors = base.flatMap((v) => [v, v.map((x) => x * 2), v.map((x) => x + (random() - 0.5) * 1e-3)]);
    const s = similarityOf(vectors);
    const tree = completeLinkage(s.slice(), vectors.length);
    assert.strictEqual(countClusters(tree, 0.999), 6);
    const labels = clusterLabels(tree, 0.999);
    for (let i = 0; i < vectors.length; i++) {
      for (let j = 0; j < vectors.length; j++) {
        if (labels[i] === labels[j]) assert.ok(s[i * vectors.length + j] >= 0.999);
      }
    }
    assert.deepStrictEqual(Array.from(new Set(labels)).length, 6);
  });

  it('counts match the labelling at every threshold and fall as the threshold drops', () => {
    const vectors = randomVectors(60, 5, 3);
    const tree = completeLinkage(similarityOf(vectors), vectors.length);
    let previous = Infinity;
    for (let gamma = 1; gamma >= -1; gamma -= 0.05) {
      const count = countClusters(tree, gamma);
      assert.strictEqual(new Set(clusterLabels(tree, gamma)).size, count);
      assert.ok(count <= previous);
      previous = count;
    }
    assert.strictEqual(countClusters(tree, -1), 1);
  });

  it('ends on similarities that are NaN (from non-finite weights), merging those clusters last', () => {
    const n = 6;
    const s = similarityOf(randomVectors(n, 3, 5));
    for (let j = 0; j < n; j++) if (j !== 2) s[2 * n + j] = s[j * n + 2] = NaN;
    const tree = completeLinkage(s, n);
    assert.strictEqual(tree.sim.length, n - 1);
    assert.strictEqual(tree.sim[n - 2], -Infinity);
    assert.ok(Array.from(tree.sim.subarray(0, n - 2)).every(Number.isFinite));
    const all = new Float32Array(n * n).fill(NaN);
    assert.strictEqual(completeLinkage(all, n).sim.length, n - 1);
  });

  it('is deterministic', () => {
    const vectors = randomVectors(40, 3, 4);
    const a = completeLinkage(similarityOf(vectors), 40);
    const b = completeLinkage(similarityOf(vectors), 40);
    assert.deepStrictEqual(Array.from(a.sim), Array.from(b.sim));
    assert.deepStrictEqual(Array.from(a.a), Array.from(b.a));
  });
});
