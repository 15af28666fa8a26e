/**
 * The paper's CNN experiment, our way: a MobileNetV2-style network (inverted residual blocks: expand
 * 1×1 → depthwise 3×3 → project 1×1, BatchNorm, ReLU6, residual Adds) trained normally on
 * Fashion-MNIST (CIFAR-10 is not reachable offline), then reduced by condense–retrain rounds and, on
 * the same budget, by the L1-norm baseline (see experiment.ts).
 *
 *   apt-get install -y dataset-fashion-mnist
 *   npx tsx bench/paper/fashion.ts [--out DIR] [--results FILE] [--rounds R] [--epochs E] [--thresholds T1,T2,…] [--lr LR] [--resume]
 *
 * (defaults: 4 rounds at γ 0.5, 0.4, 0.3, 0.2 — similarity on weights, this normally trained network
 * barely condenses above 0.6 —, 2 epochs at 5e-4 per round)
 *
 * To keep the run within about half an hour on two cores, the network trains on a fixed subset of the
 * training images (FULL_SIZES.train, the first ones of the file) and is validated on the first
 * FULL_SIZES.val images of the test set.
 * Writes into DIR (default bench/paper/out/fashion): calibration images, the original (original/),
 * every round's models and results.json, which bench/paper/figures.ts plots.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import type * as TF from '@tensorflow/tfjs';
import { Backend, loadBackend } from '../../src/core/compute/backend';
import { EpochReport, fineTune } from '../../src/core/train/fineTune';
import { pytorchTrainer } from '../../src/core/train/pytorchTrainer';
import type { Trainer } from '../../src/core/train/trainer';
import { flag, runFlags } from './args';
import { evaluate, LabelledData, loadLayersModel, saveLayersModel, writeNpy } from './common';
import { format, needsOriginal, runInFolder, trainFile } from './experiment';

export const FASHION_DIR = '/usr/share/datasets/fashion-mnist';
const IMAGE_SIZE = 28;
const CLASSES = 10;

/** Images scaled to [0, 1], channels-last [count, 28, 28, 1], and their labels. */
export interface ImageSet {
  images: Float32Array;
  labels: Float32Array;
  count: number;
}

/** Parses an IDX image file and its label file (gzipped or not), keeping the first `limit` items. */
export function parseIdx(imageBytes: Uint8Array, labelBytes: Uint8Array, limit = Infinity): ImageSet {
  const images = Buffer.from(isGzip(imageBytes) ? gunzipSync(imageBytes) : imageBytes);
  const labels = Buffer.from(isGzip(labelBytes) ? gunzipSync(labelBytes) : labelBytes);
  if (images.length < 16 || images.readUInt32BE(0) !== 0x803) throw new Error('not an IDX image file (magic 0x00000803)');
  if (labels.length < 8 || labels.readUInt32BE(0) !== 0x801) throw new Error('not an IDX label file (magic 0x00000801)');
  const [total, rows, cols] = [images.readUInt32BE(4), images.readUInt32BE(8), images.readUInt32BE(12)];
  if (labels.readUInt32BE(4) !== total) throw new Error(`${total} images but ${labels.readUInt32BE(4)} labels`);
  if (images.length !== 16 + total * rows * cols || labels.length !== 8 + total) throw new Error('the IDX files are truncated');
  const count = Math.min(total, limit);
  const pixels = rows * cols;
  return {
    images: Float32Array.from(images.subarray(16, 16 + count * pixels), (v) => v / 255),
    labels: Float32Array.from(labels.subarray(8, 8 + count)),
    count,
  };
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export async function readFashion(split: 'train' | 't10k', limit = Infinity, dir = FASHION_DIR): Promise<ImageSet> {
  const read = (kind: string) =>
    fs.readFile(path.join(dir, `${split}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte.gz`)).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`Fashion-MNIST not found in ${dir} (${e.code}): apt-get install -y dataset-fashion-mnist`);
    });
  return parseIdx(await read('images'), await read('labels'), limit);
}

export interface MobileNetShape {
  imageSize: number;
  channels: number;
  stem: number;
  /** Per inverted residual block: expansion factor, output channels, stride. */
  blocks: [expansion: number, filters: number, stride: number][];
  /** The 1×1 convolution before global pooling (MobileNetV2's Conv_1). */
  head: number;
  classes: number;
}

export const FASHION_NET: MobileNetShape = {
  imageSize: IMAGE_SIZE,
  channels: 1,
  stem: 16,
  blocks: [[1, 8, 1], [6, 16, 2], [6, 16, 1], [6, 32, 2], [6, 32, 1]],
  head: 128,
  classes: CLASSES,
};

/**
 * MobileNetV2's structure at a small scale: stem conv (stride 2) → inverted residual blocks (the
 * expansion 1×1 omitted where the factor is 1; a residual Add where shape is kept) → Conv_1 →
 * global average pooling → softmax. BatchNorm after every convolution, ReLU6 but after projections.
 */
export function mobileNetV2(tf: typeof TF, shape: MobileNetShape, seed: number): TF.LayersModel {
  let next = seed;
  const init = () => tf.initializers.heNormal({ seed: next++ });
  // Momentum below Keras' 0.99: a few hundred steps per epoch must leave settled moving statistics.
  const bn = (name: string, x: TF.SymbolicTensor) => tf.layers.batchNormalization({ name: `${name}_bn`, momentum: 0.9 }).apply(x) as TF.SymbolicTensor;
  const relu6 = (name: string, x: TF.SymbolicTensor) => tf.layers.reLU({ name: `${name}_relu`, maxValue: 6 }).apply(x) as TF.SymbolicTensor;
  const conv = (name: string, x: TF.SymbolicTensor, filters: number, kernelSize: number, strides = 1) =>
    bn(name, tf.layers.conv2d({ name, filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: init() }).apply(x) as TF.SymbolicTensor);
  const input = tf.input({ shape: [shape.imageSize, shape.imageSize, shape.channels], name: 'image' });
  let x = relu6('stem', conv('stem', input, shape.stem, 3, 2));
  let channels = shape.stem;
  shape.blocks.forEach(([expansion, filters, stride], b) => {
    const name = `block${b + 1}`;
    let y = x;
    if (expansion !== 1) y = relu6(`${name}_expand`, conv(`${name}_expand`, y, channels * expansion, 1));
    const depthwise = tf.layers.depthwiseConv2d({ name: `${name}_dw`, kernelSize: 3, strides: stride, padding: 'same', useBias: false, depthwiseInitializer: init() });
    y = relu6(`${name}_dw`, bn(`${name}_dw`, depthwise.apply(y) as TF.SymbolicTensor));
    y = conv(`${name}_project`, y, filters, 1);
    x = stride === 1 && filters === channels ? (tf.layers.add({ name: `${name}_add` }).apply([x, y]) as TF.SymbolicTensor) : y;
    channels = filters;
  });
  x = relu6('head', conv('head', x, shape.head, 1));
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as TF.SymbolicTensor;
  const output = tf.layers.dense({ name: 'classes', units: shape.classes, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: next++ }) }).apply(x) as TF.SymbolicTensor;
  return tf.model({ name: 'mobilenet_v2_fashion', inputs: input, outputs: output });
}

/**
 * Over-parameterised for Fashion-MNIST: FASHION_NET's stem and first five blocks, then MobileNetV2's last
 * three stages at its own width (expansion 6: 96 channels twice, 160 twice, 320 once) and its 1280-channel
 * Conv_1 — 1.53 M parameters (the paper's CIFAR-10 MobileNetV2 has 2.24 M). The spatial size goes
 * 14, 7, 4, 2 and 1 from the stem on; the width sits where the maps are smallest, so a training epoch of
 * all 60 000 images costs about half of MobileNetV2's full stages (2.9 M multiply-adds an image, not 5.6 M).
 */
export const FASHION_NET_WIDE: MobileNetShape = {
  imageSize: IMAGE_SIZE,
  channels: 1,
  stem: 16,
  blocks: [[1, 8, 1], [6, 16, 2], [6, 16, 1], [6, 32, 2], [6, 32, 1], [6, 96, 2], [6, 96, 1], [6, 160, 2], [6, 160, 1], [6, 320, 1]],
  head: 1280,
  classes: CLASSES,
};

export interface FashionSizes {
  train: number;
  val: number;
  calibration: number;
  /** Training of the original: [learning rate, epochs] stages. */
  schedule: [number, number][];
  batchSize: number;
}

export const FULL_SIZES: FashionSizes = { train: 8000, val: 5000, calibration: 512, schedule: [[2e-3, 6], [5e-4, 2]], batchSize: 64 };

/** --full: every training image and every test image, for FASHION_NET_WIDE (with the PyTorch trainer). */
export const ALL_IMAGES: FashionSizes = { train: 60000, val: 10000, calibration: 512, schedule: [[2e-3, 1], [5e-4, 1]], batchSize: 128 };

function tensors(tf: typeof TF, set: ImageSet): LabelledData {
  return { inputs: tf.tensor4d(set.images, [set.count, IMAGE_SIZE, IMAGE_SIZE, 1]), targets: tf.tensor1d(set.labels) };
}

/** What trains the original: the network and, without the embedded trainer, the Trainer that trains it. */
export interface FashionRun {
  sizes: FashionSizes;
  net: MobileNetShape;
  trainer?: Trainer;
}

/** Trains the original on the training images; returns its model.json. Also writes the calibration images. */
export async function prepareFashion(backend: Backend, dir: string, train: ImageSet, val: ImageSet, run: FashionRun, log: (line: string) => void): Promise<string> {
  const { tf } = backend;
  const { sizes } = run;
  // Calibration: unlabelled training images the network was trained on, evenly spread.
  const step = Math.floor(train.count / sizes.calibration);
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  const calibration = new Float32Array(sizes.calibration * pixels);
  for (let i = 0; i < sizes.calibration; i++) calibration.set(train.images.subarray(i * step * pixels, (i * step + 1) * pixels), i * pixels);
  await writeNpy(path.join(dir, 'calibration.npy'), calibration, [sizes.calibration, IMAGE_SIZE, IMAGE_SIZE, 1]);
  let model = mobileNetV2(tf, run.net, 1);
  const [trainData, valData] = [tensors(tf, train), tensors(tf, val)];
  try {
    log(`original: ${model.countParams()} parameters, trained by ${run.trainer?.label ?? `embedded tfjs (${backend.label})`}`);
    let file = run.trainer ? await saveLayersModel(tf, model, path.join(dir, 'initial')) : '';
    for (const [stage, [learningRate, epochs]] of sizes.schedule.entries()) {
      const started = Date.now();
      const training = {
        seed: 20 + stage, epochs, batchSize: sizes.batchSize, learningRate, loss: 'sparseCategoricalCrossentropy' as const,
        onEpoch: (r: EpochReport) => log(`  stage ${stage + 1} (lr ${learningRate}) epoch ${r.epoch}: train loss ${r.loss.toFixed(4)}${r.valLoss === undefined ? '' : `, validation loss ${r.valLoss.toFixed(4)}`}`),
      };
      if (run.trainer) {
        // Each stage's result in its own folder, so a stopped run keeps the stages it finished.
        const trainerData = { trainX: trainData.inputs, trainY: trainData.targets, valX: valData.inputs, valY: valData.targets };
        const last = stage === sizes.schedule.length - 1;
        file = await trainFile(run.trainer, file, trainerData, training, path.join(dir, last ? 'original' : `stage-${stage + 1}`));
        model.dispose();
        model = await loadLayersModel(tf, file);
      } else {
        await fineTune(backend, model, trainData, training);
      }
      log(`  after stage ${stage + 1} (${((Date.now() - started) / 60000).toFixed(1)} min): validation accuracy ${format('accuracy', evaluate(model, valData, 'accuracy'))}`);
    }
    return run.trainer ? file : await saveLayersModel(tf, model, path.join(dir, 'original'));
  } finally {
    tf.dispose([trainData.inputs, trainData.targets, valData.inputs, valData.targets]);
    model.dispose();
  }
}

async function main(): Promise<void> {
  const flags = runFlags('fashion', { thresholds: '0.5,0.4,0.3,0.2', rounds: 4, epochs: 2, learningRate: 5e-4 });
  const { dir, log } = flags;
  const target = flag('--target-ratio');
  const full = process.argv.includes('--full');
  const trainerName = flag('--trainer') ?? 'embedded';
  if (trainerName !== 'embedded' && trainerName !== 'pytorch') throw new Error(`--trainer embedded or pytorch, not "${trainerName}"`);
  const backend = await loadBackend('wasm');
  const trainer = trainerName === 'pytorch' ? await pytorchTrainer({ python: flag('--python'), device: 'cpu', workers: Number(flag('--workers') ?? 1) }) : undefined;
  const sizes = full ? ALL_IMAGES : FULL_SIZES;
  const [train, val] = [await readFashion('train', sizes.train), await readFashion('t10k', sizes.val)];
  log(`Fashion-MNIST: ${train.count} training images (of 60000), ${val.count} validation images (of the 10000 test images)`);
  try {
    if (await needsOriginal(dir, flags)) await prepareFashion(backend, dir, train, val, { sizes, net: full ? FASHION_NET_WIDE : FASHION_NET, trainer }, log);
    if (flags.prepareOnly) return;
    const { tf } = backend;
    const [trainData, valData] = [tensors(tf, train), tensors(tf, val)];
    try {
      const run = { ...flags, batchSize: sizes.batchSize, trainer, ...(target ? { targetRatio: Number(target) } : {}) };
      await runInFolder(backend, run, { metric: 'accuracy', train: trainData, val: valData, tolerance: 0.01, seed: 11 });
    } finally {
      tf.dispose([trainData.inputs, trainData.targets, valData.inputs, valData.targets]);
    }
  } finally {
    await trainer?.dispose();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
