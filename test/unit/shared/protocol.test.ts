import * as assert from 'assert';
import * as path from 'path';
import { analyzeModel, loadModel } from '../../../src/core/analyze';
import { leafOrder } from '../../../src/core/similarity/heatmap';
import { clusterLabels } from '../../../src/core/similarity/cluster';
import { estimate } from '../../../src/core/estimate';
import { fromWire, toWire, WireSummary } from '../../../src/shared/protocol';

const example = path.join(__dirname, '..', '..', '..', 'examples', 'combustion-mlp', 'model.json');

describe('wire form of an analysis', () => {
  it('survives JSON and gives the same estimates at any threshold', async () => {
    const { summary } = await analyzeModel(await loadModel(example));
    const back = fromWire(JSON.parse(JSON.stringify(toWire(summary))) as WireSummary);
    for (const gamma of [0.5, 0.9, 0.95, 0.999]) assert.deepStrictEqual(estimate(back, gamma), estimate(summary, gamma));
  });

  it('orders heatmap units so that every cluster is contiguous', async () => {
    const { summary } = await analyzeModel(await loadModel(example));
    for (const layer of summary.layers) {
      if (!layer.dendrogram) continue;
      const order = leafOrder(layer.dendrogram);
      assert.deepStrictEqual([...order].sort((a, b) => a - b), Array.from({ length: layer.dendrogram.n }, (_, i) => i));
      for (const gamma of [0.8, 0.95, 0.99]) {
        const labels = Array.from(order, (leaf) => clusterLabels(layer.dendrogram!, gamma)[leaf]);
        const seen = new Set<number>();
        labels.forEach((label, i) => {
          if (i > 0 && label !== labels[i - 1]) assert.ok(!seen.has(label), `cluster ${label} split in ${layer.name}`);
          seen.add(label);
        });
      }
    }
  });
});
