/**
 * The CLI contract: `analyze --json` prints exactly the documented document, and
 * `verify` exits 1 when the reduced model deviates more than --tolerance (0 when within it);
 * retraining's --learning-rate and --batch-size reach the optimiser and are validated.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { AnalysisJson } from '../../../src/cli/format';
import { normalSamples } from '../../../src/core/data/random';
import { runCli } from '../../helpers/cli';
import { saveLayersModel, tempDir } from '../../helpers/models';
import { layerWeights, loadFolderWithTfjs, readJson, setLayerWeights, useCpu, writtenUnits } from '../../helpers/tfjs';
import { plantDuplicate } from '../../helpers/widen';

const LAYER_KEYS = ['name', 'type', 'units', 'clusters', 'reducible', 'reason', 'paramsBefore', 'paramsAfter', 'macsBefore', 'macsAfter', 'similarity', 'biasDominated'];

describe('CLI contract', function () {
  let root: string;
  let file: string;
  let params: number;

  before(async () => {
    await useCpu();
    root = await tempDir();
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv', inputShape: [5, 5, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 81 }) }),
        tf.layers.flatten({ name: 'flatten' }),
        tf.layers.dense({ name: 'hidden', units: 12, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 82 }), biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: 85 }) }),
        tf.layers.dropout({ name: 'dropout', rate: 0.1 }),
        tf.layers.dense({ name: 'out', units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 83 }) }),
      ],
    });
    const weights = layerWeights(model);
    plantDuplicate(weights.get('hidden')!, 0, 5, 3);
    setLayerWeights(model, weights);
    file = await saveLayersModel(model, path.join(root, 'model'));
    params = model.countParams();
    model.dispose();
  });

  it('analyze --json prints exactly {model, backend, threshold, layers[…], totals{paramsBefore, paramsAfter, ratio}}', async () => {
    const run = await runCli('analyze', file, '--json', '--threshold', '0.9', '--backend', 'cpu');
    assert.strictEqual(run.code, 0, run.err.join('\n'));
    assert.deepStrictEqual(run.err, []);
    assert.strictEqual(run.out.length, 1, 'one JSON document');
    const doc = JSON.parse(run.out[0]) as AnalysisJson;

    assert.deepStrictEqual(Object.keys(doc).sort(), ['backend', 'calibration', 'layers', 'model', 'threshold', 'totals']);
    assert.strictEqual(doc.model, file);
    assert.strictEqual(typeof doc.backend, 'string');
    assert.match(doc.backend, /cpu/);
    assert.strictEqual(doc.threshold, 0.9);

    assert.ok(Array.isArray(doc.layers));
    assert.deepStrictEqual(doc.layers.map((l) => l.name), ['conv', 'flatten', 'hidden', 'dropout', 'out']);
    for (const layer of doc.layers) {
      assert.deepStrictEqual(Object.keys(layer).sort(), [...LAYER_KEYS].sort(), `keys of ${layer.name}`);
      assert.strictEqual(typeof layer.name, 'string');
      assert.strictEqual(typeof layer.type, 'string');
      assert.ok(Number.isInteger(layer.units) && layer.units >= 0, `${layer.name}.units`);
      assert.ok(layer.clusters === null || Number.isInteger(layer.clusters), `${layer.name}.clusters`);
      assert.strictEqual(typeof layer.reducible, 'boolean');
      assert.ok(layer.reason === null || typeof layer.reason === 'string', `${layer.name}.reason`);
      for (const key of ['paramsBefore', 'paramsAfter', 'macsBefore', 'macsAfter'] as const) {
        assert.ok(Number.isFinite(layer[key]) && layer[key] >= 0, `${layer.name}.${key}`);
      }
    }
    const byName = Object.fromEntries(doc.layers.map((l) => [l.name, l]));
    assert.deepStrictEqual(
      { type: byName.hidden.type, units: byName.hidden.units, clusters: byName.hidden.clusters, reducible: byName.hidden.reducible, reason: byName.hidden.reason },
      { type: 'Dense', units: 12, clusters: 11, reducible: true, reason: null },
    );
    assert.strictEqual(byName.conv.type, 'Conv2D');
    assert.strictEqual(byName.conv.reducible, true);
    assert.strictEqual(byName.out.reducible, false);
    assert.strictEqual(byName.flatten.clusters, null);
    // Sizes follow the kept units: conv keeps `clusters` filters (3×3×1 kernels), hidden 11 units fed by 3·3 positions per filter.
    const filters = byName.conv.clusters;
    assert.ok(filters !== null, 'conv is analysed');
    assert.deepStrictEqual(
      [byName.conv.paramsBefore, byName.conv.paramsAfter, byName.hidden.paramsBefore, byName.hidden.paramsAfter, byName.out.paramsBefore, byName.out.paramsAfter],
      [9 * 4 + 4, 9 * filters + filters, 9 * 4 * 12 + 12, 9 * filters * 11 + 11, 12 * 2 + 2, 11 * 2 + 2],
    );
    assert.deepStrictEqual([byName.hidden.macsBefore, byName.hidden.macsAfter], [9 * 4 * 12, 9 * filters * 11]);
    assert.deepStrictEqual([byName.conv.macsBefore, byName.conv.macsAfter], [9 * 9 * 4, 9 * 9 * filters]);

    assert.deepStrictEqual(Object.keys(doc.totals).sort(), ['paramsAfter', 'paramsBefore', 'ratio']);
    assert.strictEqual(doc.totals.paramsBefore, params);
    assert.strictEqual(doc.totals.paramsBefore, doc.layers.reduce((s, l) => s + l.paramsBefore, 0));
    assert.strictEqual(doc.totals.paramsAfter, doc.layers.reduce((s, l) => s + l.paramsAfter, 0));
    assert.ok(doc.totals.paramsAfter < doc.totals.paramsBefore);
    assert.strictEqual(doc.totals.ratio, doc.totals.paramsAfter / doc.totals.paramsBefore);
  });

  it('verify exits 1 when the deviation exceeds --tolerance, and 0 when it is within', async () => {
    const lossy = path.join(root, 'lossy');
    const reduced = await runCli('reduce', file, '--out', lossy, '--threshold', '0.2', '--backend', 'cpu');
    assert.strictEqual(reduced.code, 0, reduced.err.join('\n'));
    const units = writtenUnits(await readJson(path.join(lossy, 'model.json')));
    assert.ok(units.hidden < 12, 'the lossy reduction merged units');
    const reducedFile = path.join(lossy, 'model.json');

    const strict = await runCli('verify', file, reducedFile, '--tolerance', '1e-6', '--backend', 'cpu');
    assert.strictEqual(strict.code, 1, strict.out.join('\n') + strict.err.join('\n'));
    assert.match(strict.out[strict.out.length - 1], /^FAILED/);

    const loose = await runCli('verify', file, reducedFile, '--tolerance', '1e9', '--backend', 'cpu');
    assert.strictEqual(loose.code, 0, loose.out.join('\n') + loose.err.join('\n'));
    assert.match(loose.out[loose.out.length - 1], /^OK/);
  });

  describe('retraining flags', () => {
    const ROWS = 16;
    let data: string[];

    before(async () => {
      const x = normalSamples(ROWS * 25, 91);
      const y = normalSamples(ROWS * 2, 92);
      const inputs = path.join(root, 'train-x.json');
      const targets = path.join(root, 'train-y.json');
      await fs.writeFile(inputs, JSON.stringify(Array.from({ length: ROWS }, (_, r) => Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => [x[r * 25 + i * 5 + j]])))));
      await fs.writeFile(targets, JSON.stringify(Array.from({ length: ROWS }, (_, r) => [y[2 * r], y[2 * r + 1]])));
      data = ['--train-inputs', inputs, '--train-targets', targets, '--val-inputs', inputs, '--val-targets', targets, '--tolerance', '1e9'];
    });

    /** The largest change of any weight between the condensed model and the same one retrained for one epoch. */
    async function largestStep(name: string, learningRate: string, batchSize: string): Promise<number> {
      const plain = path.join(root, `${name}-plain`);
      const retrained = path.join(root, `${name}-retrained`);
      assert.strictEqual((await runCli('reduce', file, '--out', plain, '--threshold', '0.9', '--backend', 'cpu')).code, 0);
      const run = await runCli('reduce', file, '--out', retrained, '--threshold', '0.9', '--backend', 'cpu', ...data, '--epochs', '1', '--rounds', '1', '--learning-rate', learningRate, '--batch-size', batchSize);
      assert.strictEqual(run.code, 0, run.out.join('\n') + run.err.join('\n'));
      assert.match(run.out[0], new RegExp(`learning rate ${learningRate}, batch size ${batchSize}\\.$`));
      const [before, after] = await Promise.all([loadFolderWithTfjs(plain), loadFolderWithTfjs(retrained)]);
      const a = before.getWeights().map((w) => w.dataSync());
      const b = after.getWeights().map((w) => w.dataSync());
      before.dispose();
      after.dispose();
      assert.deepStrictEqual(b.map((w) => w.length), a.map((w) => w.length));
      return Math.max(...a.map((w, i) => Math.max(...w.map((v, j) => Math.abs(v - b[i][j])))));
    }

    it('--learning-rate and --batch-size reach the optimiser', async () => {
      // One batch holding every row is one Adam step, which moves no weight by more than the learning rate…
      const oneStep = await largestStep('one-step', '0.01', String(ROWS));
      assert.ok(oneStep > 0.001 && oneStep <= 0.01 * (1 + 1e-4), `one step of 0.01 moved a weight by ${oneStep}`);
      // …while batches of one row are 16 steps: some weight moves further than one step can.
      const manySteps = await largestStep('many-steps', '0.01', '1');
      assert.ok(manySteps > 0.02, `16 steps of 0.01 moved no weight more than ${manySteps}`);
    });

    it('are validated, and refused without retraining', async () => {
      for (const [flag, value, problem] of [
        ['--learning-rate', '0', /--learning-rate must be a positive number/],
        ['--learning-rate', 'fast', /--learning-rate must be a positive number/],
        ['--batch-size', '2.5', /--batch-size must be a positive integer/],
        ['--batch-size', '0', /--batch-size must be a positive integer/],
      ] as const) {
        const run = await runCli('reduce', file, '--out', path.join(root, 'never'), '--backend', 'cpu', ...data, flag, value);
        assert.strictEqual(run.code, 2, `${flag} ${value}`);
        assert.match(run.err[0], problem);
      }
      const plain = await runCli('reduce', file, '--out', path.join(root, 'never'), '--batch-size', '8');
      assert.strictEqual(plain.code, 2);
      assert.match(plain.err[0], /--batch-size goes with reduce --train-inputs/);
      const analyze = await runCli('analyze', file, '--learning-rate', '0.1');
      assert.strictEqual(analyze.code, 2);
      assert.match(analyze.err[0], /--learning-rate goes with reduce --train-inputs/);
      assert.ok(USAGE_LINE.test((await runCli('--help')).out.join('\n')));
    });
  });
});

const USAGE_LINE = /\[--learning-rate X \(chosen\)\] \[--batch-size N \(chosen\)\]/;
