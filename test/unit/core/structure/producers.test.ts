/**
 * Coupled layers left alone: a Dense/Conv2D whose channels meet another layer's in a merge the
 * engine does not reduce through (Multiply, Maximum, …), or feed a DepthwiseConv2D with a depth
 * multiplier above 1, is reported not reducible with a reason naming the coupling, and reduce leaves
 * it as it was; the output layer is never reduced. Each of those layers holds units that would
 * merge, so a wrong "reducible" would change the written model. (Residual Adds, depthwise
 * convolutions with multiplier 1 and Concatenate are reduced jointly: coupling.test.ts.)
 */
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Analysis, analyzeModel, loadModel } from '../../../../src/core/analyze';
import { LayerNode, makeGraph } from '../../../../src/core/model/graph';
import { clustersAt } from '../../../../src/core/estimate';
import { NamedWeight, sizeOf } from '../../../../src/core/model/tensor';
import { reduceModel } from '../../../../src/core/reduce';
import { saveLayersModel, tempDir } from '../../../helpers/models';
import {
  layerWeights, loadFolderWithTfjs, maxRelDeviation, predict, probeBatch, readJson, setLayerWeights, useCpu, writtenUnits,
} from '../../../helpers/tfjs';
import { plantDuplicate, widen } from '../../../helpers/widen';
import { describeProducers } from '../../../../src/core/structure/producers';
import { inferShapes } from '../../../../src/core/structure/layerKinds';

const GAMMA = 0.9999;

function layer(analysis: Analysis, name: string) {
  const found = analysis.summary.layers.find((l) => l.name === name);
  assert.ok(found, `layer ${name} missing`);
  return found;
}

/** Reduces at GAMMA; checks the written units, the function (≤ 1e-5) and the parameter count. */
async function reduceAndCheck(
  analysis: Analysis,
  reference: tf.LayersModel,
  outDir: string,
  expectedUnits: Record<string, number>,
  x: tf.Tensor,
): Promise<void> {
  const result = await reduceModel(analysis, GAMMA, outDir);
  assert.deepStrictEqual(writtenUnits(await readJson(path.join(outDir, 'model.json'))), expectedUnits);
  const loaded = await loadFolderWithTfjs(outDir);
  const deviation = maxRelDeviation(predict(reference, x), predict(loaded, x));
  assert.ok(deviation <= 1e-5, `reduced model deviates by ${deviation}`);
  assert.strictEqual(loaded.countParams(), result.estimate.totals.paramsAfter);
  loaded.dispose();
}

describe('coupled layers and the output layer', function () {
  let root: string;
  before(async () => {
    await useCpu();
    root = await tempDir();
  });

  it('Dense layers feeding Multiply or Maximum are not reducible, named as coupled, and left unchanged; the output layer too', async () => {
    let seed = 300;
    const init = () => tf.initializers.glorotUniform({ seed: seed++ });
    const build = (hUnits: number): tf.LayersModel => {
      const input = tf.input({ shape: [6], name: 'inp' });
      const dense = (name: string, units: number, activation: 'relu' | 'linear' = 'relu') =>
        tf.layers.dense({ name, units, activation, kernelInitializer: init(), biasInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: seed++ }) });
      const h = dense('h', hUnits).apply(input) as tf.SymbolicTensor;
      const a = dense('a', 8).apply(h) as tf.SymbolicTensor;
      const b = dense('b', 8).apply(h) as tf.SymbolicTensor;
      const sum = tf.layers.multiply({ name: 'mul' }).apply([a, b]) as tf.SymbolicTensor;
      const c1 = dense('c1', 6).apply(sum) as tf.SymbolicTensor;
      const c2 = dense('c2', 6).apply(sum) as tf.SymbolicTensor;
      const cat = tf.layers.maximum({ name: 'max' }).apply([c1, c2]) as tf.SymbolicTensor;
      const out = dense('out', 4, 'linear').apply(cat) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: out, name: 'coupled' });
    };
    const original = build(10);
    const weights = layerWeights(original);
    // Units that would merge if these layers were (wrongly) reduced.
    for (const name of ['a', 'b', 'c1', 'c2', 'out']) plantDuplicate(weights.get(name)!, 0, 1, 2.5);
    setLayerWeights(original, weights);
    // h feeds two consumers (a and b); it is reducible and made wider.
    const wide = widen(weights, [{ layer: 'h', consumer: ['a', 'b'], mode: 'scaled', seed: 31 }]);
    const model = build(wide.units.h);
    setLayerWeights(model, wide.weights);
    const file = await saveLayersModel(model, path.join(root, 'multiply-maximum'));

    const analysis = await analyzeModel(await loadModel(file));
    const h = layer(analysis, 'h');
    assert.strictEqual(h.reducible, true, h.reason ?? '');
    assert.strictEqual(clustersAt(h, GAMMA), 10);
    for (const [name, merge] of [['a', 'Multiply'], ['b', 'Multiply'], ['c1', 'Maximum'], ['c2', 'Maximum']]) {
      const l = layer(analysis, name);
      assert.strictEqual(l.reducible, false, `${name} must not be reducible`);
      assert.match(l.reason ?? '', /coupled/, `${name}: ${l.reason}`);
      assert.ok(l.reason!.includes(merge), `${name}: the reason "${l.reason}" does not name ${merge}`);
      // The planted pair is seen (analysed), just not reduced.
      assert.strictEqual(clustersAt(l, GAMMA), l.units! - 1);
    }
    const out = layer(analysis, 'out');
    assert.strictEqual(out.reducible, false);
    assert.match(out.reason ?? '', /output/);

    const x = probeBatch([6], 64, 5);
    await reduceAndCheck(analysis, model, path.join(root, 'multiply-maximum.condensed'), { h: 10, a: 8, b: 8, c1: 6, c2: 6, out: 4 }, x);
    assert.ok(maxRelDeviation(predict(original, x), predict(model, x)) <= 1e-5);
    [original, model].forEach((m) => m.dispose());
  });

  it('a Conv2D feeding a DepthwiseConv2D with depth multiplier 2 is not reducible, named as coupled, and left unchanged', async () => {
    let seed = 400;
    const init = () => tf.initializers.glorotUniform({ seed: seed++ });
    const build = (c0: number): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.conv2d({ name: 'c0', inputShape: [7, 7, 2], filters: c0, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init() }),
          tf.layers.conv2d({ name: 'c', filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: init() }),
          tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, depthwiseInitializer: init() }),
          tf.layers.flatten({ name: 'flatten' }),
          tf.layers.dense({ name: 'out', units: 3, kernelInitializer: init() }),
        ],
      });
    const original = build(5);
    const weights = layerWeights(original);
    plantDuplicate(weights.get('c')!, 0, 2, 1.7);
    setLayerWeights(original, weights);
    const wide = widen(weights, [{ layer: 'c0', consumer: 'c', mode: 'scaled', seed: 41 }]);
    const model = build(wide.units.c0);
    setLayerWeights(model, wide.weights);
    const file = await saveLayersModel(model, path.join(root, 'depthwise'));

    const analysis = await analyzeModel(await loadModel(file));
    const c0 = layer(analysis, 'c0');
    assert.strictEqual(c0.reducible, true, c0.reason ?? '');
    assert.strictEqual(clustersAt(c0, GAMMA), 5);
    const c = layer(analysis, 'c');
    assert.strictEqual(c.reducible, false);
    assert.match(c.reason ?? '', /coupled/);
    assert.ok(c.reason!.includes('DepthwiseConv2D'), `the reason "${c.reason}" does not name DepthwiseConv2D`);
    assert.strictEqual(clustersAt(c, GAMMA), 3);

    await reduceAndCheck(analysis, model, path.join(root, 'depthwise.condensed'), { c0: 5, c: 4, out: 3 }, probeBatch([7, 7, 2], 32, 6));
    [original, model].forEach((m) => m.dispose());
  });

  it('the output layer is never reduced: Dense output, softmax output, and a Dense whose channels reach the output', async () => {
    const init = (seed: number) => tf.initializers.glorotUniform({ seed });
    const cases: { name: string; model: tf.LayersModel; last: string; reason: RegExp }[] = [
      {
        name: 'dense-output',
        last: 'last',
        reason: /output layer/,
        model: tf.sequential({ layers: [
          tf.layers.dense({ name: 'h', inputShape: [5], units: 6, activation: 'relu', kernelInitializer: init(1) }),
          tf.layers.dense({ name: 'last', units: 4, activation: 'relu', kernelInitializer: init(2) }),
        ] }),
      },
      {
        name: 'softmax-output',
        last: 'last',
        reason: /output layer|softmax/,
        model: tf.sequential({ layers: [
          tf.layers.dense({ name: 'h', inputShape: [5], units: 6, activation: 'relu', kernelInitializer: init(3) }),
          tf.layers.dense({ name: 'last', units: 4, activation: 'softmax', kernelInitializer: init(4) }),
        ] }),
      },
      {
        name: 'through-activation',
        last: 'last',
        reason: /output/,
        model: tf.sequential({ layers: [
          tf.layers.dense({ name: 'h', inputShape: [5], units: 6, activation: 'relu', kernelInitializer: init(5) }),
          tf.layers.dense({ name: 'last', units: 4, kernelInitializer: init(6) }),
          tf.layers.activation({ name: 'final', activation: 'relu' }),
        ] }),
      },
    ];
    for (const c of cases) {
      const weights = layerWeights(c.model);
      plantDuplicate(weights.get('h')!, 0, 3, 2);
      plantDuplicate(weights.get(c.last)!, 0, 1, 2);
      setLayerWeights(c.model, weights);
      const file = await saveLayersModel(c.model, path.join(root, c.name));
      const analysis = await analyzeModel(await loadModel(file));
      const last = layer(analysis, c.last);
      assert.strictEqual(last.reducible, false, `${c.name}: the output layer must not be reducible`);
      assert.match(last.reason ?? '', c.reason, `${c.name}: ${last.reason}`);
      assert.strictEqual(layer(analysis, 'h').reducible, true);
      await reduceAndCheck(analysis, c.model, path.join(root, `${c.name}.condensed`), { h: 5, last: 4 }, probeBatch([5], 32, 7));
      c.model.dispose();
    }
  });

  it('a consumer whose kernel does not take units × positions inputs is refused, so misread shapes never corrupt a merge', () => {
    const weight = (name: string, shape: number[]): NamedWeight => ({ name, shape, dtype: 'float32', data: new Float32Array(sizeOf(shape)), storage: 'float32' });
    const node = (name: string, className: string, config: Record<string, unknown>, kernel?: number[]): LayerNode => ({
      name, className, config, inbound: [], outbound: [], shared: false, weights: new Map(kernel ? [['kernel', weight(`${name}/kernel`, kernel)]] : []), outputShape: null,
    });
    const chain = [
      node('in', 'InputLayer', { batch_input_shape: [null, 4, 4, 2] }),
      node('conv', 'Conv2D', { filters: 3, kernel_size: [3, 3], padding: 'same', activation: 'relu' }, [3, 3, 2, 3]),
      node('flat', 'Flatten', {}),
      // 4 · 4 positions × 3 channels = 48 inputs, not 40.
      node('dense', 'Dense', { units: 2, activation: 'relu' }, [40, 2]),
      node('out', 'Dense', { units: 1 }, [2, 1]),
    ];
    chain.slice(1).forEach((layer, i) => {
      layer.inbound.push(chain[i].name);
      chain[i].outbound.push(layer.name);
    });
    const graph = makeGraph('hand-made', 'Sequential', chain, ['in'], ['out']);
    inferShapes(graph);
    const conv = describeProducers(graph).find((p) => p.layer.name === 'conv')!;
    assert.strictEqual(conv.reason, 'its consumer dense takes 40 inputs, not 3 × 16');
  });
});
