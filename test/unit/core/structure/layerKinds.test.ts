/**
 * The table of layer kinds: class names and op types from files never reach Object.prototype (an
 * ONNX op or a Keras class called "constructor" is a kind the engine does not know, handled as any
 * other), every kind carries what its channel role needs, its output-shape rule agrees with the
 * layer the embedded trainer builds for it, and a kind either trains in both trainers or says why not.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { GraphEvaluator } from '../../../../src/core/compute/evaluator';
import { openModel } from '../../../../src/core/formats/index';
import { LayerNode, makeGraph } from '../../../../src/core/model/graph';
import { NamedWeight, sizeOf } from '../../../../src/core/model/tensor';
import { activationLayer, inferShapes, isCondensable, layerKind, layerKinds, onnxOpKinds, passesChannels } from '../../../../src/core/structure/layerKinds';
import { describeProducers } from '../../../../src/core/structure/producers';
import { TRAINABLE_KINDS } from '../../../../src/core/train/layers';
import { tempDir } from '../../../helpers/models';
import { useCpu } from '../../../helpers/tfjs';

const PROTOTYPE_NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];

describe('the table of layer kinds', function () {
  let root: string;
  before(async () => {
    root = await tempDir();
  });

  it('names of Object.prototype members are no kind and no ONNX op the engine knows', () => {
    for (const name of PROTOTYPE_NAMES) {
      assert.strictEqual(layerKind(name), undefined, name);
      assert.strictEqual(onnxOpKinds(name), undefined, name);
      const layer: LayerNode = { name: 'odd', className: name, config: {}, inbound: [], outbound: [], shared: false, weights: new Map(), outputShape: null };
      assert.deepStrictEqual([isCondensable(layer), passesChannels(layer), activationLayer(layer)], [false, false, undefined], name);
    }
  });

  it('an ONNX node whose op type is "constructor" (or another Object.prototype member) is read as any op the engine does not know', async () => {
    const original = path.resolve(__dirname, '..', '..', '..', 'fixtures', 'onnx', 'mlp.onnx');
    for (const op of PROTOTYPE_NAMES) {
      const model = onnx.ModelProto.decode(await fs.readFile(original));
      model.graph!.node!.find((n) => n.name === '/1/Relu')!.opType = op;
      const file = path.join(root, `${op}.onnx`);
      await fs.writeFile(file, onnx.ModelProto.encode(model).finish());
      const { graph } = await openModel(file);
      assert.strictEqual(graph.byName.get('/1/Relu')!.className, op);
      const gemm = describeProducers(graph).find((p) => p.layer.name === '/0/Gemm')!;
      assert.strictEqual(gemm.reason, `feeds ${op} (/1/Relu), which is not analysed`);
    }
  });

  it('a Keras layer of class "constructor" stops the walk and the evaluator with a reason naming it', async () => {
    const weight = (name: string, shape: number[]): NamedWeight => ({ name, shape, dtype: 'float32', data: new Float32Array(sizeOf(shape)).fill(0.5), storage: 'float32' });
    const node = (name: string, className: string, config: Record<string, unknown>, kernel?: number[]): LayerNode => ({
      name, className, config, inbound: [], outbound: [], shared: false, weights: new Map(kernel ? [['kernel', weight(`${name}/kernel`, kernel)]] : []), outputShape: null,
    });
    const chain = [
      node('in', 'InputLayer', { batch_input_shape: [null, 3] }),
      node('dense', 'Dense', { units: 4, activation: 'relu' }, [3, 4]),
      node('odd', 'constructor', {}),
      node('out', 'Dense', { units: 1 }, [4, 1]),
    ];
    chain.slice(1).forEach((layer, i) => {
      layer.inbound.push(chain[i].name);
      chain[i].outbound.push(layer.name);
    });
    const graph = makeGraph('hand-made', 'Sequential', chain, ['in'], ['out']);
    inferShapes(graph);
    assert.strictEqual(describeProducers(graph).find((p) => p.layer.name === 'dense')!.reason, 'feeds constructor (odd), which is not analysed');
    const evaluator = new GraphEvaluator(graph, { shape: [2, 3], data: new Float64Array(6).fill(1) });
    assert.deepStrictEqual(await evaluator.output('out'), { unsupported: 'constructor (odd) is not evaluated on calibration data' });
    assert.deepStrictEqual(await evaluator.output('dense'), { shape: [2, 4], data: new Float64Array(8).fill(1.5) });
  });

  it('every kind carries what its channel role needs', () => {
    const seen = new Set<string>();
    for (const kind of layerKinds()) {
      assert.ok(!seen.has(kind.className), `${kind.className} twice`);
      seen.add(kind.className);
      if (kind.channels === 'producer') assert.ok(kind.widthKey && kind.kernelRank && kind.weights.includes('kernel'), kind.className);
      if (kind.channels === 'activation') assert.ok(kind.activation, `${kind.className} has no activation function`);
      // What the walk follows to a consumer, the evaluator must compute, or data-aware steps stop there.
      if (['producer', 'batchNorm', 'activation', 'identity', 'flatten', 'add', 'concatenate', 'depthwise', 'softmax'].includes(kind.channels)) {
        assert.ok(kind.kernel, `${kind.className} has no kernel`);
      }
      for (const op of [...(kind.onnx?.byAttributes?.keys() ?? []), ...(kind.onnx?.ops ?? [])]) {
        assert.ok(onnxOpKinds(op)!.kinds.includes(kind), `${op} does not name ${kind.className}`);
      }
    }
  });

  const image = [6, 6, 4];
  // A sample layer of each trainable kind: its config, weight roles and input shapes (one sample's).
  const samples = new Map<string, { config: Record<string, unknown>; roles?: string[]; inputs?: number[][] }>([
    ['Dense', { config: { units: 3, activation: 'linear' }, roles: ['kernel', 'bias'], inputs: [[5]] }],
    ['Conv2D', { config: { filters: 3, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'linear' }, roles: ['kernel', 'bias'] }],
    ['DepthwiseConv2D', { config: { kernel_size: [3, 2], depth_multiplier: 2, padding: 'valid', activation: 'linear' }, roles: ['depthwise_kernel'] }],
    ['BatchNormalization', { config: {}, roles: ['gamma', 'beta', 'moving_mean', 'moving_variance'] }],
    ['Activation', { config: { activation: 'tanh' } }],
    ['ReLU', { config: {} }],
    ['LeakyReLU', { config: { alpha: 0.1 } }],
    ['ELU', { config: { alpha: 1 } }],
    ['Softmax', { config: {} }],
    ['Dropout', { config: { rate: 0.1 } }],
    ['SpatialDropout1D', { config: { rate: 0.1 } }],
    ['SpatialDropout2D', { config: { rate: 0.1 } }],
    ['GaussianNoise', { config: { stddev: 0.1 } }],
    ['GaussianDropout', { config: { rate: 0.1 } }],
    ['AlphaDropout', { config: { rate: 0.1 } }],
    ['MaxPooling2D', { config: { pool_size: [2, 2], padding: 'valid' } }],
    ['AveragePooling2D', { config: { pool_size: [3, 3], strides: [2, 2], padding: 'same' } }],
    ['GlobalAveragePooling2D', { config: { keepdims: true } }],
    ['GlobalMaxPooling2D', { config: {} }],
    ['ZeroPadding2D', { config: { padding: [[1, 2], [0, 1]] } }],
    ['Flatten', { config: {} }],
    ['Add', { config: {}, inputs: [image, image] }],
    ['Concatenate', { config: { axis: -1 }, inputs: [image, [6, 6, 2]] }],
  ]);

  /** The sample layer of a trainable kind, and its input shapes. */
  function sampleOf(className: string): { node: LayerNode; inputShapes: number[][] } {
    const sample = samples.get(className);
    assert.ok(sample, `no sample layer of ${className} here`);
    const weights = new Map((sample.roles ?? []).map((role): [string, NamedWeight] => [role, { name: role, shape: [1], dtype: 'float32', data: new Float32Array(1), storage: 'float32' }]));
    const node: LayerNode = { name: 'sample', className, config: sample.config, inbound: [], outbound: [], shared: false, weights, outputShape: null };
    return { node, inputShapes: sample.inputs ?? [image] };
  }

  it('every trainable kind\'s output-shape rule gives the shape of the tfjs layer the trainer builds', async () => {
    await useCpu();
    for (const kind of layerKinds()) {
      const trainer = TRAINABLE_KINDS.get(kind.className);
      if (!trainer) continue;
      const { node, inputShapes } = sampleOf(kind.className);
      const built = trainer.build(tf, node, inputShapes.map((shape) => tf.input({ shape })));
      assert.deepStrictEqual(kind.outputShape(node, inputShapes), built.output.shape.slice(1), kind.className);
    }
  });

  it('every kind has an output-shape rule, and a builder in the embedded trainer and an op the PyTorch script builds, or a stated reason it has none', async () => {
    const script = await fs.readFile(path.resolve(__dirname, '..', '..', '..', '..', 'python', 'condense_train.py'), 'utf8');
    // The ops build_network compares a node's op with: `op == "dense"`, `op in ("conv2d", "depthwise")`.
    const scriptOps = new Set([...script.matchAll(/\bop (?:==|in) (\([^)]*\)|"\w+")/g)].flatMap((m) => [...m[1].matchAll(/"(\w+)"/g)].map((q) => q[1])));
    assert.ok(scriptOps.has('dense') && scriptOps.has('conv2d'), `the script's ops were not found: ${[...scriptOps].join(', ')}`);
    for (const kind of layerKinds()) {
      assert.strictEqual(typeof kind.outputShape, 'function', `${kind.className} has no output-shape rule`);
      const trainer = TRAINABLE_KINDS.get(kind.className);
      if (trainer) {
        assert.strictEqual(kind.notTrainable, undefined, `${kind.className} has a trainer builder, yet says it is not trainable`);
        assert.strictEqual(typeof trainer.pytorch, 'function', `${kind.className} has a trainer builder but no PyTorch description`);
        const { node, inputShapes } = sampleOf(kind.className);
        const { op } = trainer.pytorch(node, inputShapes[0].length + 1);
        assert.ok(scriptOps.has(op), `${kind.className} is described to the PyTorch script as ${op}, an op condense_train.py does not build`);
      } else {
        assert.ok(kind.notTrainable?.trim(), `${kind.className} has neither a trainer builder nor a reason it is not trainable`);
      }
    }
  });
});
