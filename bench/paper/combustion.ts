/**
 * The paper's combustion experiment, our way: a GELU MLP learns one implicit step of the stiff
 * reaction system in chemistry.ts, trained from a small initialisation (the condensing regime), then is
 * reduced by condense–retrain rounds and, on the same budget, by the L1-norm baseline.
 *
 *   npx tsx bench/paper/combustion.ts [--out DIR] [--results FILE] [--rounds R] [--epochs E] [--lr LR] [--thresholds T1,T2,…] [--resume]
 *
 * (defaults: 8 rounds, γ 0.999, 0.998, 0.996, 0.994, 0.992, then 0.99; 30 epochs at 3e-4 per round;
 * --resume continues the rounds saved in the results file, up to --rounds)
 *
 * writes into DIR (default bench/paper/out/combustion): the data (.npy, standardised), the original
 * model (original/), every round's models, and results.json, which bench/paper/figures.ts plots.
 * Everything random is seeded; a rerun repeats the numbers.
 */
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { Backend, loadBackend } from '../../src/core/compute/backend';
import { fineTune } from '../../src/core/train/fineTune';
import { makeChemistryData, INPUT_NAMES, OUTPUT_NAMES } from './chemistry';
import { evaluate, saveLayersModel, writeNpy } from './common';
import { format, needsOriginal, runInFolder } from './experiment';
import { runFlags } from './args';

export const HIDDEN_UNITS = [256, 128, 64];
/** Small enough that training starts in the condensing regime, where neurons align. */
const INIT_STDDEV = 1e-5;
/** Learning rate lowered in stages; each stage is one fineTune call (a fresh Adam state). */
const SCHEDULE: [learningRate: number, epochs: number][] = [[3e-3, 60], [1e-3, 40], [3e-4, 30]];

export interface CombustionSizes {
  train: number;
  val: number;
  calibration: number;
  hidden: number[];
  schedule: [number, number][];
  batchSize: number;
}

export const FULL_SIZES: CombustionSizes = { train: 8192, val: 4096, calibration: 2048, hidden: HIDDEN_UNITS, schedule: SCHEDULE, batchSize: 128 };

/** Column means and standard deviations of a rows × width matrix. */
function standardisation(data: Float64Array, width: number): { mean: number[]; std: number[] } {
  const rows = data.length / width;
  const mean = Array.from({ length: width }, (_, j) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += data[r * width + j];
    return s / rows;
  });
  const std = mean.map((m, j) => {
    let s = 0;
    for (let r = 0; r < rows; r++) s += (data[r * width + j] - m) ** 2;
    return Math.sqrt(s / rows) || 1;
  });
  return { mean, std };
}

function standardise(data: Float64Array, width: number, s: { mean: number[]; std: number[] }): Float32Array {
  return Float32Array.from(data, (v, i) => (v - s.mean[i % width]) / s.std[i % width]);
}

export interface CombustionData {
  trainX: Float32Array;
  trainY: Float32Array;
  valX: Float32Array;
  valY: Float32Array;
  calibrationX: Float32Array;
}

/** Seeded states for training, validation and calibration (disjoint seeds), standardised on the training set. */
export function combustionData(sizes: CombustionSizes): CombustionData {
  const [train, val, calibration] = [makeChemistryData(sizes.train, 1), makeChemistryData(sizes.val, 2), makeChemistryData(sizes.calibration, 3)];
  const [inputs, outputs] = [INPUT_NAMES.length, OUTPUT_NAMES.length];
  const sx = standardisation(train.inputs, inputs);
  const sy = standardisation(train.outputs, outputs);
  return {
    trainX: standardise(train.inputs, inputs, sx),
    trainY: standardise(train.outputs, outputs, sy),
    valX: standardise(val.inputs, inputs, sx),
    valY: standardise(val.outputs, outputs, sy),
    calibrationX: standardise(calibration.inputs, inputs, sx),
  };
}

/** The GELU MLP, small-initialised and seeded. */
export function combustionMlp(tf: typeof TF, hidden: number[]): TF.LayersModel {
  let seed = 100;
  const init = () => tf.initializers.randomNormal({ mean: 0, stddev: INIT_STDDEV, seed: seed++ });
  return tf.sequential({
    name: 'combustion_mlp',
    layers: [
      ...hidden.map((units, i) =>
        tf.layers.dense({ name: `hidden${i + 1}`, units, activation: 'gelu', kernelInitializer: init(), ...(i === 0 ? { inputShape: [INPUT_NAMES.length] } : {}) }),
      ),
      tf.layers.dense({ name: 'output', units: OUTPUT_NAMES.length, kernelInitializer: init() }),
    ],
  });
}

/** Writes the data files and trains the original; returns the original's model.json. */
export async function prepareCombustion(backend: Backend, dir: string, sizes: CombustionSizes, log: (line: string) => void): Promise<string> {
  const { tf } = backend;
  const data = combustionData(sizes);
  const [inputs, outputs] = [INPUT_NAMES.length, OUTPUT_NAMES.length];
  await writeNpy(path.join(dir, 'train-inputs.npy'), data.trainX, [sizes.train, inputs]);
  await writeNpy(path.join(dir, 'train-targets.npy'), data.trainY, [sizes.train, outputs]);
  await writeNpy(path.join(dir, 'val-inputs.npy'), data.valX, [sizes.val, inputs]);
  await writeNpy(path.join(dir, 'val-targets.npy'), data.valY, [sizes.val, outputs]);
  await writeNpy(path.join(dir, 'calibration.npy'), data.calibrationX, [sizes.calibration, inputs]);
  const model = combustionMlp(tf, sizes.hidden);
  const train = { inputs: tf.tensor2d(data.trainX, [sizes.train, inputs]), targets: tf.tensor2d(data.trainY, [sizes.train, outputs]) };
  const val = { inputs: tf.tensor2d(data.valX, [sizes.val, inputs]), targets: tf.tensor2d(data.valY, [sizes.val, outputs]) };
  try {
    for (const [stage, [learningRate, epochs]] of sizes.schedule.entries()) {
      await fineTune(backend, model, { ...train, valInputs: val.inputs, valTargets: val.targets }, {
        seed: 10 + stage,
        epochs,
        batchSize: sizes.batchSize,
        learningRate,
        loss: 'mse',
        onEpoch: (r) => {
          if (r.epoch % 10 === 0 || r.epoch === epochs) log(`  stage ${stage + 1} (lr ${learningRate}) epoch ${r.epoch}: train MSE ${r.loss.toExponential(3)}, val MSE ${r.valLoss?.toExponential(3)}`);
        },
      });
    }
    log(`original: validation MSE ${format('mse', evaluate(model, val, 'mse'))}`);
    return await saveLayersModel(tf, model, path.join(dir, 'original'));
  } finally {
    tf.dispose([train.inputs, train.targets, val.inputs, val.targets]);
    model.dispose();
  }
}

async function main(): Promise<void> {
  const flags = runFlags('combustion', { thresholds: '0.999,0.998,0.996,0.994,0.992,0.99', rounds: 8, epochs: 30, learningRate: 3e-4 });
  const { dir, log } = flags;
  const backend = await loadBackend('wasm');
  if (await needsOriginal(dir, flags)) {
    log(`training the original ${INPUT_NAMES.length}-${FULL_SIZES.hidden.join('-')}-${OUTPUT_NAMES.length} GELU MLP into ${dir}`);
    await prepareCombustion(backend, dir, FULL_SIZES, log);
  }
  if (flags.prepareOnly) return;
  const { tf } = backend;
  const data = combustionData(FULL_SIZES);
  const [inputs, outputs] = [INPUT_NAMES.length, OUTPUT_NAMES.length];
  const train = { inputs: tf.tensor2d(data.trainX, [FULL_SIZES.train, inputs]), targets: tf.tensor2d(data.trainY, [FULL_SIZES.train, outputs]) };
  const val = { inputs: tf.tensor2d(data.valX, [FULL_SIZES.val, inputs]), targets: tf.tensor2d(data.valY, [FULL_SIZES.val, outputs]) };
  try {
    await runInFolder(backend, { ...flags, batchSize: FULL_SIZES.batchSize }, { metric: 'mse', train, val, tolerance: 0.1, seed: 7 });
  } finally {
    tf.dispose([train.inputs, train.targets, val.inputs, val.targets]);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
