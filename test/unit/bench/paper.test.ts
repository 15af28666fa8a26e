/**
 * Tiny versions of the paper benchmark's code paths (bench/paper/): the chemistry generator against
 * properties of its implicit solver, the .npy writer against the product's reader, the IDX reader,
 * the SVG plot writer, and one short run of the experiment runner on an MLP and on a
 * MobileNetV2-style CNN (condensation and the L1 baseline side by side, retrained on wasm).
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { gzipSync } from 'zlib';
import * as tf from '@tensorflow/tfjs';
import { advance, chemistryStep, elements, implicitResidual, makeChemistryData, OUTPUT_NAMES, STATE_SIZE } from '../../../bench/paper/chemistry';
import { combustionMlp } from '../../../bench/paper/combustion';
import { npyBytes, saveLayersModel } from '../../../bench/paper/common';
import { ExperimentResult, Measured, runExperiment } from '../../../bench/paper/experiment';
import { roundsTable, sizeErrorPlot } from '../../../bench/paper/figures';
import { mobileNetV2, parseIdx } from '../../../bench/paper/fashion';
import { linePlot, ticks } from '../../../bench/paper/svgPlot';
import { readDataFile } from '../../../src/core/codecs/dataFile';
import { normalSamples } from '../../../src/core/data/random';
import { loadModel } from '../../../src/core/analyze';
import { InputError } from '../../../src/core/model/errors';
import { findPython, pytorchTrainer } from '../../../src/core/train/pytorchTrainer';
import { tempDir } from '../../helpers/models';
import { onWasmBackend } from '../../helpers/tfjs';

const ATMOSPHERE = 101325;

/** Mass fractions H2, O2, H2O, H, O, OH, then T. */
const state = (...values: number[]) => Float64Array.from(values);

describe('paper benchmark: chemistry generator', () => {
  const hot = state(0.02, 0.2, 0.05, 1e-4, 1e-4, 1e-4, 2200);
  const cold = state(0.02, 0.2, 0.05, 1e-7, 1e-7, 1e-7, 1000);

  it('conserves mass and elements over a time step (backward Euler keeps linear invariants)', () => {
    for (const initial of [hot, cold]) {
      const after = chemistryStep(initial, 2 * ATMOSPHERE);
      const [hBefore, oBefore] = elements(initial);
      const [hAfter, oAfter] = elements(after);
      assert.ok(Math.abs(hAfter - hBefore) < 1e-9 * hBefore, `H atoms ${hBefore} → ${hAfter}`);
      assert.ok(Math.abs(oAfter - oBefore) < 1e-9 * oBefore, `O atoms ${oBefore} → ${oAfter}`);
      const mass = (s: Float64Array) => s.subarray(0, STATE_SIZE - 1).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(mass(after) - mass(initial)) < 1e-12);
    }
  });

  it('solves the implicit step: the backward-Euler residual vanishes', () => {
    const h = 1e-8;
    const next = advance(cold, ATMOSPHERE, h);
    const residual = implicitResidual(next, cold, ATMOSPHERE, h);
    residual.forEach((r, i) => assert.ok(Math.abs(r) < (i === STATE_SIZE - 1 ? 1e-8 : 1e-13), `component ${i}: ${r}`));
    // The unsolved initial guess is far from a solution, so the check can fail.
    assert.ok(Math.abs(implicitResidual(cold, cold, ATMOSPHERE, 1e-6)[STATE_SIZE - 1]) > 1e-6);
  });

  it('is stiff: a hot state reacts within the step while a cold one barely moves, and radicals stay non-negative', () => {
    const dT = (s: Float64Array) => chemistryStep(s, ATMOSPHERE)[STATE_SIZE - 1] - s[STATE_SIZE - 1];
    assert.ok(Math.abs(dT(hot)) > 1000 * Math.abs(dT(cold)), `hot ΔT ${dT(hot)}, cold ΔT ${dT(cold)}`);
    for (const v of chemistryStep(hot, ATMOSPHERE).subarray(0, STATE_SIZE - 1)) assert.ok(v >= -1e-12);
  });

  it('generates the same data for the same seed, and other data for another', () => {
    const [a, b, c] = [makeChemistryData(4, 9), makeChemistryData(4, 9), makeChemistryData(4, 10)];
    assert.deepStrictEqual(a, b);
    assert.notDeepStrictEqual(a.inputs, c.inputs);
    assert.strictEqual(a.outputs.length, 4 * OUTPUT_NAMES.length);
  });
});

describe('paper benchmark: files and figures', () => {
  it('writes .npy files the product reads back exactly', async () => {
    const file = path.join(await tempDir(), 'x.npy');
    const data = normalSamples(3 * 5 * 2, 1);
    await fs.writeFile(file, npyBytes(data, [3, 5, 2]));
    const read = await readDataFile(file);
    assert.deepStrictEqual(read.shape, [3, 5, 2]);
    assert.deepStrictEqual(read.data, data);
    await fs.writeFile(file, npyBytes([1, 2, 3], [3]));
    assert.deepStrictEqual((await readDataFile(file)).shape, [3]);
    assert.throws(() => npyBytes([1, 2], [3]), /holds 3 values, the data 2/);
  });

  it('reads IDX images and labels (gzipped or not) and refuses other files', () => {
    const header = (magic: number, ...dims: number[]) => {
      const b = Buffer.alloc(4 + 4 * dims.length);
      b.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
      return b;
    };
    const images = Buffer.concat([header(0x803, 3, 2, 2), Buffer.from([0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8])]);
    const labels = Buffer.concat([header(0x801, 3), Buffer.from([7, 0, 9])]);
    const set = parseIdx(gzipSync(images), labels, 2);
    assert.strictEqual(set.count, 2);
    assert.deepStrictEqual(Array.from(set.labels), [7, 0]);
    assert.deepStrictEqual(Array.from(set.images.subarray(0, 4)), Array.from(Float32Array.of(0, 1, 0.2, 0.4)));
    assert.throws(() => parseIdx(labels, labels), /not an IDX image file/);
    assert.throws(() => parseIdx(images, Buffer.concat([header(0x801, 2), Buffer.from([1, 2])])), /3 images but 2 labels/);
    assert.throws(() => parseIdx(images.subarray(0, 20), labels), /truncated/);
  });

  it('draws one path and its points per series, on log axes too', () => {
    const svg = linePlot({
      title: 'size <vs> error',
      xLabel: 'params %',
      yLabel: 'MSE',
      logY: true,
      reverseX: true,
      series: [
        { label: 'condensation', color: '#1f77b4', points: [[100, 1e-3], [50, 2e-3], [20, 1e-2]] },
        { label: 'L1', color: '#d62728', dashed: true, points: [[100, 1e-3], [50, 5e-3]] },
      ],
      references: [{ y: 1.1e-3, label: 'tolerance' }],
    });
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.strictEqual(svg.match(/<path /g)?.length, 2);
    assert.strictEqual(svg.match(/<circle /g)?.length, 5);
    assert.ok(svg.includes('size &lt;vs&gt; error'));
    assert.ok(svg.includes('stroke-dasharray="6 4"'));
    assert.throws(() => linePlot({ title: 't', xLabel: 'x', yLabel: 'y', logY: true, series: [{ label: 's', color: 'red', points: [[1, 0]] }] }), /cannot be shown on a log axis/);
    assert.deepStrictEqual(ticks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});

describe('paper benchmark: the experiment runner (tiny runs)', () => {
  const wasm = onWasmBackend();

  /** Both sides reduce each round to the same units and size; every number is finite. */
  function checkSides(result: ExperimentResult, rounds: number): void {
    assert.strictEqual(result.condensation.length, rounds);
    assert.strictEqual(result.l1.length, rounds);
    result.condensation.forEach((c, i) => {
      const l1 = result.l1[i];
      assert.deepStrictEqual(l1.units, c.units);
      assert.strictEqual(l1.params, c.params);
      assert.ok(c.ratio < 1, `round ${c.round}: ratio ${c.ratio}`);
      for (const r of [c, l1]) for (const m of [r.reduced, r.retrained]) assert.ok(Number.isFinite(m.value) && Number.isFinite(m.change));
    });
    assert.ok(result.condensation[rounds - 1].params <= result.condensation[0].params);
  }

  it('runs condensation and the L1 baseline on a small GELU MLP (refit on calibration data, retraining)', async () => {
    const dir = await tempDir();
    const data = makeChemistryData(72, 4);
    const [inputs, outputs] = [data.inputs.length / data.count, data.outputs.length / data.count];
    // Scaled to order one, as the benchmark standardises them.
    const x = tf.tensor2d(Float32Array.from(data.inputs, (v, i) => (i % inputs === 0 ? v / 1000 : i % inputs === 1 ? v - 5 : v * 10)), [72, inputs]);
    const y = tf.tensor2d(Float32Array.from(data.outputs, (v, i) => (i % outputs === outputs - 1 ? v / 100 : v * 10)), [72, outputs]);
    const model = combustionMlp(tf, [24, 12]);
    model.setWeights(model.getWeights().map((w, i) => tf.mul(w, i % 2 === 0 ? 3e4 : 0)));
    const modelFile = await saveLayersModel(tf, model, path.join(dir, 'original'));
    model.dispose();
    const calibration = path.join(dir, 'calibration.npy');
    await fs.writeFile(calibration, npyBytes(x.slice(0, 32).dataSync(), [32, inputs]));
    const [train, val] = [{ inputs: x.slice(0, 48), targets: y.slice(0, 48) }, { inputs: x.slice(48), targets: y.slice(48) }];
    const result = await runExperiment(wasm.backend, {
      modelFile, metric: 'mse', train, val, calibrationFile: calibration,
      thresholds: [0.6, 0.4], rounds: 2, epochs: 1, batchSize: 16, learningRate: 1e-3, tolerance: 0.1, seed: 1, workDir: path.join(dir, 'rounds'),
    });
    tf.dispose([x, y, train.inputs, train.targets, val.inputs, val.targets]);
    checkSides(result, 2);
    assert.strictEqual(result.metric, 'mse');
    assert.ok(result.condensation[0].refitted > 0, 'the next layers were refitted');
    assert.deepStrictEqual(result.condensation.map((r) => r.threshold), [0.6, 0.4]);
    await fs.access(path.join(dir, 'rounds', 'l1-2', 'model.json'));
    // The report's table and figure come from these results.
    const table = roundsTable(result);
    assert.strictEqual(table.split('\n').filter((l) => /^\| [12] \|/.test(l)).length, 2);
    assert.ok(table.includes('Units per layer, in the order hidden1, hidden2.'));
    const figure = sizeErrorPlot(result, { name: 'x.svg', title: 't', y: (v) => v, yLabel: 'MSE', logY: true });
    assert.strictEqual(figure.match(/<path /g)?.length, 4);
  });

  /** A small MobileNetV2-style CNN saved as TF.js, 40 random 8×8 images with 3 classes, and 16 of them as calibration data. */
  const smallMobileNetCase = async () => {
    const dir = await tempDir();
    const shape = { imageSize: 8, channels: 1, stem: 6, blocks: [[1, 4, 1], [3, 4, 1]] as [number, number, number][], head: 8, classes: 3 };
    const model = mobileNetV2(tf, shape, 3);
    const modelFile = await saveLayersModel(tf, model, path.join(dir, 'original'));
    model.dispose();
    const images = tf.tensor4d(normalSamples(40 * 64, 5), [40, 8, 8, 1]);
    const labels = tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3));
    const calibration = path.join(dir, 'calibration.npy');
    await fs.writeFile(calibration, npyBytes(images.slice(0, 16).dataSync(), [16, 8, 8, 1]));
    return { dir, modelFile, images, labels, calibration };
  };

  it('runs both sides on a MobileNetV2-style CNN (residual groups, depthwise gradients on wasm)', async () => {
    const { dir, modelFile, images, labels, calibration } = await smallMobileNetCase();
    const result = await runExperiment(wasm.backend, {
      modelFile, metric: 'accuracy', train: { inputs: images, targets: labels }, val: { inputs: images, targets: labels }, calibrationFile: calibration,
      thresholds: [0.3], rounds: 1, epochs: 1, batchSize: 8, learningRate: 1e-3, tolerance: 0.01, seed: 2, workDir: path.join(dir, 'rounds'),
    });
    tf.dispose([images, labels]);
    checkSides(result, 1);
    const units = result.condensation[0].units;
    // Block 1's and block 2's projections meet in a residual Add: one group, the same channels kept.
    assert.strictEqual(units.block1_project, units.block2_project);
    assert.ok(Object.keys(units).includes('stem'));
  });

  it('retrains both sides and the control with the PyTorch trainer, writing each through the format writer', async function () {
    let found;
    try {
      found = await findPython(process.env.CONDENSE_PYTHON, 'cpu');
    } catch (e) {
      if (e instanceof InputError && /has no (torch|numpy)|not found/.test(e.problem)) this.skip();
      throw e;
    }
    const { dir, modelFile, images, labels, calibration } = await smallMobileNetCase();
    const trainer = await pytorchTrainer({ python: found.python, device: 'cpu', workers: 1 });
    const progress: (Measured | null)[] = [];
    try {
      const result = await runExperiment(wasm.backend, {
        modelFile, metric: 'accuracy', train: { inputs: images, targets: labels }, val: { inputs: images, targets: labels }, calibrationFile: calibration,
        thresholds: [0.3], rounds: 1, epochs: 2, batchSize: 8, learningRate: 1e-2, tolerance: 0.01, seed: 2, workDir: path.join(dir, 'rounds'), trainer,
        onProgress: async (partial) => void progress.push(partial.control),
      });
      checkSides(result, 1);
      // The round is saved before the control runs, so a run stopped there keeps it.
      assert.deepStrictEqual(progress.map((c) => c === null), [true, false]);
      for (const side of ['condensation-1', 'l1-1', 'control']) {
        const trained = await loadModel(path.join(dir, 'rounds', side, 'model.json'));
        const before = await loadModel(path.join(dir, 'rounds', side === 'control' ? '../original' : `${side}-reduced`, 'model.json'));
        const kernel = (m: typeof trained) => m.source.graph.layers.find((l) => l.name === 'head')!.weights.get('kernel')!.data;
        assert.notDeepStrictEqual(kernel(trained), kernel(before), `${side}: the written weights are the trained ones`);
      }
    } finally {
      tf.dispose([images, labels]);
      await trainer.dispose();
    }
  });
});
