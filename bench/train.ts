/**
 * Training speed: one epoch of fineTune on small CNNs (Conv2D, BatchNorm, ReLU, MaxPool, Dense), on the
 * wasm backend (with the Conv2DBackpropFilter kernel of src/core/train/wasmKernels.ts) and on tfjs-cpu.
 *
 * Run: npm run bench:train -- [--runs N]      (times are the best of N epochs after a warm-up, default 3)
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../src/core/compute/backend';
import { normalSamples } from '../src/core/data/random';
import { fineTune } from '../src/core/train/fineTune';

const BATCH_SIZE = 32;
const CLASSES = 4;

interface Case {
  name: string;
  imageSize: number;
  filters: [number, number];
  /** Samples per epoch: fewer for the larger model, whose cpu epochs are slow. */
  samples: number;
}

const CASES: Case[] = [
  // The shape of examples/small-cnn.
  { name: 'small-cnn 12×12×1, 8/16 filters', imageSize: 12, filters: [8, 16], samples: 1024 },
  { name: 'cnn 28×28×1, 32/64 filters', imageSize: 28, filters: [32, 64], samples: 256 },
];

function cnn(c: Case): tf.LayersModel {
  let seed = 1;
  const init = () => tf.initializers.glorotUniform({ seed: seed++ });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [c.imageSize, c.imageSize, 1], filters: c.filters[0], kernelSize: 3, padding: 'same', kernelInitializer: init() }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: c.filters[1], kernelSize: 3, kernelInitializer: init() }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init() }),
      tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

/** Best time of `runs` one-epoch fineTune calls (after one warm-up epoch) on the active backend, in ms. */
async function epochMs(c: Case, runs: number): Promise<number> {
  const backend = await loadBackend(tf.getBackend() as 'wasm' | 'cpu');
  const model = cnn(c);
  const x = tf.tensor(normalSamples(c.samples * c.imageSize * c.imageSize, 2), [c.samples, c.imageSize, c.imageSize, 1]);
  const y = tf.tensor1d(Array.from({ length: c.samples }, (_, i) => i % CLASSES));
  const options = { epochs: 1, batchSize: BATCH_SIZE, learningRate: 1e-3, seed: 1, loss: 'sparseCategoricalCrossentropy' as const };
  await fineTune(backend, model, { inputs: x, targets: y }, options);
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const started = performance.now();
    await fineTune(backend, model, { inputs: x, targets: y }, options);
    best = Math.min(best, performance.now() - started);
  }
  tf.dispose([x, y]);
  model.dispose();
  return best;
}

async function main(): Promise<void> {
  const runsFlag = process.argv.indexOf('--runs');
  const runs = runsFlag >= 0 ? Number(process.argv[runsFlag + 1]) : 3;
  console.log(`One epoch, batch ${BATCH_SIZE}, Adam (best of ${runs})`);
  console.log('| model | samples | wasm | cpu | speedup |');
  console.log('|---|---:|---:|---:|---:|');
  for (const c of CASES) {
    await loadBackend('wasm');
    const wasm = await epochMs(c, runs);
    await loadBackend('cpu');
    const cpu = await epochMs(c, runs);
    console.log(`| ${c.name} | ${c.samples} | ${wasm.toFixed(0)} ms | ${cpu.toFixed(0)} ms | ${(cpu / wasm).toFixed(1)}× |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
