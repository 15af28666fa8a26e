import * as assert from 'assert';
import { completeLinkage } from '../../../src/core/similarity/cluster';
import { estimate, LayerSummary, ModelSummary } from '../../../src/core/estimate';
import { layerHint, modelSummaryLine } from '../../../src/shared/hints';

/** A layer of `n` units whose similarity matrix puts them into `groups` tight groups. */
function layer(name: string, n: number, groups: number, extra: Partial<LayerSummary> = {}): LayerSummary {
  const s = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = i % groups === j % groups ? 0.999 : 0.1;
  return {
    name, type: 'Dense', units: n, analysed: true, reducible: true, reason: null, activation: 'relu', dead: 0,
    dendrogram: completeLinkage(s, n), highest: new Float32Array(n).fill(0.999),
    params: [{ coef: 10, factors: [name] }], macs: [], bytesPerParam: 4, ...extra,
  };
}

describe('reduction hints', () => {
  const summary: ModelSummary = {
    model: 'm', format: 'tfjs-layers', backend: 'cpu', otherParams: 0,
    layers: [
      layer('wide', 512, 37),
      layer('tied', 64, 64, { reducible: false, reason: 'coupled through Add (add_1)' }),
      { name: 'embed', type: 'Embedding', units: null, analysed: false, reducible: false, reason: 'not analysed: Embedding', activation: null, dead: 0, dendrogram: null, highest: null, params: [{ coef: 100, factors: [] }], macs: [], bytesPerParam: 4 },
    ],
  };
  const e = estimate(summary, 0.95);

  it('says how strongly a layer condenses', () => {
    const hint = layerHint(summary.layers[0], e.layers[0], 0.95);
    assert.strictEqual(hint.headline, 'strongly condensed: 512 → 37 at γ 0.95');
    assert.ok(hint.details.some((d) => d.includes('5120 → 370')));
  });

  it('names the coupling of a layer that is not reduced', () => {
    assert.match(layerHint(summary.layers[1], e.layers[1], 0.95).headline, /^coupled through Add \(add_1\): not reduced$/);
  });

  it('names the layer type that is not analysed', () => {
    assert.strictEqual(layerHint(summary.layers[2], e.layers[2], 0.95).headline, 'not analysed: Embedding');
  });

  it('summarises a model in one line for the Models view', () => {
    assert.match(modelSummaryLine(summary, e, 0.95), /^1 reducible layer · \d+(\.\d)? % of size at γ 0\.95$/);
  });
});
