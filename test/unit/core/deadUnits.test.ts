/**
 * Dead units: a unit with all-zero input weights whose activation maps its bias to
 * 0 outputs zero everywhere. Such units are removed on reduction and counted in the summary's
 * `dead`; units with zero weights but a non-zero output (a constant) are kept; the reduced model
 * still computes the same function.
 */
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../../src/core/analyze';
import { loadBackend } from '../../../src/core/compute/backend';
import { reduceModel } from '../../../src/core/reduce';
import { clustersAt } from '../../../src/core/estimate';
import { verifyModels } from '../../../src/core/verify';
import { saveLayersModel, tempDir } from '../../helpers/models';
import {
  Arr, layerWeights, loadFolderWithTfjs, maxRelDeviation, predict, probeBatch, readJson, setLayerWeights, trainBriefly, useCpu,
  writtenUnits,
} from '../../helpers/tfjs';

/** Extra units inserted into a layer: zero input weights, the given bias, random output weights. */
interface Extra {
  at: number;
  bias: number;
}

/**
 * Inserts the extra units into `layer` (Dense [kernel, bias]) and matching rows into the consumer's
 * kernel. Returns the new weights and each extra unit's index in the wider layer.
 */
function insertUnits(weights: Map<string, Arr[]>, layer: string, consumer: string, extras: Extra[]): { weights: Map<string, Arr[]>; indices: number[] } {
  const [kernel, bias] = weights.get(layer)!;
  const [next, nextBias] = weights.get(consumer)!;
  const fanIn = kernel.shape[0];
  const n = kernel.shape[1];
  const outs = next.shape[1];
  const total = n + extras.length;
  // Source per new index: an original unit, or −1 − k for extra k.
  const source: number[] = [];
  let original = 0;
  for (let j = 0; j < total; j++) {
    const k = extras.findIndex((e) => e.at === j);
    source.push(k >= 0 ? -1 - k : original++);
  }
  const newKernel = new Float32Array(fanIn * total);
  const newBias = new Float32Array(total);
  const newNext = new Float32Array(total * outs);
  source.forEach((s, j) => {
    for (let i = 0; i < fanIn; i++) newKernel[i * total + j] = s >= 0 ? kernel.data[i * n + s] : 0;
    newBias[j] = s >= 0 ? bias.data[s] : extras[-1 - s].bias;
    for (let c = 0; c < outs; c++) newNext[j * outs + c] = s >= 0 ? next.data[s * outs + c] : 0.5 + 0.1 * c - 0.2 * j / total;
  });
  const out = new Map(weights);
  out.set(layer, [{ shape: [fanIn, total], data: newKernel }, { shape: [total], data: newBias }]);
  out.set(consumer, [{ shape: [total, outs], data: newNext }, nextBias]);
  return { weights: out, indices: extras.map((e) => e.at) };
}

describe('dead units', function () {
  let root: string;
  before(async () => {
    await useCpu();
    root = await tempDir();
  });

  async function run(activation: 'relu' | 'tanh', extras: Extra[], expectedDead: number[], name: string): Promise<void> {
    const build = (units: number): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.dense({ name: 'd1', inputShape: [6], units, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 61 }) }),
          tf.layers.dense({ name: 'd2', units: 10, activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 62 }) }),
          tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 63 }) }),
        ],
      });
    const original = build(16);
    await trainBriefly(original, 64, 10);
    const { weights } = insertUnits(layerWeights(original), 'd1', 'd2', extras);
    const model = build(16 + extras.length);
    setLayerWeights(model, weights);
    const file = await saveLayersModel(model, path.join(root, name));
    const x = probeBatch([6], 64, 65);
    // The inserted units change nothing but constants: dead ones contribute exactly zero.
    const live = extras.length - expectedDead.length;
    if (live === 0) assert.ok(maxRelDeviation(predict(original, x), predict(model, x)) <= 1e-6);

    const analysis = await analyzeModel(await loadModel(file));
    const d1 = analysis.summary.layers.find((l) => l.name === 'd1')!;
    assert.strictEqual(d1.reducible, true, d1.reason ?? '');
    assert.strictEqual(d1.dead, expectedDead.length, 'dead units counted');
    // Dead units take no part in clustering; at 0.9999 every live unit is its own cluster.
    assert.strictEqual(clustersAt(d1, 0.9999), 16 + live);
    assert.strictEqual(analysis.summary.layers.find((l) => l.name === 'd2')!.dead, 0);

    const outDir = path.join(root, `${name}.condensed`);
    const result = await reduceModel(analysis, 0.9999, outDir);
    const plan = result.report.layers.find((l) => l.name === 'd1')!;
    assert.deepStrictEqual(plan.dead, expectedDead, 'the dead units removed');
    assert.strictEqual(plan.unitsAfter, 16 + live);
    assert.deepStrictEqual(writtenUnits(await readJson(path.join(outDir, 'model.json'))), { d1: 16 + live, d2: 10, out: 3 });
    const fidelity = await verifyModels(await loadBackend('cpu'), file, path.join(outDir, 'model.json'));
    assert.ok(fidelity.maxRel <= 1e-5, `max relative deviation ${fidelity.maxRel}`);
    const loaded = await loadFolderWithTfjs(outDir);
    assert.ok(maxRelDeviation(predict(model, x), predict(loaded, x)) <= 1e-5);
    assert.strictEqual(loaded.countParams(), result.estimate.totals.paramsAfter);
    [original, model, loaded].forEach((m) => m.dispose());
    tf.dispose(x);
  }

  it('ReLU: zero-weight units with negative or zero bias are removed and counted; a positive-bias one is kept', async () => {
    await run(
      'relu',
      [
        { at: 2, bias: -0.5 },
        { at: 7, bias: -2 },
        { at: 8, bias: 0 },
        { at: 13, bias: 0.7 }, // relu(0.7) ≠ 0: a constant unit, not dead
        { at: 19, bias: -0.01 },
      ],
      [2, 7, 8, 19],
      'relu-dead',
    );
  });

  it('tanh: only the zero-bias unit is dead, since tanh maps other biases to non-zero constants', async () => {
    await run(
      'tanh',
      [
        { at: 4, bias: 0 },
        { at: 9, bias: -0.5 },
      ],
      [4],
      'tanh-dead',
    );
  });
});
