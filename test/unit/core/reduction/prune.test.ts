/**
 * The L1-norm baseline (src/core/reduction/prune.ts) and reduceModel with a given plan: the right units are
 * kept (largest L1 norm of the BatchNorm-folded input weights), residual groups keep the same
 * channels, the written model has the reported size, and dropping units that carry nothing but a
 * constant is exact once the next layer is refitted.
 */
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../../../src/core/analyze';
import { loadCalibration } from '../../../../src/core/data/calibration';
import { planL1 } from '../../../../src/core/reduction/prune';
import { reduceModel } from '../../../../src/core/reduce';
import { saveLayersModel, tempDir } from '../../../helpers/models';
import { layerWeights, loadFolderWithTfjs, maxRelDeviation, predict, probeBatch, readJson, setLayerWeights, trainBriefly, useCpu, writtenUnits } from '../../../helpers/tfjs';

let seed = 7000;
const init = () => tf.initializers.glorotUniform({ seed: seed++ });

/** Indices of the k largest values (ties: lower index), ascending. */
function largest(values: number[], k: number): number[] {
  return Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b).slice(0, k).sort((a, b) => a - b);
}

/** Per output unit, the L1 norm of a [..., in, out] kernel's column, times a per-unit scale. */
function columnL1(kernel: { shape: number[]; data: Float32Array }, scale: (unit: number) => number = () => 1): number[] {
  const out = kernel.shape[kernel.shape.length - 1];
  const sums = new Array<number>(out).fill(0);
  kernel.data.forEach((v, i) => (sums[i % out] += Math.abs(v)));
  return sums.map((s, j) => s * Math.abs(scale(j)));
}

describe('L1-norm pruning plan', () => {
  before(useCpu);

  function mlp(): tf.LayersModel {
    return tf.sequential({
      layers: [
        tf.layers.dense({ name: 'd1', inputShape: [5], units: 12, activation: 'relu', kernelInitializer: init() }),
        tf.layers.dense({ name: 'd2', units: 9, activation: 'tanh', kernelInitializer: init() }),
        tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init() }),
      ],
    });
  }

  it('keeps the units with the largest L1 norm and writes a model of the reported size', async () => {
    const model = mlp();
    await trainBriefly(model, 1);
    const file = await saveLayersModel(model, await tempDir());
    const weights = layerWeights(model);
    const analysis = await analyzeModel(await loadModel(file));
    const plan = planL1(analysis, { d1: 5, d2: 4 });
    assert.deepStrictEqual(plan.layers.map((l) => l.name), ['d1', 'd2']);
    assert.deepStrictEqual(plan.layers[0].kept, largest(columnL1(weights.get('d1')![0]), 5));
    assert.deepStrictEqual(plan.layers[1].kept, largest(columnL1(weights.get('d2')![0]), 4));
    for (const layer of plan.layers) {
      // Nothing is merged: every kept unit is alone, its output weights unscaled.
      assert.deepStrictEqual(layer.groups, layer.kept.map((u) => ({ representative: u, members: [u], scales: [1] })));
    }

    const reduced = await reduceModel(analysis, 0.95, await tempDir(), { plan, overwrite: true });
    const written = await loadFolderWithTfjs(reduced.outDir);
    assert.deepStrictEqual(writtenUnits(await readJson(path.join(reduced.outDir, 'model.json'))), { d1: 5, d2: 4, out: 2 });
    assert.strictEqual(reduced.report.totals.paramsAfter, written.countParams());
    assert.deepStrictEqual(reduced.report.layers.map((l) => [l.name, l.unitsAfter]), [['d1', 5], ['d2', 4]]);
    // The kept units' input weights are the original's columns, unchanged.
    const d1 = written.getLayer('d1').getWeights()[0].dataSync();
    const original = weights.get('d1')![0].data;
    plan.layers[0].kept.forEach((unit, k) => {
      for (let i = 0; i < 5; i++) assert.strictEqual(d1[i * 5 + k], original[i * 12 + unit]);
    });
    written.dispose();
    model.dispose();
  });

  it('drops units that only output a constant first, and the refit makes that exact', async () => {
    const model = mlp();
    await trainBriefly(model, 2);
    const weights = layerWeights(model);
    // Units 3, 7 and 10 of d1 get zero input weights and a positive bias: each outputs relu(b), a constant.
    const [kernel, bias] = weights.get('d1')!;
    for (const unit of [3, 7, 10]) {
      for (let i = 0; i < 5; i++) kernel.data[i * 12 + unit] = 0;
      bias.data[unit] = 0.5 + unit / 10;
    }
    setLayerWeights(model, weights);
    const file = await saveLayersModel(model, await tempDir());
    const loaded = await loadModel(file);
    const calibration = await loadCalibration(loaded.source.graph, { range: [-2, 2], samples: 256 }, file);
    const analysis = await analyzeModel(loaded, { calibration });
    const plan = planL1(analysis, { d1: 9 });
    assert.deepStrictEqual(plan.layers[0].kept, [0, 1, 2, 4, 5, 6, 8, 9, 11]);

    const probe = probeBatch([5], 64, 3);
    const refitted = await loadFolderWithTfjs((await reduceModel(analysis, 0.95, await tempDir(), { plan, calibration, overwrite: true })).outDir);
    assert.ok(maxRelDeviation(predict(refitted, probe), predict(model, probe)) < 1e-4);
    // Without the refit the constants are simply lost.
    const plain = await loadFolderWithTfjs((await reduceModel(analysis, 0.95, await tempDir(), { plan, overwrite: true })).outDir);
    assert.ok(maxRelDeviation(predict(plain, probe), predict(model, probe)) > 1e-2);
    tf.dispose([probe]);
    [refitted, plain, model].forEach((m) => m.dispose());
  });

  /** conv a (+BN) and conv b (+BN) meet in a residual Add; a head conv reads the sum. */
  function residual(): tf.LayersModel {
    const input = tf.input({ shape: [4, 4, 3] });
    const a = tf.layers.batchNormalization({ name: 'a_bn' }).apply(tf.layers.conv2d({ name: 'a', filters: 6, kernelSize: 1, kernelInitializer: init() }).apply(input)) as tf.SymbolicTensor;
    const relu = tf.layers.reLU({ name: 'a_relu' }).apply(a) as tf.SymbolicTensor;
    const b = tf.layers.batchNormalization({ name: 'b_bn' }).apply(tf.layers.conv2d({ name: 'b', filters: 6, kernelSize: 3, padding: 'same', kernelInitializer: init() }).apply(relu)) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'add' }).apply([a, b]) as tf.SymbolicTensor;
    const head = tf.layers.conv2d({ name: 'head', filters: 4, kernelSize: 1, activation: 'relu', kernelInitializer: init() }).apply(sum) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(head) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init() }).apply(pooled) as tf.SymbolicTensor });
  }

  it('keeps the same channels in every member of a residual group, scored over all members with BatchNorm folded', async () => {
    const model = residual();
    const weights = layerWeights(model);
    // BatchNorm scales that reorder the channels against the raw kernels' norms.
    const gammas = [0.1, 3, 0.2, 2, 0.05, 1];
    for (const bn of ['a_bn', 'b_bn']) weights.get(bn)![0].data.set(gammas);
    setLayerWeights(model, weights);
    const file = await saveLayersModel(model, await tempDir());
    const analysis = await analyzeModel(await loadModel(file));
    assert.strictEqual(analysis.summary.layers.find((l) => l.name === 'b')!.joint?.lead, 'a');
    // Folding: w·γ/√(σ² + ε) with the initial moving variance 1 and Keras' ε 1e-3.
    const fold = (unit: number) => gammas[unit] / Math.sqrt(1 + 1e-3);
    const scores = columnL1(weights.get('a')![0], fold).map((s, j) => s + columnL1(weights.get('b')![0], fold)[j]);
    const plan = planL1(analysis, { b: 3 });
    assert.deepStrictEqual(plan.layers.map((l) => [l.name, l.kept]), [['a', largest(scores, 3)], ['b', largest(scores, 3)]]);
    const reduced = await reduceModel(analysis, 0.95, await tempDir(), { plan, overwrite: true });
    const written = await loadFolderWithTfjs(reduced.outDir);
    assert.strictEqual(reduced.report.totals.paramsAfter, written.countParams());
    written.dispose();
    model.dispose();
  });

  it('refuses unknown and unreducible layers, impossible counts and disagreeing group members', async () => {
    const file = await saveLayersModel(residual(), await tempDir());
    const analysis = await analyzeModel(await loadModel(file));
    assert.throws(() => planL1(analysis, { nope: 2 }), /no layer "nope"/);
    assert.throws(() => planL1(analysis, { out: 1 }), /"out" is not reducible \(output layer/);
    assert.throws(() => planL1(analysis, { a: 0 }), /has 6 units, cannot keep 0/);
    assert.throws(() => planL1(analysis, { a: 7 }), /has 6 units, cannot keep 7/);
    assert.throws(() => planL1(analysis, { a: 2.5 }), /cannot keep 2.5/);
    assert.throws(() => planL1(analysis, { a: 3, b: 4 }), /reduced jointly with "a" and must keep the same units \(3, not 4\)/);
    const plan = { layers: [{ name: 'out', threshold: NaN, unitsBefore: 2, kept: [0], groups: [{ representative: 0, members: [0], scales: [1] }], dead: [] }] };
    await assert.rejects(reduceModel(analysis, 0.95, await tempDir(), { plan, overwrite: true }), /"out", which is not a reducible layer/);
  });
});
