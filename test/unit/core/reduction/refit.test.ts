/**
 * The data-aware steps: the least-squares refit (against a float64 reference, and on the
 * combustion example against the plain merge), the forward evaluator against tfjs, similarity
 * measured on calibration data (against pre-activations tfjs computes), and bias-dominated layers.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { AnalysisJson } from '../../../../src/cli/format';
import { analyzeModel, loadModel } from '../../../../src/core/analyze';
import { Calibration, loadCalibration } from '../../../../src/core/data/calibration';
import { GraphEvaluator, isUnsupported, Value } from '../../../../src/core/compute/evaluator';
import { planMerge } from '../../../../src/core/reduction/merge';
import { reduceModel } from '../../../../src/core/reduce';
import { ridgeLeastSquares } from '../../../../src/core/reduction/refit';
import { cholesky, choleskyWithInverse, gramRows, invertLower, multiplyRows, solveSymmetric, transposeMatrix, typescriptProducts } from '../../../../src/core/compute/linalg';
import { onnxProducts } from '../../../../src/core/compute/engines';
import { normalSamples, uniformSamples } from '../../../../src/core/data/random';
import type { CondenseReport } from '../../../../src/core/reduction/report';
import { runCliText } from '../../../helpers/cli';
import { saveLayersModel, tempDir } from '../../../helpers/models';
import { layerWeights, loadFolderWithTfjs, readJson, setLayerWeights, useCpu } from '../../../helpers/tfjs';

const EXAMPLES = path.resolve(__dirname, '..', '..', '..', '..', 'examples');

/** Float64 reference: (AᶜᵀAᶜ + λI)·w = Aᶜᵀyᶜ by Gaussian elimination with partial pivoting, one output at a time. */
function referenceRidge(a: number[][], y: number[][], lambda: number): { w: number[][]; b: number[] } {
  const rows = a.length, width = a[0].length, out = y[0].length;
  const mx = Array.from({ length: width }, (_, i) => a.reduce((s, r) => s + r[i], 0) / rows);
  const my = Array.from({ length: out }, (_, o) => y.reduce((s, r) => s + r[o], 0) / rows);
  const ac = a.map((r) => r.map((v, i) => v - mx[i]));
  const w: number[][] = Array.from({ length: width }, () => new Array<number>(out).fill(0));
  for (let o = 0; o < out; o++) {
    const m = Array.from({ length: width }, (_, i) => [
      ...Array.from({ length: width }, (_, j) => ac.reduce((s, r) => s + r[i] * r[j], 0) + (i === j ? lambda : 0)),
      ac.reduce((s, r, k) => s + r[i] * (y[k][o] - my[o]), 0),
    ]);
    for (let c = 0; c < width; c++) {
      let p = c;
      for (let r = c + 1; r < width; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
      [m[c], m[p]] = [m[p], m[c]];
      for (let r = c + 1; r < width; r++) {
        const f = m[r][c] / m[c][c];
        for (let k = c; k <= width; k++) m[r][k] -= f * m[c][k];
      }
    }
    for (let r = width - 1; r >= 0; r--) {
      let s = m[r][width];
      for (let k = r + 1; k < width; k++) s -= m[r][k] * w[k][o];
      w[r][o] = s / m[r][r];
    }
  }
  const b = my.map((v, o) => v - mx.reduce((s, m, i) => s + m * w[i][o], 0));
  return { w, b };
}

function randomMatrix(rows: number, cols: number, seed: number): number[][] {
  const data = normalSamples(rows * cols, seed);
  return Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols)));
}

const cosine = (x: Float64Array | number[], y: Float64Array | number[]): number => {
  let xy = 0, xx = 0, yy = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return xy / Math.sqrt(xx * yy);
};

/** Relative mean squared error of a model folder's outputs against the original's, evaluated on `input`. */
async function relativeError(original: string, reduced: string, input: Value): Promise<number> {
  const outputs = async (file: string): Promise<Float64Array> => {
    const graph = (await loadModel(file)).source.graph;
    const y = await new GraphEvaluator(graph, input).output(graph.outputs[0]);
    assert.ok(!isUnsupported(y));
    return y.data;
  };
  const [a, b] = await Promise.all([outputs(original), outputs(reduced)]);
  let err = 0, sq = 0;
  a.forEach((v, i) => {
    err += (v - b[i]) ** 2;
    sq += v * v;
  });
  return err / sq;
}

describe('ridge least squares', () => {
  for (const [rows, width, label] of [[120, 9, 'normal equations'], [12, 30, 'dual (fewer rows than features)']] as const) {
    it(`matches a float64 Gaussian-elimination reference: ${label}`, async () => {
      const a = randomMatrix(rows, width, 7);
      const y = randomMatrix(rows, 3, 8).map((r, k) => r.map((v, o) => v * 0.1 + a[k][o] - 2 * a[k][(o + 1) % width] + o));
      const ridge = 1e-3;
      const fit = await ridgeLeastSquares(Float64Array.from(a.flat()), rows, width, Float64Array.from(y.flat()), 3, true, { ridge });
      const trace = a.reduce((s, r) => s + r.reduce((t, v, i) => t + (v - a.reduce((m, q) => m + q[i], 0) / rows) ** 2, 0), 0);
      const reference = referenceRidge(a, y, (ridge * trace) / width);
      reference.w.forEach((r, i) => r.forEach((v, o) => assert.ok(Math.abs(fit.weights[i * 3 + o] - v) < 1e-9 * (1 + Math.abs(v)), `w[${i}][${o}]`)));
      reference.b.forEach((v, o) => assert.ok(Math.abs(fit.intercept![o] - v) < 1e-9 * (1 + Math.abs(v)), `b[${o}]`));
    });
  }

  it('with a prior, fits the change from it: W = P + the ridge fit of Y − A·P (dual, fewer rows than features)', async () => {
    const [rows, width, ridge] = [12, 30, 1e-3];
    const a = randomMatrix(rows, width, 17);
    const prior = randomMatrix(width, 3, 18);
    const y = randomMatrix(rows, 3, 19);
    const residual = y.map((r, k) => r.map((v, o) => v - a[k].reduce((s, x, i) => s + x * prior[i][o], 0)));
    const fit = await ridgeLeastSquares(Float64Array.from(a.flat()), rows, width, Float64Array.from(y.flat()), 3, true, { ridge, prior: Float64Array.from(prior.flat()) });
    const trace = a.reduce((s, r) => s + r.reduce((t, v, i) => t + (v - a.reduce((m, q) => m + q[i], 0) / rows) ** 2, 0), 0);
    const reference = referenceRidge(a, residual, (ridge * trace) / width);
    reference.w.forEach((r, i) => r.forEach((v, o) => assert.ok(Math.abs(fit.weights[i * 3 + o] - (prior[i][o] + v)) < 1e-9 * (1 + Math.abs(v)), `w[${i}][${o}]`)));
    reference.b.forEach((v, o) => assert.ok(Math.abs(fit.intercept![o] - v) < 1e-9 * (1 + Math.abs(v)), `b[${o}]`));
  });

  it('recovers an exact linear map with a negligible ridge', async () => {
    const a = randomMatrix(200, 6, 3);
    const y = a.map((r) => [r[0] - 3 * r[5] + 0.5, 2 * r[2]]);
    const fit = await ridgeLeastSquares(Float64Array.from(a.flat()), 200, 6, Float64Array.from(y.flat()), 2, true, { ridge: 1e-12 });
    const expected = [[1, 0], [0, 0], [0, 2], [0, 0], [0, 0], [-3, 0]];
    expected.forEach((r, i) => r.forEach((v, o) => assert.ok(Math.abs(fit.weights[i * 2 + o] - v) < 1e-8)));
    assert.ok(Math.abs(fit.intercept![0] - 0.5) < 1e-8 && Math.abs(fit.intercept![1]) < 1e-8);
  });
});

describe('float64 products and solves', () => {
  const symmetricPositive = (d: number, seed: number): Float64Array => {
    const a = Float64Array.from(randomMatrix(d, d + 8, seed).flat());
    const m = gramRows(a, d, d + 8);
    for (let i = 0; i < d; i++) m[i * d + i] += 1e-3;
    return m;
  };
  const maxAbs = (a: Float64Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  it('inverts a lower-triangular matrix: L·L⁻¹ = I', () => {
    const d = 40;
    const l = cholesky(symmetricPositive(d, 11), d);
    const product = multiplyRows(l, d, transposeMatrix(invertLower(l, d), d, d), d, d);
    product.forEach((v, k) => assert.ok(Math.abs(v - (k % (d + 1) === 0 ? 1 : 0)) < 1e-9, `entry ${k}: ${v}`));
  });

  it('factors by halves as directly: the same L and L⁻¹ (order 300, three levels)', async () => {
    const d = 300;
    const m = symmetricPositive(d, 16);
    const { l, inverse } = await choleskyWithInverse(typescriptProducts, m, d);
    const direct = cholesky(m, d);
    assert.ok(maxAbs(l.map((v, i) => v - direct[i])) < 1e-10 * maxAbs(direct));
    const identity = multiplyRows(l, d, transposeMatrix(inverse, d, d), d, d);
    identity.forEach((v, k) => assert.ok(Math.abs(v - (k % (d + 1) === 0 ? 1 : 0)) < 1e-9, `entry ${k}: ${v}`));
  });

  for (const d of [30, 300]) {
    it(`solves a symmetric positive definite system of order ${d} (${d <= 128 ? 'substitution' : 'through L⁻¹ by halves'}) to float64 accuracy`, async () => {
      const m = symmetricPositive(d, 12);
      const k = 5;
      const x = Float64Array.from(randomMatrix(d, k, 13).flat());
      const bt = multiplyRows(transposeMatrix(x, d, k), k, m, d, d);
      const solved = await solveSymmetric(typescriptProducts, m, d, bt, k);
      const error = maxAbs(solved.map((v, i) => v - x[i]));
      assert.ok(error < 1e-8 * maxAbs(x), `largest error ${error}`);
    });
  }

  it("onnxruntime's double Gemm gives TypeScript's products (large enough to leave TypeScript)", async () => {
    const engine = await onnxProducts();
    assert.ok(engine, 'onnxruntime-node is a dev dependency: it must load here');
    const [n, m, d] = [70, 90, 200];
    const a = Float64Array.from(randomMatrix(n, d, 14).flat());
    const b = Float64Array.from(randomMatrix(m, d, 15).flat());
    const native = await engine.multiplyRows(a, n, b, m, d);
    const reference = multiplyRows(a, n, b, m, d);
    assert.ok(maxAbs(native.map((v, i) => v - reference[i])) < 1e-12 * d * maxAbs(reference));
    const gram = await engine.gramRows(a, n, d);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.strictEqual(gram[i * n + j], gram[j * n + i]);
    const fitNative = await ridgeLeastSquares(a, n, d, b.subarray(0, n * 3), 3, true, { engine });
    const fitTs = await ridgeLeastSquares(a, n, d, b.subarray(0, n * 3), 3, true);
    assert.ok(maxAbs(fitNative.weights.map((v, i) => v - fitTs.weights[i])) < 1e-8 * maxAbs(fitTs.weights));
  });
});

describe('forward evaluator', () => {
  before(useCpu);

  it('computes the small CNN (Conv2D, BatchNorm, pooling, Flatten) as tfjs does', async () => {
    const file = path.join(EXAMPLES, 'small-cnn', 'model.json');
    const images = await readJson<number[][][][]>(path.join(EXAMPLES, 'small-cnn', 'probe-inputs.json'));
    const x = tf.tensor4d(images);
    const tfModel = await loadFolderWithTfjs(path.dirname(file));
    const expected = (tfModel.predict(x) as tf.Tensor).dataSync();
    const graph = (await loadModel(file)).source.graph;
    const y = await new GraphEvaluator(graph, { shape: x.shape, data: Float64Array.from(x.dataSync()) }).output(graph.outputs[0]);
    assert.ok(!isUnsupported(y));
    y.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-4, `output ${i}: ${v} vs ${expected[i]}`));
    tf.dispose([x]);
    tfModel.dispose();
  });
});

describe('data-aware merge (refit) on the combustion example', () => {
  it('cuts the plain merge\'s held-out error at γ 0.95 by a large factor', async () => {
    const file = path.join(EXAMPLES, 'combustion-mlp', 'model.json');
    const model = await loadModel(file);
    // Calibration: generated in the standardised inputs' range; held out: the example's probe inputs (real states).
    const calibration = await loadCalibration(model.source.graph, { range: [-1.8, 1.8], samples: 2048 }, file);
    const probe = await readJson<number[][]>(path.join(EXAMPLES, 'combustion-mlp', 'probe-inputs.json'));
    const heldOut: Value = { shape: [probe.length, probe[0].length], data: Float64Array.from(probe.flat()) };
    const analysis = await analyzeModel(model);
    const dir = await tempDir();
    const plain = await reduceModel(analysis, 0.95, path.join(dir, 'plain'));
    const refit = await reduceModel(analysis, 0.95, path.join(dir, 'refit'), { calibration });
    assert.strictEqual(plain.report.merge, 'plain');
    assert.strictEqual(refit.report.merge, 'refit');
    assert.deepStrictEqual(refit.plan.layers.map((l) => l.kept.length), plain.plan.layers.map((l) => l.kept.length));
    assert.ok(refit.report.refits!.every((r) => r.skipped === null), JSON.stringify(refit.report.refits));
    const plainError = await relativeError(file, plain.mainFile, heldOut);
    const refitError = await relativeError(file, refit.mainFile, heldOut);
    assert.ok(refitError * 5 <= plainError, `refit ${refitError.toExponential(2)} vs plain ${plainError.toExponential(2)}`);
    const outputs = refit.report.refitOutputError!;
    assert.ok(outputs.fit < outputs.plain, JSON.stringify(outputs));
  });

  it('writes the refit only when it beats the plain merge on held-out calibration samples, else exactly the plain merge', async () => {
    const file = path.join(EXAMPLES, 'combustion-mlp', 'model.json');
    const model = await loadModel(file);
    const analysis = await analyzeModel(model);
    const dir = await tempDir();
    const plain = await reduceModel(analysis, 0.9, path.join(dir, 'plain'));
    const plainWeights = await fs.readFile(path.join(plain.outDir, 'group1-shard1of1.bin'));
    // From too few samples to fit anything (every consumer skipped) to plenty.
    for (const samples of [6, 24, 400]) {
      const calibration = await loadCalibration(model.source.graph, { range: [-1.8, 1.8], samples, seed: 9 }, file);
      const written = await reduceModel(analysis, 0.9, path.join(dir, `refit-${samples}`), { calibration });
      const { merge, refitOutputError, refits } = written.report;
      assert.ok(refitOutputError, `${samples} samples: the outputs are checked`);
      assert.strictEqual(merge, refitOutputError.fit < refitOutputError.plain ? 'refit' : 'plain', `${samples} samples: ${JSON.stringify(refitOutputError)}`);
      if (refits!.every((r) => r.skipped !== null)) assert.strictEqual(merge, 'plain', `${samples} samples: nothing fitted`);
      if (merge === 'plain') assert.ok(plainWeights.equals(await fs.readFile(path.join(written.outDir, 'group1-shard1of1.bin'))), `${samples} samples: the plain merge is written`);
    }
  });
});

describe('similarity measured on calibration data', () => {
  before(useCpu);

  /** Dense → BatchNorm → ReLU → Dense and Conv2D (stride 2, same padding) → Flatten → Dense, with non-trivial BatchNorm statistics. */
  async function build(dir: string): Promise<{ file: string; model: tf.LayersModel }> {
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const input = tf.input({ shape: [6, 6, 2] });
    const conv = tf.layers.conv2d({ name: 'conv', filters: 5, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(1), biasInitializer: tf.initializers.randomNormal({ stddev: 0.3, seed: 2 }) }).apply(input) as tf.SymbolicTensor;
    const relu = tf.layers.activation({ name: 'relu0', activation: 'relu' }).apply(conv) as tf.SymbolicTensor;
    const flat = tf.layers.flatten({ name: 'flatten' }).apply(relu) as tf.SymbolicTensor;
    const dense = tf.layers.dense({ name: 'dense', units: 7, kernelInitializer: init(3) }).apply(flat) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(dense) as tf.SymbolicTensor;
    const act = tf.layers.activation({ name: 'relu1', activation: 'relu' }).apply(bn) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init(4) }).apply(act) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const weights = layerWeights(model);
    const [gamma, beta] = [normalSamples(7, 5), normalSamples(7, 6)];
    weights.set('bn', [
      { shape: [7], data: gamma.map((v) => 1 + 0.3 * v) },
      { shape: [7], data: beta },
      { shape: [7], data: normalSamples(7, 7) },
      { shape: [7], data: uniformSamples(7, 0.5, 2, 8) },
    ]);
    setLayerWeights(model, weights);
    return { file: await saveLayersModel(model, dir), model };
  }

  it('equals the cosine of pre-activations computed directly (tfjs) over the calibration inputs', async () => {
    const dir = await tempDir();
    const { file, model } = await build(dir);
    const samples = 64;
    const data = uniformSamples(samples * 72, -1, 1, 11);
    const dataFile = path.join(dir, 'calibration.json');
    const rows = Array.from({ length: samples }, (_, s) => Array.from({ length: 6 }, (_, y) => Array.from({ length: 6 }, (_, x) => [0, 1].map((c) => data[((s * 6 + y) * 6 + x) * 2 + c]))));
    await fs.writeFile(dataFile, JSON.stringify(rows));
    const loaded = await loadModel(file);
    const calibration: Calibration = await loadCalibration(loaded.source.graph, { file: dataFile }, file);
    const analysis = await analyzeModel(loaded, { calibration });

    const x = tf.tensor4d(rows);
    for (const [layer, through] of [['conv', 'conv'], ['dense', 'bn']] as const) {
      const summary = analysis.summary.layers.find((l) => l.name === layer)!;
      assert.strictEqual(summary.similarity, 'data');
      // Pre-activations straight from tfjs: the conv output (samples × positions per filter), BatchNorm's output for dense.
      const probe = tf.model({ inputs: model.inputs, outputs: model.getLayer(through).output });
      const z = probe.predict(x) as tf.Tensor;
      const units = z.shape[z.shape.length - 1];
      const values = z.dataSync();
      const columns = Array.from({ length: units }, (_, j) => Array.from({ length: values.length / units }, (_, r) => values[r * units + j]));
      const { vectors } = analysis.details.get(layer)!;
      for (let i = 0; i < units; i++) {
        for (let j = 0; j < units; j++) {
          const ours = cosine(vectors.rows.subarray(i * vectors.d, (i + 1) * vectors.d), vectors.rows.subarray(j * vectors.d, (j + 1) * vectors.d));
          assert.ok(Math.abs(ours - cosine(columns[i], columns[j])) < 1e-4, `${layer} units ${i}, ${j}: ${ours} vs ${cosine(columns[i], columns[j])}`);
        }
      }
      tf.dispose([z]);
    }
    x.dispose();
  });
});

describe('bias-dominated layers', () => {
  let file: string;

  before(async () => {
    await useCpu();
    const dir = await tempDir();
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ name: 'biased', inputShape: [4], units: 16, activation: 'tanh', kernelInitializer: tf.initializers.randomNormal({ stddev: 0.05, seed: 1 }), biasInitializer: tf.initializers.randomUniform({ minval: 3, maxval: 5, seed: 2 }) }),
        tf.layers.dense({ name: 'out', units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      ],
    });
    file = await saveLayersModel(model, dir);
  });

  it('are flagged and not merged without data, with the weight-only cosine beside them', async () => {
    const analysis = await analyzeModel(await loadModel(file));
    const layer = analysis.summary.layers.find((l) => l.name === 'biased')!;
    assert.ok(layer.biasDominance, 'flagged');
    assert.ok(layer.biasDominance.medianBias > 2 * layer.biasDominance.medianWeightNorm);
    assert.strictEqual(layer.biasDominance.weightOnly.n, 16);
    assert.strictEqual(layer.reducible, false);
    assert.match(layer.reason!, /bias dominates/);
    // The bias-appended cosine would merge almost everything; the plan leaves the layer alone.
    assert.ok(layer.dendrogram!.sim[0] > 0.95);
    assert.deepStrictEqual(planMerge(analysis, 0.95).layers, []);
  });

  it('are reduced when allowed explicitly, or measured on data when it is given', async () => {
    const model = await loadModel(file);
    const allowed = await analyzeModel(model, { allowBiasDominated: true });
    assert.strictEqual(allowed.summary.layers[0].reducible, true);
    assert.ok(allowed.summary.layers[0].biasDominance);
    const calibration = await loadCalibration(model.source.graph, { range: [-2, 2], samples: 256 }, file);
    const measured = await analyzeModel(model, { calibration });
    assert.strictEqual(measured.summary.layers[0].reducible, true);
    assert.strictEqual(measured.summary.layers[0].similarity, 'data');
    assert.strictEqual(measured.summary.layers[0].biasDominance, null);
  });

  it('CLI: flags, the similarity column and refit on reduce', async () => {
    const table = await runCliText('analyze', file);
    assert.strictEqual(table.code, 0);
    assert.match(table.out, /bias-dominated: weight-only cosine gives \d+ clusters/);
    const json = JSON.parse((await runCliText('analyze', file, '--json', '--calibration-range', '-2,2', '--calibration-samples', '300')).out) as AnalysisJson;
    assert.strictEqual(json.calibration, '300 uniform samples in [-2, 2]');
    assert.strictEqual(json.layers[0].similarity, 'data');
    assert.strictEqual(json.layers[0].biasDominated, false);
    const dir = await tempDir();
    const dataFile = path.join(dir, 'inputs.csv');
    await fs.writeFile(dataFile, ['a,b,c,d', ...Array.from({ length: 100 }, (_, i) => [i % 7, i % 5, (i % 3) - 1, Math.sin(i)].map((v) => (v / 3).toFixed(4)).join(','))].join('\n'));
    const reduced = await runCliText('reduce', file, '--out', path.join(dir, 'out'), '--calibration', dataFile, '--threshold', '0.9');
    assert.strictEqual(reduced.code, 0, reduced.err);
    assert.match(reduced.out, /refitted by least squares on 100 rows of/);
    const report = await readJson<CondenseReport>(path.join(dir, 'out', 'condense-report.json'));
    assert.strictEqual(report.merge, 'refit');
    assert.strictEqual(report.refits?.length, 1);
    const allowed = await runCliText('analyze', file, '--allow-bias-dominated', '--json');
    assert.strictEqual((JSON.parse(allowed.out) as AnalysisJson).layers[0].reducible, true);
    assert.strictEqual((await runCliText('analyze', file, '--calibration', dataFile, '--calibration-range', '0,1')).code, 2);
    assert.strictEqual((await runCliText('analyze', file, '--calibration-samples', '10')).code, 2);
    const wrong = await runCliText('analyze', file, '--calibration', path.join(EXAMPLES, 'small-cnn', 'probe-inputs.json'));
    assert.strictEqual(wrong.code, 2);
    assert.match(wrong.err, /the model takes \[4\]/);
  });
});
