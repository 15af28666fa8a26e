/**
 * The automatic threshold search. On the shipped examples the chosen point meets the
 * tolerance on the validation set — re-checked independently with the written model run by tfjs — is
 * smaller than the original and lies on the curve; then the CLI's flags and usage errors.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../../src/core/analyze';
import { loadBackend } from '../../../src/core/compute/backend';
import { autoReduce, CUTS_PER_LAYER, cutPoints } from '../../../src/core/auto';
import { loadCalibration } from '../../../src/core/data/calibration';
import { GraphEvaluator, isUnsupported } from '../../../src/core/compute/evaluator';
import { normalSamples, uniformSamples } from '../../../src/core/data/random';
import { reduceModel } from '../../../src/core/reduce';
import { runCliText } from '../../helpers/cli';
import { saveLayersModel, tempDir } from '../../helpers/models';
import { loadFolderWithTfjs, predict, readJson, useCpu } from '../../helpers/tfjs';
import { widenModel } from '../../helpers/widen';
import { AutoResult, CondenseReport } from '../../../src/core/reduction/report';
import { loadLabelledData } from '../../../src/core/data/validation';
import { estimate } from '../../../src/core/estimate';

const EXAMPLES = path.resolve(__dirname, '..', '..', '..', 'examples');
const COMBUSTION = path.join(EXAMPLES, 'combustion-mlp', 'model.json');
const CNN = path.join(EXAMPLES, 'small-cnn', 'model.json');

/** The original model's outputs on nested-array inputs, by condense's evaluator. */
async function originalOutputs(file: string, inputs: unknown[]): Promise<{ y: Float64Array; width: number }> {
  const { graph } = (await loadModel(file)).source;
  const flat = Float64Array.from(inputs.flat(3) as number[]);
  const shape = [inputs.length, ...(graph.byName.get(graph.inputs[0])!.outputShape! as number[])];
  const y = await new GraphEvaluator(graph, { shape, data: flat }).output(graph.outputs[0]);
  assert.ok(!isUnsupported(y));
  return { y: y.data, width: y.data.length / inputs.length };
}

/** The written model's outputs, run by tfjs (independent of the engine's evaluator). */
async function writtenOutputs(folder: string, inputs: unknown[]): Promise<Float32Array> {
  const model = await loadFolderWithTfjs(folder);
  const x = tf.tensor(inputs as number[][]);
  const y = model.predict(x) as tf.Tensor;
  const data = y.dataSync() as Float32Array;
  tf.dispose([x, y]);
  model.dispose();
  return data;
}

const mse = (y: ArrayLike<number>, t: number[][]): number => t.flat().reduce((s, v, i) => s + (y[i] - v) ** 2, 0) / y.length;

function accuracy(y: ArrayLike<number>, labels: number[]): number {
  const width = y.length / labels.length;
  return labels.filter((label, s) => {
    let best = 0;
    for (let c = 1; c < width; c++) if (y[s * width + c] > y[s * width + best]) best = c;
    return best === label;
  }).length / labels.length;
}

function assertOnCurve(result: AutoResult): void {
  assert.ok(result.chosen, 'a point meets the tolerance');
  assert.ok(result.curve.includes(result.chosen));
  assert.ok(result.chosen.meets && result.chosen.change <= result.tolerance);
  assert.ok(result.chosen.paramsRatio < 1, `smaller than the original: ${result.chosen.paramsRatio}`);
  assert.ok(result.curve.length <= 60);
  // Nothing on the curve within the tolerance is smaller than the chosen point.
  for (const p of result.curve) if (p.meets) assert.ok(p.paramsAfter >= result.chosen.paramsAfter);
}

describe('automatic thresholds', function () {
  let dir: string;
  /** Combustion validation set: states in the standardised inputs' range, the original's outputs plus 5 % noise as targets. */
  let regression: { inputs: number[][]; targets: number[][]; inputsFile: string; targetsFile: string };
  /** Small CNN: the probe images, the original's argmax as labels. */
  let classes: { inputs: unknown[]; labels: number[]; inputsFile: string; targetsFile: string };

  before(async () => {
    await useCpu();
    dir = await tempDir();
    const u = uniformSamples(400 * 6, -1.8, 1.8, 21);
    const inputs = Array.from({ length: 400 }, (_, r) => Array.from(u.subarray(r * 6, (r + 1) * 6)));
    const { y, width } = await originalOutputs(COMBUSTION, inputs);
    const rms = Math.sqrt(y.reduce((s, v) => s + v * v, 0) / y.length);
    const noise = normalSamples(y.length, 22);
    const targets = inputs.map((_, r) => Array.from({ length: width }, (_, c) => y[r * width + c] + 0.05 * rms * noise[r * width + c]));
    regression = { inputs, targets, inputsFile: path.join(dir, 'val-x.json'), targetsFile: path.join(dir, 'val-y.json') };
    await fs.writeFile(regression.inputsFile, JSON.stringify(inputs));
    await fs.writeFile(regression.targetsFile, JSON.stringify(targets));

    const images = await readJson<unknown[]>(path.join(EXAMPLES, 'small-cnn', 'probe-inputs.json'));
    const out = await originalOutputs(CNN, images);
    const labels = images.map((_, s) => {
      let best = 0;
      for (let c = 1; c < out.width; c++) if (out.y[s * out.width + c] > out.y[s * out.width + best]) best = c;
      return best;
    });
    classes = { inputs: images, labels, inputsFile: path.join(EXAMPLES, 'small-cnn', 'probe-inputs.json'), targetsFile: path.join(dir, 'labels.json') };
    await fs.writeFile(classes.targetsFile, JSON.stringify(labels));
  });

  it('offers at most CUTS_PER_LAYER thresholds per layer, descending, in (0, 1)', async () => {
    const analysis = await analyzeModel(await loadModel(COMBUSTION));
    for (const layer of analysis.summary.layers.filter((l) => l.reducible)) {
      const cuts = cutPoints(layer);
      assert.ok(cuts.length > 0 && cuts.length <= CUTS_PER_LAYER, `${layer.name}: ${cuts.length}`);
      cuts.forEach((c, i) => assert.ok(c > 0 && c < 1 && (i === 0 || c < cuts[i - 1])));
    }
  });

  it('regression (combustion, tolerance 0.1): the written model meets the MSE bound, smaller than the original', async () => {
    const model = await loadModel(COMBUSTION);
    const analysis = await analyzeModel(model);
    const validation = await loadLabelledData(model.source.graph, regression.inputsFile, regression.targetsFile);
    const result = await autoReduce(analysis, { tolerance: 0.1, validation });
    assert.strictEqual(result.metric, 'mse');
    assert.strictEqual(result.runner, 'engine');
    assertOnCurve(result);
    assert.ok(result.chosen!.paramsRatio < 0.5, `ratio ${result.chosen!.paramsRatio}`);

    const written = await reduceModel(analysis, 1, path.join(dir, 'combustion'), { overrides: result.chosen!.thresholds, auto: result });
    assert.strictEqual(written.estimate.totals.paramsAfter, result.chosen!.paramsAfter);
    const before = mse(await writtenOutputs(path.join(EXAMPLES, 'combustion-mlp'), regression.inputs), regression.targets);
    const after = mse(await writtenOutputs(written.outDir, regression.inputs), regression.targets);
    assert.ok(Math.abs(before - result.baseline) <= 1e-6 * before, `baseline ${result.baseline} vs tfjs ${before}`);
    assert.ok(after <= before * (1 + 0.1) * (1 + 1e-5), `tfjs: MSE ${before} → ${after}`);
  });

  it('refits every candidate when calibration data is given', async () => {
    const model = await loadModel(COMBUSTION);
    const analysis = await analyzeModel(model);
    const validation = await loadLabelledData(model.source.graph, regression.inputsFile, regression.targetsFile);
    const calibration = await loadCalibration(model.source.graph, { range: [-1.8, 1.8], samples: 512, seed: 5 }, COMBUSTION);
    const result = await autoReduce(analysis, { tolerance: 0.1, validation, calibration, maxEvaluations: 30 });
    assert.strictEqual(result.merge, 'refit');
    assert.ok(result.curve.length <= 30);
    assertOnCurve(result);
    const written = await reduceModel(analysis, 1, path.join(dir, 'combustion-refit'), { overrides: result.chosen!.thresholds, calibration });
    const after = mse(await writtenOutputs(written.outDir, regression.inputs), regression.targets);
    assert.ok(after <= result.baseline * (1 + 0.1) * (1 + 1e-5), `tfjs: MSE ${result.baseline} → ${after}`);
  });

  it('classifier (small CNN, tolerance 0.01): the written model keeps the accuracy within one point', async () => {
    const model = await loadModel(CNN);
    const analysis = await analyzeModel(model);
    const validation = await loadLabelledData(model.source.graph, classes.inputsFile, classes.targetsFile);
    const result = await autoReduce(analysis, { tolerance: 0.01, validation });
    assert.strictEqual(result.metric, 'accuracy');
    assert.strictEqual(result.baseline, 1);
    assertOnCurve(result);
    const written = await reduceModel(analysis, 1, path.join(dir, 'cnn'), { overrides: result.chosen!.thresholds });
    assert.ok(accuracy(await writtenOutputs(written.outDir, classes.inputs), classes.labels) >= 1 - 0.01);
  });

  it('CLI: reduce --auto writes the choice and its curve; analyze --auto --json prints the search', async () => {
    const out = path.join(dir, 'cli');
    const run = await runCliText('reduce', COMBUSTION, '--out', out, '--auto', '--tolerance', '0.1', '--val-inputs', regression.inputsFile, '--val-targets', regression.targetsFile, '--backend', 'cpu');
    assert.strictEqual(run.code, 0, run.err);
    assert.match(run.out, /Chosen: \d+ of \d+ parameters/);
    const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
    const auto = report.auto!;
    assert.ok(auto.chosen && auto.curve.length > 1);
    assert.deepStrictEqual(Object.fromEntries(report.layers.map((l) => [l.name, l.threshold])), auto.chosen.thresholds);
    assert.strictEqual(report.totals.paramsAfter, auto.chosen.paramsAfter);
    // The report's points name their fields as the retrain rounds do.
    for (const point of auto.curve) {
      assert.deepStrictEqual(Object.keys(point).sort(), ['change', 'meets', 'metric', 'paramsAfter', 'paramsRatio', 'thresholds']);
      assert.strictEqual(point.paramsRatio, point.paramsAfter / auto.paramsBefore);
    }
    const after = mse(await writtenOutputs(out, regression.inputs), regression.targets);
    assert.ok(after <= auto.baseline * 1.1 * (1 + 1e-5));

    const analysed = await runCliText('analyze', CNN, '--json', '--auto', '--tolerance', '0.01', '--val-inputs', classes.inputsFile, '--val-targets', classes.targetsFile);
    assert.strictEqual(analysed.code, 0, analysed.err);
    const doc = JSON.parse(analysed.out) as AutoResult;
    assert.strictEqual(doc.metric, 'accuracy');
    assert.ok(doc.chosen && doc.chosen.paramsRatio < 1);
  });

  it('CLI: reduce --auto --round-to searches rounded candidates and writes the chosen one as measured', async () => {
    const out = path.join(dir, 'cli-rounded');
    const run = await runCliText('reduce', COMBUSTION, '--out', out, '--auto', '--tolerance', '0.1', '--round-to', '4', '--val-inputs', regression.inputsFile, '--val-targets', regression.targetsFile, '--backend', 'cpu');
    assert.strictEqual(run.code, 0, run.err);
    assert.match(run.out, /widths rounded up to multiples of 4/);
    const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
    const auto = report.auto!;
    assert.strictEqual(auto.roundTo, 4);
    for (const layer of report.layers) assert.ok(layer.unitsAfter % 4 === 0 || layer.unitsAfter === layer.unitsBefore, `${layer.name}: ${layer.unitsAfter}`);
    // The candidate measured is the model written: same size, and its error within the tolerance.
    assert.strictEqual(report.totals.paramsAfter, auto.chosen!.paramsAfter);
    const analysis = await analyzeModel(await loadModel(COMBUSTION));
    for (const point of auto.curve) {
      const gamma = (layer: string): number => (Object.hasOwn(point.thresholds, layer) ? point.thresholds[layer] : 1);
      assert.strictEqual(point.paramsAfter, estimate(analysis.summary, gamma, 4).totals.paramsAfter);
    }
    const after = mse(await writtenOutputs(out, regression.inputs), regression.targets);
    assert.ok(after <= auto.baseline * 1.1 * (1 + 1e-5));
  });

  it('CLI: usage errors and bad validation files exit 2, naming the problem', async () => {
    const base = ['analyze', COMBUSTION, '--auto'];
    const cases: [string[], RegExp][] = [
      [[...base, '--val-inputs', regression.inputsFile, '--val-targets', regression.targetsFile], /--auto needs --tolerance/],
      [[...base, '--tolerance', '0.1', '--val-inputs', regression.inputsFile], /--auto needs --val-inputs FILE and --val-targets FILE/],
      [[...base, '--tolerance', '0.1', '--threshold', '0.9', '--val-inputs', regression.inputsFile, '--val-targets', regression.targetsFile], /either --threshold or --auto/],
      [['analyze', COMBUSTION, '--val-inputs', regression.inputsFile], /go with --auto/],
      [[...base, '--tolerance', '-1', '--val-inputs', regression.inputsFile, '--val-targets', regression.targetsFile], /--tolerance must be a non-negative number/],
      [[...base, '--tolerance', '0.1', '--val-inputs', regression.inputsFile, '--val-targets', path.join(dir, 'missing.json')], /missing\.json: cannot read/],
      [[...base, '--tolerance', '0.1', '--val-inputs', regression.inputsFile, '--val-targets', classes.targetsFile], /labels\.json: has 32 rows, but .*val-x\.json has 400/],
      [[...base, '--tolerance', '0.1', '--val-inputs', classes.inputsFile, '--val-targets', classes.targetsFile], /probe-inputs\.json: has samples of shape \[12, 12, 1\], but the model takes \[6\]/],
    ];
    const wide = path.join(dir, 'wide.json');
    await fs.writeFile(wide, JSON.stringify(regression.targets.map((t) => [...t, 0])));
    cases.push([[...base, '--tolerance', '0.1', '--val-inputs', regression.inputsFile, '--val-targets', wide], /wide\.json: has 6 values per row, but the model gives 5/]);
    for (const [argv, message] of cases) {
      const run = await runCliText(...argv);
      assert.strictEqual(run.code, 2, `${argv.join(' ')}: ${run.err}`);
      assert.match(run.err, message);
    }
  });

  it("runs candidates with the format's own runner where the evaluator cannot (a LayerNormalization after the output), reporting each and stopping on abort", async () => {
    const build = (units: Record<string, number>): tf.LayersModel => {
      const input = tf.input({ shape: [6] });
      const h = tf.layers.dense({ name: 'h', units: units.h ?? 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 700 }) }).apply(input);
      const out = tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 701 }) }).apply(h);
      return tf.model({ inputs: input, outputs: tf.layers.layerNormalization({ name: 'norm' }).apply(out) as tf.SymbolicTensor });
    };
    const original = build({});
    const { wide } = widenModel(original, build, [{ layer: 'h', consumer: 'out', mode: 'scaled', seed: 31 }]);
    const file = await saveLayersModel(wide, path.join(dir, 'layer-norm'));
    const inputs = Array.from({ length: 64 }, (_, r) => Array.from(normalSamples(6, 40 + r)));
    const x = tf.tensor(inputs);
    const y = predict(wide, x);
    const targets = inputs.map((_, r) => Array.from(y.subarray(r * 3, r * 3 + 3), (v, c) => v + 0.05 * normalSamples(1, 500 + 3 * r + c)[0]));
    await fs.writeFile(path.join(dir, 'ln-x.json'), JSON.stringify(inputs));
    await fs.writeFile(path.join(dir, 'ln-y.json'), JSON.stringify(targets));

    const model = await loadModel(file);
    const analysis = await analyzeModel(model);
    const validation = await loadLabelledData(model.source.graph, path.join(dir, 'ln-x.json'), path.join(dir, 'ln-y.json'));
    const backend = await loadBackend('cpu');
    const reported: number[] = [];
    const result = await autoReduce(analysis, { tolerance: 0.05, validation, backend, onCandidate: (_, measured) => reported.push(measured) });
    assert.strictEqual(result.runner, 'format');
    assertOnCurve(result);
    assert.deepStrictEqual(reported, result.curve.map((_, i) => i + 1), 'every candidate reported once, in order');
    const written = await reduceModel(analysis, 1, path.join(dir, 'layer-norm-reduced'), { overrides: result.chosen!.thresholds });
    const after = mse(await writtenOutputs(written.outDir, inputs), targets);
    const before = mse(y, targets);
    assert.ok(after <= before * 1.05 * (1 + 1e-5), `tfjs: MSE ${before} → ${after}`);

    const abort = new AbortController();
    const stopped = await autoReduce(analysis, { tolerance: 0.05, validation, backend, onCandidate: (_, measured) => measured === 2 && abort.abort(), signal: abort.signal });
    assert.strictEqual(stopped.curve.length, 2, 'the search ends after the candidate being measured');
    tf.dispose(x);
    [original, wide].forEach((m) => m.dispose());
  });

  it('validation rows: capped to the evaluator\'s memory budget where it runs them, all kept where only tfjs does (retraining)', async () => {
    // 20000 values per sample: the evaluator's budget (2^25 values) holds about 1677 samples.
    const wideModel = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 20000, activation: 'relu' }), tf.layers.dense({ units: 1 })] });
    const file = await saveLayersModel(wideModel, path.join(dir, 'wide-dense'));
    wideModel.dispose();
    const rows = 2000;
    await fs.writeFile(path.join(dir, 'wide-x.json'), JSON.stringify(Array.from({ length: rows }, (_, r) => [r, 1, 2, 3])));
    await fs.writeFile(path.join(dir, 'wide-y.json'), JSON.stringify(Array.from({ length: rows }, (_, r) => [r])));
    const { graph } = (await loadModel(file)).source;
    const evaluated = await loadLabelledData(graph, path.join(dir, 'wide-x.json'), path.join(dir, 'wide-y.json'));
    const trained = await loadLabelledData(graph, path.join(dir, 'wide-x.json'), path.join(dir, 'wide-y.json'), false);
    assert.ok(evaluated.rows.picked.length < rows, `evaluated: ${evaluated.rows.picked.length} rows`);
    assert.strictEqual(trained.rows.picked.length, rows);
    assert.deepStrictEqual(Array.from(trained.targets), Array.from({ length: rows }, (_, r) => r));
  });
});
