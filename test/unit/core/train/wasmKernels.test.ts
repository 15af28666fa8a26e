import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { fineTune } from '../../../../src/core/train/fineTune';
import { registerWasmTrainingKernels } from '../../../../src/core/train/wasmKernels';
import { on, onWasmBackend, relativeDeviation, seeded } from '../../../helpers/tfjs';

describe('depthwise-convolution training kernels on the wasm backend', () => {
  const wasm = onWasmBackend();

  it('registers both depthwise gradients, once', () => {
    for (const name of ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      const registered = tf.getKernel(name, 'wasm')?.kernelFunc;
      assert.ok(registered, name);
      registerWasmTrainingKernels(wasm.backend.tf);
      assert.strictEqual(tf.getKernel(name, 'wasm')?.kernelFunc, registered);
    }
  });

  type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
  const configs: { name: string; x: number[]; filter: number[]; strides: number | [number, number]; pad: Pad }[] = [
    { name: '3×3, same', x: [2, 7, 6, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same' },
    { name: '3×3, valid', x: [2, 7, 6, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'valid' },
    { name: '3×3, stride 2, same (MobileNetV2 down-sampling)', x: [2, 9, 8, 4], filter: [3, 3, 4, 1], strides: 2, pad: 'same' },
    { name: '3×3, stride 2, valid (rows no window reaches)', x: [2, 10, 9, 2], filter: [3, 3, 2, 1], strides: 2, pad: 'valid' },
    { name: '4×2, strides 3×1, depth multiplier 3, same', x: [1, 11, 7, 2], filter: [4, 2, 2, 3], strides: [3, 1], pad: 'same' },
    { name: '5×3, stride 2, explicit padding, multiplier 2', x: [2, 9, 9, 3], filter: [5, 3, 3, 2], strides: 2, pad: [[0, 0], [2, 1], [0, 2], [0, 0]] },
  ];
  for (const c of configs) {
    it(`filter and input gradients equal the cpu wasm.backend's: ${c.name}`, async () => {
      const x = seeded(c.x, 1) as tf.Tensor4D;
      const filter = seeded(c.filter, 2) as tf.Tensor4D;
      // A loss whose gradient dy varies over positions and channels.
      const shape = tf.tidy(() => tf.depthwiseConv2d(x, filter, c.strides, c.pad).shape);
      const weighting = seeded(shape, 3);
      const gradients = () => tf.grads((xs, f) => tf.sum(tf.mul(tf.depthwiseConv2d(xs as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad), weighting)))([x, filter]);
      const wasm = await on('wasm', gradients);
      const cpu = await on('cpu', gradients);
      await tf.setBackend('wasm');
      tf.dispose([x, filter, weighting]);
      ['input', 'filter'].forEach((what, i) => assert.ok(relativeDeviation(wasm[i], cpu[i]) < 1e-5, `${what}: relative deviation ${relativeDeviation(wasm[i], cpu[i])}`));
    });
  }

  it('refuses dilation with a clear message when called with it directly (tfjs-core never passes it)', () => {
    const x = seeded([1, 6, 6, 2], 4);
    const dy = seeded([1, 6, 6, 2], 5);
    const filter = seeded([3, 3, 2, 1], 6);
    const attrs = { strides: 1, pad: 'same', dilations: 2 };
    assert.throws(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: [3, 3, 2, 1] }), /dilation rates other than 1/);
    assert.throws(() => tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...attrs, inputShape: [1, 6, 6, 2] }), /dilation rates other than 1/);
    tf.dispose([x, dy, filter]);
  });

  /** An inverted-residual block as MobileNetV2 has it: expand 1×1 → depthwise 3×3 → project 1×1, ReLU6, BatchNorm, residual Add. */
  function invertedResidualNet(seed: number): tf.LayersModel {
    const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
    const input = tf.input({ shape: [8, 8, 2] });
    const conv = (x: tf.SymbolicTensor, filters: number, kernelSize: number, strides: number, offset: number) =>
      tf.layers.batchNormalization().apply(tf.layers.conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init(offset) }).apply(x)) as tf.SymbolicTensor;
    const relu6 = (x: tf.SymbolicTensor) => tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    const stem = relu6(conv(input, 4, 3, 2, 0));
    let y = relu6(conv(stem, 12, 1, 1, 1));
    y = relu6(tf.layers.batchNormalization().apply(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init(2) }).apply(y)) as tf.SymbolicTensor);
    y = conv(y, 4, 1, 1, 3);
    const sum = tf.layers.add().apply([stem, y]) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(sum) as tf.SymbolicTensor;
    const output = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(4) }).apply(pooled) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: output });
  }

  it("gives an inverted-residual block's training gradients equal to the cpu wasm.backend's", async () => {
    await tf.setBackend('wasm');
    const model = invertedResidualNet(10);
    const x = seeded([12, 8, 8, 2], 11);
    const labels = tf.tensor1d(Array.from({ length: 12 }, (_, i) => i % 3), 'int32');
    const gradients = () => {
      const { grads } = tf.variableGrads(() =>
        tf.mean(tf.metrics.categoricalCrossentropy(tf.oneHot(labels, 3), model.apply(x, { training: true }) as tf.Tensor)),
      );
      return model.trainableWeights.map((w) => grads[w.originalName]);
    };
    const wasm = await on('wasm', gradients);
    const cpu = await on('cpu', gradients);
    await tf.setBackend('wasm');
    tf.dispose([x, labels]);
    model.dispose();
    // 4 convolutions, 4 BatchNorms (γ, β), dense kernel and bias.
    assert.strictEqual(wasm.length, 4 + 8 + 2);
    wasm.forEach((g, i) => assert.ok(relativeDeviation(g, cpu[i]) < 1e-4, `weight ${i}: relative deviation ${relativeDeviation(g, cpu[i])}`));
  });

  it('trains the inverted-residual block with fineTune: the loss decreases', async () => {
    await tf.setBackend('wasm');
    const model = invertedResidualNet(20);
    const x = seeded([96, 8, 8, 2], 21);
    // Class: which third of the image (by rows) holds the largest mean of channel 0.
    const y = tf.tidy(() => tf.stack([0, 1, 2].map((t) => x.slice([0, t * 2, 0, 0], [96, 4, 8, 1]).mean([1, 2, 3])), 1).argMax(1).cast('float32'));
    const { history } = await fineTune(wasm.backend, model, { inputs: x, targets: y }, { epochs: 10, batchSize: 16, learningRate: 1e-2, seed: 1, loss: 'sparseCategoricalCrossentropy' });
    tf.dispose([x, y]);
    model.dispose();
    assert.strictEqual(history.length, 10);
    assert.ok(history[9].loss < 0.8 * history[0].loss, `loss ${history[0].loss} → ${history[9].loss}`);
  });
});
