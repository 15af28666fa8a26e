/**
 * Coupled layers reduced jointly: the convolutions feeding a residual Add share one
 * clustering and are merged together, a DepthwiseConv2D follows its input channels, a Concatenate's
 * consumer has its inputs combined per source, and the BatchNormalizations of all of them are sliced
 * with them. A MobileNetV2-style block (expand 1×1 → depthwise 3×3 → project 1×1, residual Add)
 * widened with copies of its channels must be condensed back to its original size, computing the
 * same function (≤ 1e-5), in TF.js and in ONNX alike.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { AnalysisJson } from '../../../../src/cli/format';
import { analyzeModel, loadModel } from '../../../../src/core/analyze';
import { loadBackend } from '../../../../src/core/compute/backend';
import { loadCalibration } from '../../../../src/core/data/calibration';
import { openModel } from '../../../../src/core/formats/index';
import { GraphEvaluator, isUnsupported } from '../../../../src/core/compute/evaluator';
import { ModelGraph } from '../../../../src/core/model/graph';
import { reduceModel } from '../../../../src/core/reduce';
import { ModelSource } from '../../../../src/core/model/registry';
import { clustersAt } from '../../../../src/core/estimate';
import { verifyModels } from '../../../../src/core/verify';
import type { CondenseReport } from '../../../../src/core/reduction/report';
import { runCliText } from '../../../helpers/cli';
import { saveLayersModel, tempDir } from '../../../helpers/models';
import {
  layerWeights, loadFolderWithTfjs, maxRelDeviation, predict, probeBatch, readJson, setLayerWeights, trainBriefly, useCpu, writtenUnits,
} from '../../../helpers/tfjs';
import { graphArrays, graphTensors, plantDuplicate, SplitSpec, widen } from '../../../helpers/widen';

const GAMMA = 0.9999;
const ONNX_FIXTURES = path.resolve(__dirname, '..', '..', '..', 'fixtures', 'onnx');

type JsonLayer = AnalysisJson['layers'][number];

async function analyzeJson(file: string): Promise<{ layers: Record<string, JsonLayer>; totals: { paramsBefore: number; paramsAfter: number } }> {
  const run = await runCliText('analyze', file, '--json', '--threshold', String(GAMMA), '--backend', 'cpu');
  assert.strictEqual(run.code, 0, run.err);
  const report = JSON.parse(run.out) as AnalysisJson;
  return { layers: Object.fromEntries(report.layers.map((l) => [l.name, l])), totals: report.totals };
}

let seed = 5000;
const init = () => tf.initializers.glorotUniform({ seed: seed++ });

type Units = Record<string, number>;

/**
 * stem 1×1 (+BN, linear) → expand 1×1 (+BN, act) → depthwise 3×3 (+BN, act) → project 1×1 (+BN, linear)
 * → Add with the stem's output → head 1×1 (ReLU) → global pooling → Dense.
 */
function invertedResidual(act: 'relu' | 'relu6'): (u: Units) => tf.LayersModel {
  return (u) => {
    const activation = (name: string) => tf.layers.reLU({ name, ...(act === 'relu6' ? { maxValue: 6 } : {}) });
    const conv = (name: string, filters: number) => tf.layers.conv2d({ name, filters, kernelSize: 1, useBias: false, kernelInitializer: init() });
    const bn = (name: string) => tf.layers.batchNormalization({ name });
    const input = tf.input({ shape: [6, 6, 3], name: 'image' });
    const apply = (x: tf.SymbolicTensor, ...layers: tf.layers.Layer[]): tf.SymbolicTensor =>
      layers.reduce((t, layer) => layer.apply(t) as tf.SymbolicTensor, x);
    const stem = apply(input, conv('stem', u.stem ?? 4), bn('stem_bn'));
    const block = apply(
      stem,
      conv('expand', u.expand ?? 8), bn('expand_bn'), activation('expand_act'),
      tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init() }), bn('dw_bn'), activation('dw_act'),
      conv('project', u.project ?? 4), bn('project_bn'),
    );
    const sum = tf.layers.add({ name: 'add' }).apply([stem, block]) as tf.SymbolicTensor;
    const out = apply(
      sum,
      tf.layers.conv2d({ name: 'head', filters: 5, kernelSize: 1, activation: 'relu', kernelInitializer: init() }),
      tf.layers.globalAveragePooling2d({ name: 'pool' }),
      tf.layers.dense({ name: 'out', units: 3, kernelInitializer: init() }),
    );
    return tf.model({ inputs: input, outputs: out, name: 'inverted_residual' });
  };
}

/** BN statistics far from their 0/1 start, and some negative gammas, so folding matters. */
function randomiseBatchNorm(weights: Map<string, { shape: number[]; data: Float32Array }[]>, names: string[], seedValue: number): void {
  let state = seedValue;
  const random = (): number => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
  for (const name of names) {
    const [gamma, beta, mean, variance] = weights.get(name)!;
    gamma.data.forEach((_, i) => (gamma.data[i] = (random() < 0.25 ? -1 : 1) * (0.5 + random())));
    beta.data.forEach((_, i) => (beta.data[i] = random() - 0.5));
    mean.data.forEach((_, i) => (mean.data[i] = random() - 0.5));
    variance.data.forEach((_, i) => (variance.data[i] = 0.5 + 1.5 * random()));
  }
}

const BATCH_NORMS = ['stem_bn', 'expand_bn', 'dw_bn', 'project_bn'];

describe('coupled layers reduced jointly', function () {
  let root: string;
  let dirs = 0;
  const freshDir = (): string => path.join(root, `case${++dirs}`);

  before(async () => {
    await useCpu();
    root = await tempDir();
  });

  const blocks: { act: 'relu' | 'relu6'; expandMode: 'scaled' | 'exact' }[] = [
    // ReLU is positively homogeneous: copies scaled by c_k merge exactly with the norm-ratio scale.
    { act: 'relu', expandMode: 'scaled' },
    // ReLU6 is not: its channels are merged unscaled, which is exact for exact copies only.
    { act: 'relu6', expandMode: 'exact' },
  ];
  for (const { act, expandMode } of blocks) {
    it(`TF.js MobileNetV2-style block (${act}, ${expandMode} copies through the depthwise conv): counts exact, reduce + verify ≤ 1e-5`, async () => {
      const build = invertedResidual(act);
      const original = build({});
      await trainBriefly(original, 77, 2, 64);
      const trained = layerWeights(original);
      randomiseBatchNorm(trained, BATCH_NORMS, 4242);
      setLayerWeights(original, trained);
      const splits: SplitSpec[] = [
        // The residual Add ties stem and project: the same copies in both, read by expand and head.
        { layer: 'stem', batchNorm: 'stem_bn', also: [{ layer: 'project', batchNorm: 'project_bn' }], consumer: ['expand', 'head'], mode: 'scaled', seed: 51 },
        { layer: 'expand', batchNorm: 'expand_bn', follower: { layer: 'dw', batchNorm: 'dw_bn' }, consumer: 'project', mode: expandMode, seed: 52 },
      ];
      const { weights, units } = widen(trained, splits);
      const wide = build(units);
      setLayerWeights(wide, weights);
      const x = probeBatch([6, 6, 3], 64, 9);
      assert.ok(maxRelDeviation(predict(original, x), predict(wide, x)) <= 1e-5, 'the widened model differs from the original');
      const dir = freshDir();
      const wideFile = await saveLayersModel(wide, path.join(dir, 'wide'));

      const { layers, totals } = await analyzeJson(wideFile);
      for (const [name, originalUnits] of [['stem', 4], ['project', 4], ['expand', 8]] as const) {
        assert.strictEqual(layers[name].reducible, true, `${name}: ${layers[name].reason}`);
        assert.strictEqual(layers[name].units, units[name]);
        assert.strictEqual(layers[name].clusters, originalUnits, `${name}: clusters`);
      }
      assert.strictEqual(layers.dw.reason, 'follows the channels of expand');
      assert.strictEqual(layers.dw_bn.reason, 'folded into dw for analysis');
      assert.strictEqual(totals.paramsBefore, wide.countParams());
      assert.strictEqual(totals.paramsAfter, original.countParams());

      const analysis = await analyzeModel(await loadModel(wideFile));
      const summary = (name: string) => analysis.summary.layers.find((l) => l.name === name)!;
      assert.deepStrictEqual(summary('stem').joint, { lead: 'stem', note: 'reduced jointly with project (residual Add add)' });
      assert.deepStrictEqual(summary('project').joint, { lead: 'stem', note: 'reduced jointly with stem (residual Add add)' });
      assert.deepStrictEqual(summary('expand').joint, { lead: 'expand', note: 'DepthwiseConv2D dw follows its channels' });
      assert.strictEqual(summary('expand').activation, act === 'relu' ? 'relu∘relu' : 'relu6∘relu6');

      // Seen through calibration data, each member through its own input, the copies stay parallel: the same counts.
      const calibration = await loadCalibration(analysis.model.source.graph, { range: [-2, 2], samples: 256, seed: 4 }, wideFile);
      const onData = await analyzeModel(await loadModel(wideFile), { calibration });
      for (const [name, originalUnits] of [['stem', 4], ['project', 4], ['expand', 8]] as const) {
        const layer = onData.summary.layers.find((l) => l.name === name)!;
        assert.strictEqual(layer.similarity, 'data', name);
        assert.strictEqual(clustersAt(layer, GAMMA), originalUnits, `${name}: clusters on data`);
      }

      const reducedDir = path.join(dir, 'reduced');
      const reduced = await runCliText('reduce', wideFile, '--out', reducedDir, '--threshold', String(GAMMA), '--backend', 'cpu');
      assert.strictEqual(reduced.code, 0, reduced.err);
      assert.deepStrictEqual(writtenUnits(await readJson(path.join(reducedDir, 'model.json'))), { stem: 4, expand: 8, project: 4, head: 5, out: 3 });
      const verified = await runCliText('verify', wideFile, path.join(reducedDir, 'model.json'), '--tolerance', '1e-5', '--backend', 'cpu');
      assert.strictEqual(verified.code, 0, verified.out + verified.err);

      const loaded = await loadFolderWithTfjs(reducedDir);
      const deviation = maxRelDeviation(predict(original, x), predict(loaded, x));
      assert.ok(deviation <= 1e-5, `reduced vs original: ${deviation}`);
      assert.strictEqual(loaded.countParams(), original.countParams());
      const report = await readJson<CondenseReport>(path.join(reducedDir, 'condense-report.json'));
      const clusters = (name: string) => report.layers.find((l) => l.name === name)?.clusters;
      assert.deepStrictEqual(clusters('project'), clusters('stem'), 'the members of the group are merged alike');
      tf.dispose(x);
      [original, wide, loaded].forEach((m) => m.dispose());
    });
  }

  it('refit through the residual Add and the depthwise conv: evaluated as tfjs computes it, every consumer fitted, closer than the plain merge', async () => {
    const original = invertedResidual('relu')({});
    await trainBriefly(original, 78, 2, 64);
    const trained = layerWeights(original);
    randomiseBatchNorm(trained, BATCH_NORMS, 4343);
    setLayerWeights(original, trained);
    const dir = freshDir();
    const file = await saveLayersModel(original, path.join(dir, 'block'));
    const model = await loadModel(file);
    const { graph } = model.source;
    const x = probeBatch([6, 6, 3], 64, 10);
    const expected = predict(original, x);
    const evaluated = await new GraphEvaluator(graph, { shape: x.shape, data: Float64Array.from(x.dataSync()) }).output(graph.outputs[0]);
    assert.ok(!isUnsupported(evaluated), isUnsupported(evaluated) ? evaluated.unsupported : '');
    assert.ok(maxRelDeviation(expected, Float32Array.from(evaluated.data)) <= 1e-5, 'the evaluator differs from tfjs');

    const calibration = await loadCalibration(graph, { range: [-2, 2], samples: 512, seed: 3 }, file);
    const analysis = await analyzeModel(model, { calibration });
    // Halve the expand layer (and its depthwise follower): its channels are no copies, so the plain merge is lossy there.
    const expand = analysis.summary.layers.find((l) => l.name === 'expand')!;
    const threshold = Float64Array.from(expand.dendrogram!.sim).sort().reverse()[3];
    const plain = await reduceModel(analysis, 1, path.join(dir, 'plain'), { overrides: { expand: threshold } });
    const refit = await reduceModel(analysis, 1, path.join(dir, 'refit'), { overrides: { expand: threshold }, calibration });
    assert.ok(refit.estimate.totals.paramsAfter < refit.estimate.totals.paramsBefore);
    const fitted = refit.report.refits!.map((r) => [r.consumer, r.skipped]);
    // The stem group's copies merge exactly, so expand (reading them) has nothing to fit; every other consumer is fitted.
    const kept = fitted.filter(([, skipped]) => skipped !== null);
    assert.ok(kept.every(([consumer, skipped]) => consumer === 'expand' && /plain merge is exact/.test(skipped!)), JSON.stringify(kept));
    assert.strictEqual(refit.report.merge, 'refit');
    assert.deepStrictEqual(fitted.map(([consumer]) => consumer).sort(), ['expand', 'head', 'out', 'project']);
    const error = async (folder: string): Promise<number> => {
      const loaded = await loadFolderWithTfjs(folder);
      const deviation = maxRelDeviation(expected, predict(loaded, x));
      loaded.dispose();
      return deviation;
    };
    const [plainError, refitError] = [await error(plain.outDir), await error(refit.outDir)];
    assert.ok(refitError < plainError / 2, `refit ${refitError} vs plain ${plainError}`);
    tf.dispose(x);
    original.dispose();
  });

  it('TF.js Concatenate: each source is reduced on its own, the consumer\'s inputs combined per source; the model input\'s part is kept', async () => {
    const build = (): tf.LayersModel => {
      const input = tf.input({ shape: [5], name: 'inp' });
      const dense = (name: string, units: number) => tf.layers.dense({ name, units, activation: 'relu', kernelInitializer: init(), biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: seed++ }) });
      const a = dense('a', 7).apply(input) as tf.SymbolicTensor;
      const b = dense('b', 6).apply(input) as tf.SymbolicTensor;
      const cat = tf.layers.concatenate({ name: 'cat' }).apply([input, a, b]) as tf.SymbolicTensor;
      const d = dense('d', 6).apply(cat) as tf.SymbolicTensor;
      const out = tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init() }).apply(d) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out });
    };
    const model = build();
    const weights = layerWeights(model);
    plantDuplicate(weights.get('a')!, 1, 4, 2.5);
    plantDuplicate(weights.get('a')!, 1, 6, 0.5);
    plantDuplicate(weights.get('b')!, 0, 3, 1.5);
    setLayerWeights(model, weights);
    const file = await saveLayersModel(model, freshDir());

    const analysis = await analyzeModel(await loadModel(file));
    const layer = (name: string) => analysis.summary.layers.find((l) => l.name === name)!;
    for (const [name, clusters] of [['a', 5], ['b', 5]] as const) {
      assert.strictEqual(layer(name).reducible, true, `${name}: ${layer(name).reason}`);
      assert.strictEqual(clustersAt(layer(name), GAMMA), clusters);
    }
    const outDir = freshDir();
    const result = await reduceModel(analysis, GAMMA, outDir);
    assert.deepStrictEqual(writtenUnits(await readJson(path.join(outDir, 'model.json'))), { a: 5, b: 5, d: 6, out: 2 });
    const loaded = await loadFolderWithTfjs(outDir);
    const x = probeBatch([5], 64, 3);
    const deviation = maxRelDeviation(predict(model, x), predict(loaded, x));
    assert.ok(deviation <= 1e-5, `reduced model deviates by ${deviation}`);
    // d reads 5 + 5 + 5 inputs now.
    assert.strictEqual(loaded.countParams(), result.estimate.totals.paramsAfter);
    assert.strictEqual(result.estimate.layers.find((l) => l.name === 'd')!.paramsAfter, 15 * 6 + 6);
    tf.dispose(x);
    [model, loaded].forEach((m) => m.dispose());
  });

  it('refused as a whole, naming why: a residual Add with the model input, a member whose partner cannot be reduced, a path around a depthwise conv', async () => {
    const input = tf.input({ shape: [6], name: 'inp' });
    const h = tf.layers.dense({ name: 'h', units: 6, activation: 'relu', kernelInitializer: init() }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: 'add' }).apply([input, h]) as tf.SymbolicTensor;
    const k = tf.layers.dense({ name: 'k', units: 4, kernelInitializer: init() }).apply(sum) as tf.SymbolicTensor;
    const m = tf.layers.dense({ name: 'm', units: 4, kernelInitializer: init() }).apply(k) as tf.SymbolicTensor;
    const n = tf.layers.dense({ name: 'n', units: 4, kernelInitializer: init() }).apply(k) as tf.SymbolicTensor;
    const sum2 = tf.layers.add({ name: 'add2' }).apply([m, n]) as tf.SymbolicTensor;
    // Only n's own path meets the Multiply: m is refused for its partner's sake.
    const square = tf.layers.multiply({ name: 'mul' }).apply([n, n]) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat' }).apply([sum2, square]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init() }).apply(cat) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const { layers } = await analyzeJson(await saveLayersModel(model, freshDir()));
    assert.strictEqual(layers.h.reducible, false);
    assert.strictEqual(layers.h.reason, 'coupled through Add (add) with the model input inp, which cannot be reduced');
    assert.strictEqual(layers.k.reducible, true, layers.k.reason ?? '');
    assert.strictEqual(layers.n.reason, 'coupled through Multiply (mul)');
    assert.strictEqual(layers.m.reason, 'coupled through Add (add2) with n, which is not reducible: coupled through Multiply (mul)');
    model.dispose();

    // A depthwise conv whose input is also added to its output: the two paths would need different merge scales.
    const image = tf.input({ shape: [5, 5, 2], name: 'image' });
    const c = tf.layers.conv2d({ name: 'c', filters: 4, kernelSize: 1, activation: 'relu', kernelInitializer: init() }).apply(image) as tf.SymbolicTensor;
    const dw = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', depthwiseInitializer: init() }).apply(c) as tf.SymbolicTensor;
    const skip = tf.layers.add({ name: 'skip' }).apply([c, dw]) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(skip) as tf.SymbolicTensor;
    const bypass = tf.model({ inputs: image, outputs: tf.layers.dense({ name: 'out', units: 2, kernelInitializer: init() }).apply(pooled) as tf.SymbolicTensor });
    const refused = (await analyzeJson(await saveLayersModel(bypass, freshDir()))).layers.c;
    assert.strictEqual(refused.reason, 'the channels of c reach out without passing DepthwiseConv2D dw');
    bypass.dispose();
  });

  describe('ONNX', () => {
    /** Writes a source's encoded files into `dir`; returns the model file. */
    async function writeEncoded(source: ModelSource, arrays: ReturnType<typeof graphArrays>, units: Units, dir: string): Promise<string> {
      await fs.mkdir(dir, { recursive: true });
      for (const f of source.encode(graphTensors(source.graph, arrays), new Map(Object.entries(units)))) await fs.writeFile(path.join(dir, f.name), f.data);
      return path.join(dir, source.mainFile);
    }

    /** The first layer of a class, by the name of the layer it reads. */
    function find(graph: ModelGraph, className: string, nth = 0): string {
      return graph.layers.filter((l) => l.className === className)[nth].name;
    }

    async function exactness(fixture: string, splitsOf: (graph: ModelGraph) => SplitSpec[], reducibleUnits: (graph: ModelGraph) => Units): Promise<void> {
      const backend = await loadBackend('cpu');
      const file = path.join(ONNX_FIXTURES, fixture);
      const original = await openModel(file);
      const splits = splitsOf(original.graph);
      const { weights, units } = widen(graphArrays(original.graph), splits);
      const wideFile = await writeEncoded(original, weights, units, path.join(freshDir(), 'wide'));
      const same = await verifyModels(backend, file, wideFile);
      assert.ok(same.maxRel <= 1e-5, `the widened model differs from the original: ${same.maxRel}`);

      const { layers, totals } = await analyzeJson(wideFile);
      for (const [name, count] of Object.entries(reducibleUnits(original.graph))) {
        assert.strictEqual(layers[name].reducible, true, `${name}: ${layers[name].reason}`);
        assert.strictEqual(layers[name].units, units[name]);
        assert.strictEqual(layers[name].clusters, count, `${name}: clusters`);
      }
      const parameters = (s: ModelSource): number => s.weights.reduce((sum, w) => sum + w.data.length, 0);
      assert.strictEqual(totals.paramsAfter, parameters(original));

      const out = path.join(path.dirname(wideFile), '..', 'reduced');
      const reduced = await runCliText('reduce', wideFile, '--out', out, '--threshold', String(GAMMA), '--backend', 'cpu');
      assert.strictEqual(reduced.code, 0, reduced.err);
      const reducedFile = path.join(out, fixture);
      const verified = await runCliText('verify', wideFile, reducedFile, '--tolerance', '1e-5', '--backend', 'cpu');
      assert.strictEqual(verified.code, 0, verified.out + verified.err);
      const fidelity = await verifyModels(backend, file, reducedFile);
      assert.ok(fidelity.maxRel <= 1e-5, `reduced vs original: ${fidelity.maxRel}`);
      const written = await openModel(reducedFile);
      assert.strictEqual(parameters(written), parameters(original));
      assert.deepStrictEqual(written.graph.layers.map((l) => [l.name, l.className, l.outputShape]), original.graph.layers.map((l) => [l.name, l.className, l.outputShape]));
    }

    it('residual MLP (Gemm → ReLU → Add ← Gemm): both inputs of the Add are reduced jointly; reduce + verify (onnxruntime) ≤ 1e-5', async () => {
      await exactness(
        'residual.onnx',
        () => [
          { layer: '/inp/Gemm', also: [{ layer: '/block2/Gemm' }], consumer: ['/block1/Gemm', '/out/Gemm'], mode: 'scaled', seed: 61 },
          { layer: '/block1/Gemm', consumer: '/block2/Gemm', mode: 'scaled', seed: 62 },
        ],
        () => ({ '/inp/Gemm': 16, '/block2/Gemm': 16, '/block1/Gemm': 16 }),
      );
    });

    it('MobileNetV2-style block exported by PyTorch (Conv group = C as DepthwiseConv2D, BatchNormalization, ReLU6): reduce + verify (onnxruntime) ≤ 1e-5', async () => {
      const { graph } = await openModel(path.join(ONNX_FIXTURES, 'inverted-residual.onnx'));
      const dw = graph.layers.find((l) => l.className === 'DepthwiseConv2D')!;
      assert.deepStrictEqual(dw.weights.get('depthwise_kernel')!.shape, [3, 3, 8, 1]);
      await exactness(
        'inverted-residual.onnx',
        (g) => {
          const [stem, expand, project, head] = [0, 1, 2, 3].map((i) => find(g, 'Conv2D', i));
          const [stemBn, expandBn, dwBn, projectBn] = [0, 1, 2, 3].map((i) => find(g, 'BatchNormalization', i));
          return [
            { layer: stem, batchNorm: stemBn, also: [{ layer: project, batchNorm: projectBn }], consumer: [expand, head], mode: 'scaled', seed: 71 },
            // ReLU6 after expand and the depthwise conv: exact copies (merged unscaled).
            { layer: expand, batchNorm: expandBn, follower: { layer: find(g, 'DepthwiseConv2D'), batchNorm: dwBn }, consumer: project, mode: 'exact', seed: 72 },
          ];
        },
        (g) => ({ [find(g, 'Conv2D', 0)]: 4, [find(g, 'Conv2D', 1)]: 8, [find(g, 'Conv2D', 2)]: 4 }),
      );
    });
  });
});
