import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs';
import { EpochReport, fineTune, PATIENCES_TO_STOP } from '../../../../src/core/train/fineTune';
import { registerWasmTrainingKernels } from '../../../../src/core/train/wasmKernels';
import { on, onWasmBackend, relativeDeviation, seeded } from '../../../helpers/tfjs';

describe('training on the wasm backend', () => {
  const wasm = onWasmBackend();

  it('registers its kernels once', () => {
    const registered = tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc;
    assert.ok(registered);
    registerWasmTrainingKernels(wasm.backend.tf);
    assert.strictEqual(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc, registered);
  });

  describe('Conv2DBackpropFilter', () => {
    type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
    const configs: { name: string; x: number[]; filter: number[]; strides: number | [number, number]; pad: Pad }[] = [
      { name: '1×1, valid', x: [2, 5, 6, 3], filter: [1, 1, 3, 4], strides: 1, pad: 'valid' },
      { name: '3×3, same', x: [3, 7, 6, 2], filter: [3, 3, 2, 5], strides: 1, pad: 'same' },
      { name: '3×3, stride 2, same', x: [2, 9, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
      { name: '3×3, stride 2, valid', x: [2, 9, 8, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'valid' },
      { name: '5×2, strides 2×1, explicit', x: [2, 11, 7, 4], filter: [5, 2, 4, 3], strides: [2, 1], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
      { name: '4×4, stride 3, same (uneven padding)', x: [1, 10, 10, 1], filter: [4, 4, 1, 6], strides: 3, pad: 'same' },
    ];
    for (const c of configs) {
      it(`equals the cpu wasm.backend's gradient: ${c.name}`, async () => {
        const x = seeded(c.x, 1);
        const filter = seeded(c.filter, 2);
        // A loss whose gradient dy varies over positions and channels.
        const weights = tf.tidy(() => tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, c.strides, c.pad));
        const weighting = seeded(weights.shape, 3);
        const gradient = () => tf.grad((f) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad), weighting)))(filter);
        const [wasm] = await on('wasm', gradient);
        const [cpu] = await on('cpu', gradient);
        await tf.setBackend('wasm');
        tf.dispose([x, filter, weights, weighting]);
        assert.ok(relativeDeviation(wasm, cpu) < 1e-5, `relative deviation ${relativeDeviation(wasm, cpu)}`);
      });
    }

    it("equals the cpu wasm.backend's kernel for NCHW data", async () => {
      const x = seeded([2, 3, 8, 7], 4);
      const dy = seeded([2, 5, 4, 4], 5);
      const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 5] };
      const kernel = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs);
      const [wasm] = await on('wasm', kernel);
      const [cpu] = await on('cpu', kernel);
      await tf.setBackend('wasm');
      tf.dispose([x, dy]);
      assert.ok(relativeDeviation(wasm, cpu) < 1e-5, `relative deviation ${relativeDeviation(wasm, cpu)}`);
    });

    it('dilation 2 is refused with a clear message (tfjs-core refuses it on every wasm.backend)', () => {
      const x = seeded([1, 8, 8, 2], 6) as tf.Tensor4D;
      const filter = seeded([3, 3, 2, 2], 7) as tf.Tensor4D;
      assert.throws(() => tf.grad((f) => tf.sum(tf.conv2d(x, f as tf.Tensor4D, 1, 'same', 'NHWC', 2)))(filter), /dilation rates greater than 1/);
      // The kernel itself, called with a dilations attribute tfjs-core never passes, refuses too.
      const dy = seeded([1, 8, 8, 2], 8);
      const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 2], dilations: 2 };
      assert.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs), /dilation rates other than 1 are not supported/);
      tf.dispose([x, filter, dy]);
    });
  });

  function smallCnn(seed: number): tf.LayersModel {
    const init = (offset: number) => tf.initializers.glorotUniform({ seed: seed + offset });
    return tf.sequential({
      layers: [
        // No bias before BatchNorm: its gradient would be zero up to rounding, nothing to compare.
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 6, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(0) }),
        tf.layers.batchNormalization(),
        tf.layers.reLU(),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid', kernelInitializer: init(1) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: init(2) }),
      ],
    });
  }

  /** Images whose class is the quadrant-pair (of three) with the largest mean of channel 0. */
  function imageClasses(samples: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
    const x = seeded([samples, 8, 8, 2], seed);
    const y = tf.tidy(() => {
      const channel = x.slice([0, 0, 0, 0], [samples, 8, 8, 1]);
      const top = channel.slice([0, 0, 0, 0], [samples, 4, 8, 1]).mean([1, 2, 3]);
      const left = channel.slice([0, 0, 0, 0], [samples, 8, 4, 1]).mean([1, 2, 3]);
      const bottomRight = channel.slice([0, 4, 4, 0], [samples, 4, 4, 1]).mean([1, 2, 3]);
      return tf.stack([top, left, bottomRight], 1).argMax(1).cast('float32');
    });
    return { x, y };
  }

  it("gives a CNN's training gradients (Conv2D, BatchNorm, ReLU, MaxPool, Dense) equal to the cpu wasm.backend's", async () => {
    await tf.setBackend('wasm');
    const model = smallCnn(10);
    const { x, y } = imageClasses(16, 11);
    const gradients = () => {
      const { grads } = tf.variableGrads(() =>
        tf.mean(tf.metrics.categoricalCrossentropy(tf.oneHot(y.cast('int32'), 3), model.apply(x, { training: true }) as tf.Tensor)),
      );
      return model.trainableWeights.map((w) => grads[w.originalName]);
    };
    const wasm = await on('wasm', gradients);
    const cpu = await on('cpu', gradients);
    await tf.setBackend('wasm');
    tf.dispose([x, y]);
    model.dispose();
    assert.strictEqual(wasm.length, 7);
    wasm.forEach((g, i) => assert.ok(relativeDeviation(g, cpu[i]) < 1e-4, `weight ${i}: relative deviation ${relativeDeviation(g, cpu[i])}`));
  });

  it('trains a small CNN: the loss decreases', async () => {
    await tf.setBackend('wasm');
    const model = smallCnn(20);
    const { x, y } = imageClasses(128, 21);
    const { history, outcome } = await fineTune(wasm.backend, model, { inputs: x, targets: y }, { epochs: 8, batchSize: 16, learningRate: 1e-2, seed: 1, loss: 'sparseCategoricalCrossentropy' });
    assert.strictEqual(tf.getBackend(), 'wasm');
    tf.dispose([x, y]);
    model.dispose();
    assert.strictEqual(outcome, 'completed');
    assert.strictEqual(history.length, 8);
    assert.ok(history[7].loss < 0.7 * history[0].loss, `loss ${history[0].loss} → ${history[7].loss}`);
  });

  it('trains a classifier that outputs logits on class indices (softmaxCrossEntropy): the validation loss is the cross-entropy and falls', async () => {
    await tf.setBackend('wasm');
    const x = seeded([240, 4], 50);
    const [valX] = [seeded([60, 4], 51)];
    // Three classes split by two directions of the input.
    const classes = (inputs: tf.Tensor): tf.Tensor => tf.tidy(() => {
      const [a, b] = tf.unstack(inputs, 1);
      return tf.where(a.greater(0.5), tf.fill(a.shape, 2), tf.where(b.greater(0.5), tf.fill(a.shape, 1), tf.zerosLike(a)));
    });
    const [y, valY] = [classes(x), classes(valX)];
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 16, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 52 }) }),
        tf.layers.dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 53 }) }),
      ],
    });
    const crossEntropy = (): number => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(valY.toInt(), 3), model.predict(valX) as tf.Tensor).dataSync()[0]);
    const initial = crossEntropy();
    const tensorsBefore = tf.memory().numTensors;
    const { history, outcome } = await fineTune(wasm.backend, model, { inputs: x, targets: y, valInputs: valX, valTargets: valY }, {
      epochs: 10, batchSize: 16, learningRate: 1e-2, seed: 1, loss: 'softmaxCrossEntropy', backOff: { patience: 3 },
    });
    assert.strictEqual(tf.memory().numTensors, tensorsBefore, 'fineTune leaves no tensors behind');
    const trained = crossEntropy();
    tf.dispose([x, valX, y, valY]);
    model.dispose();
    assert.notStrictEqual(outcome, 'aborted');
    assert.ok(history.length > 0);
    assert.ok(Math.abs(history[0].valLoss! - initial) > 0, 'the first epoch moved the loss');
    assert.ok(trained < 0.7 * initial, `cross-entropy ${initial} → ${trained}`);
    assert.ok(Math.min(...history.map((e) => e.valLoss!)) - trained < 1e-5 * trained, 'the best epoch is kept');
  });

  describe('fineTune on an MLP regression', () => {
    function mlp(seed: number): tf.LayersModel {
      return tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [3], units: 24, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
          tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
        ],
      });
    }

    /** A smooth teacher with outputs well away from zero, so relative MSE is meaningful. */
    function regression(samples: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
      const x = seeded([samples, 3], seed);
      const y = tf.tidy(() => {
        const [a, b, c] = tf.unstack(x, 1);
        return tf.stack([tf.sin(a).add(b.mul(c)).add(2), tf.tanh(b.sub(c)).mul(3).sub(1)], 1);
      });
      return { x, y };
    }

    let train: { x: tf.Tensor; y: tf.Tensor };
    let validation: { x: tf.Tensor; y: tf.Tensor };
    before(async () => {
      await tf.setBackend('wasm');
      train = regression(512, 30);
      validation = regression(128, 31);
    });
    after(() => tf.dispose([train.x, train.y, validation.x, validation.y]));

    const data = () => ({ inputs: train.x, targets: train.y, valInputs: validation.x, valTargets: validation.y });
    const options = { epochs: 12, batchSize: 32, learningRate: 1e-2, seed: 1, loss: 'mse' as const };

    it('reduces the validation error and reports every epoch', async () => {
      const model = mlp(40);
      const initialMse = tf.tidy(() => tf.squaredDifference(model.predict(validation.x) as tf.Tensor, validation.y).mean().dataSync()[0]);
      const tensorsBefore = tf.memory().numTensors;
      const reported: EpochReport[] = [];
      const { history, outcome } = await fineTune(wasm.backend, model, data(), { ...options, onEpoch: (e) => void reported.push(e) });
      assert.strictEqual(tf.memory().numTensors, tensorsBefore, 'fineTune leaves no tensors behind');
      model.dispose();
      assert.strictEqual(outcome, 'completed');
      assert.deepStrictEqual(reported, history);
      assert.deepStrictEqual(history.map((e) => e.epoch), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      for (const e of history) assert.ok(Number.isFinite(e.loss) && Number.isFinite(e.valLoss));
      const last = history[history.length - 1];
      // The validation loss is the validation MSE.
      assert.ok(last.valLoss! < 0.2 * initialMse, `validation MSE ${initialMse} → ${last.valLoss}`);
      assert.ok(last.valLoss! < history[0].valLoss!, `validation loss ${history[0].valLoss} → ${last.valLoss}`);
    });

    it('repeats exactly with the same seed; another seed orders the batches differently', async () => {
      const trainedWeights = async (seed: number): Promise<Float32Array[]> => {
        const model = mlp(44);
        await fineTune(wasm.backend, model, data(), { ...options, epochs: 2, seed });
        const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
        model.dispose();
        return weights;
      };
      const first = await trainedWeights(7);
      assert.deepStrictEqual(await trainedWeights(7), first);
      assert.notDeepStrictEqual(await trainedWeights(8), first);
    });

    it('with a back-off, halves the rate after each `patience` epochs without a better validation loss and stops after PATIENCES_TO_STOP of them, keeping the best weights', async () => {
      const model = mlp(45);
      const start = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      // A rate so large that no epoch beats the start: the plateau begins at once.
      const patience = 2;
      const { history, outcome, bestEpoch, learningRate } = await fineTune(wasm.backend, model, data(), { ...options, epochs: 30, learningRate: 50, backOff: { patience } });
      const end = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      model.dispose();
      assert.strictEqual(outcome, 'stopped');
      // Training went on through the worse epochs (it did not stop at the first `patience` of them)…
      assert.strictEqual(history.length, PATIENCES_TO_STOP * patience);
      // …with the rate halved once per `patience` epochs before the last.
      assert.strictEqual(learningRate, 50 / 2 ** (PATIENCES_TO_STOP - 1));
      assert.strictEqual(bestEpoch, 0);
      assert.deepStrictEqual(end, start, 'the best weights (the start) are restored');
    });

    it('with a back-off, the first `steadyEpochs` keep the rate and do not count towards the plateau', async () => {
      const model = mlp(45);
      const patience = 2;
      const steadyEpochs = 4;
      // Plain SGD at a rate that sends the weights to NaN: no epoch can beat the start, steady or not
      // (Adam at a large rate can recover while the rate stays, which is the point of the steady epochs).
      const { history, outcome, bestEpoch, learningRate } = await fineTune(wasm.backend, model, data(), {
        ...options, optimizer: 'sgd', epochs: 30, learningRate: 1e30, backOff: { patience, steadyEpochs },
      });
      model.dispose();
      assert.strictEqual(outcome, 'stopped');
      assert.strictEqual(history.length, steadyEpochs + PATIENCES_TO_STOP * patience);
      assert.strictEqual(learningRate, 1e30 / 2 ** (PATIENCES_TO_STOP - 1));
      assert.strictEqual(bestEpoch, 0);
    });

    it('with a back-off, a better epoch resets the plateau: a good rate trains to the end', async () => {
      const model = mlp(46);
      const { history, outcome, bestEpoch } = await fineTune(wasm.backend, model, data(), { ...options, epochs: 8, backOff: { patience: 2 } });
      model.dispose();
      assert.strictEqual(outcome, 'completed');
      assert.strictEqual(history.length, 8);
      assert.ok(bestEpoch! >= 7, `best epoch ${bestEpoch}`);
    });

    it("stops after the epoch whose report returns 'stop'", async () => {
      const model = mlp(41);
      const { history, outcome } = await fineTune(wasm.backend, model, data(), { ...options, onEpoch: (e) => (e.epoch === 3 ? 'stop' : undefined) });
      model.dispose();
      assert.strictEqual(outcome, 'stopped');
      assert.strictEqual(history.length, 3);
    });

    it('stops between batches when the signal aborts, without reporting the unfinished epoch', async () => {
      const model = mlp(42);
      const before = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      // A signal that reads as aborted from its 5th check on: fineTune checks once before training and
      // once after every batch, so training stops after batch 4 of 16 in the first epoch.
      let checks = 0;
      const signal = { get aborted() { return ++checks >= 5; } } as AbortSignal;
      const { history, outcome } = await fineTune(wasm.backend, model, data(), { ...options, signal });
      const after = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      model.dispose();
      assert.strictEqual(outcome, 'aborted');
      assert.deepStrictEqual(history, []);
      assert.strictEqual(checks, 5);
      assert.notDeepStrictEqual(after, before, 'the batches before the abort were trained');
    });

    it('does not train when the signal is already aborted', async () => {
      const model = mlp(43);
      const before = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      const controller = new AbortController();
      controller.abort();
      const { history, outcome } = await fineTune(wasm.backend, model, data(), { ...options, signal: controller.signal });
      const after = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
      model.dispose();
      assert.strictEqual(outcome, 'aborted');
      assert.deepStrictEqual(history, []);
      assert.deepStrictEqual(after, before);
    });
  });
});
