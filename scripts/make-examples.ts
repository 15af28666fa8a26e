/**
 * Trains and saves the two example models in examples/, with pure tfjs (no tfjs-node):
 *
 *  - combustion-mlp: a GELU MLP that learns one implicit time step of a small stiff reaction
 *    system. It is trained from a small initialisation, which makes its hidden neurons condense
 *    (many share one input-weight direction), the situation this extension exploits.
 *  - small-cnn: a Conv2D → BatchNormalization → ReLU classifier of stripe orientations, whose
 *    BatchNormalization statistics the extension must fold into the convolutions.
 *
 * Everything random is seeded, so a rerun writes the same files.
 * Run: npx tsx scripts/make-examples.ts
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { seededRandom, withSeededMathRandom } from '../src/core/data/random';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const EXAMPLES_DIR = path.resolve(__dirname, '..', 'examples');
const WEIGHTS_FILE = 'group1-shard1of1.bin';

// ---------------------------------------------------------------------------------------------
// Seeded randomness
// ---------------------------------------------------------------------------------------------

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Fisher–Yates permutation of 0..n-1. */
function permutation(n: number, random: () => number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

// ---------------------------------------------------------------------------------------------
// Combustion-like data: one implicit time step of a stiff two-reaction system
// ---------------------------------------------------------------------------------------------
//
//   R1: F + s·O → (1+s)·I   rate r1 = A1·ρ·Y_F·Y_O·exp(−Ta1/T)   (second order, so ρ = pW/(RT) brings in p)
//   R2: I → P               rate r2 = A2·Y_I·exp(−Ta2/T)
//   dT/dt = q1·r1 + q2·r2   (both exothermic; q in kelvin per unit mass fraction converted)
//
// Over the sampled states k·Δt spans ~1e-3 … ~50 for R1 and ~0.1 … ~10 for R2, before heat release
// speeds them up further: the step map ranges from "nothing happens" to "burns out within the
// step". That stiffness is why the integrator is implicit.

const GAS_CONSTANT = 8.314; // J/(mol·K)
const MEAN_MOLAR_MASS = 0.029; // kg/mol, held fixed: the mixture is mostly inert diluent
const OXIDISER_PER_FUEL = 2; // s, kg of O consumed per kg of F
const A1 = 2e9, TA1 = 15000; // m³/(kg·s), K
const A2 = 3e6, TA2 = 8000; // 1/s, K
const Q1 = 1.0e4, Q2 = 3.0e3; // K per unit mass fraction
const TIME_STEP = 1e-4; // s
const SUBSTEPS = 8; // backward-Euler sub-steps per time step, so the map stays close to the true flow

const ATMOSPHERE = 101325; // Pa
const INPUT_NAMES = ['T [K]', 'p [Pa]', 'Y_F', 'Y_O', 'Y_I', 'Y_P'];
const OUTPUT_NAMES = ['dY_F', 'dY_O', 'dY_I', 'dY_P', 'dT [K]'];

/** State vector order: Y_F, Y_O, Y_I, Y_P, T. */
const STATE_SIZE = 5;
const TEMPERATURE = 4;

/** Right-hand side f(y) and its Jacobian ∂f/∂y (row-major 5×5) at fixed pressure. */
function reactionRates(y: Float64Array, pressure: number, f: Float64Array, jacobian: Float64Array): void {
  const [yF, yO, yI, , T] = y;
  const density = (pressure * MEAN_MOLAR_MASS) / (GAS_CONSTANT * T);
  const k1 = A1 * density * Math.exp(-TA1 / T);
  const k2 = A2 * Math.exp(-TA2 / T);
  const r1 = k1 * yF * yO;
  const r2 = k2 * yI;
  // Gradients of r1 and r2 over (Y_F, Y_O, Y_I, Y_P, T); ρ ∝ 1/T gives the −1/T term.
  const dr1 = [k1 * yO, k1 * yF, 0, 0, r1 * (TA1 / (T * T) - 1 / T)];
  const dr2 = [0, 0, k2, 0, r2 * (TA2 / (T * T))];
  // Each state derivative is c1·r1 + c2·r2 with these stoichiometric / heat coefficients.
  const coefficients: [number, number][] = [
    [-1, 0],
    [-OXIDISER_PER_FUEL, 0],
    [1 + OXIDISER_PER_FUEL, -1],
    [0, 1],
    [Q1, Q2],
  ];
  for (let i = 0; i < STATE_SIZE; i++) {
    const [c1, c2] = coefficients[i];
    f[i] = c1 * r1 + c2 * r2;
    for (let j = 0; j < STATE_SIZE; j++) jacobian[i * STATE_SIZE + j] = c1 * dr1[j] + c2 * dr2[j];
  }
}

/** Solves a·x = b in place (b becomes x) by Gaussian elimination with partial pivoting. */
function solveLinear(a: Float64Array, b: Float64Array, n: number): void {
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let row = col + 1; row < n; row++) {
      if (Math.abs(a[row * n + col]) > Math.abs(a[pivot * n + col])) pivot = row;
    }
    if (pivot !== col) {
      for (let k = 0; k < n; k++) [a[col * n + k], a[pivot * n + k]] = [a[pivot * n + k], a[col * n + k]];
      [b[col], b[pivot]] = [b[pivot], b[col]];
    }
    for (let row = col + 1; row < n; row++) {
      const factor = a[row * n + col] / a[col * n + col];
      if (factor === 0) continue;
      for (let k = col; k < n; k++) a[row * n + k] -= factor * a[col * n + k];
      b[row] -= factor * b[col];
    }
  }
  for (let row = n - 1; row >= 0; row--) {
    let sum = b[row];
    for (let k = row + 1; k < n; k++) sum -= a[row * n + k] * b[k];
    b[row] = sum / a[row * n + row];
  }
}

/**
 * One backward-Euler step of size h, solved by Newton: find y with g(y) = y − y_old − h·f(y) = 0,
 * using J_g = I − h·∂f/∂y. Returns null when Newton does not converge (a runaway state for this h).
 */
function backwardEulerStep(old: Float64Array, pressure: number, h: number): Float64Array | null {
  const y = Float64Array.from(old);
  const f = new Float64Array(STATE_SIZE);
  const jacobian = new Float64Array(STATE_SIZE * STATE_SIZE);
  const update = new Float64Array(STATE_SIZE);
  for (let iteration = 0; iteration < 30; iteration++) {
    reactionRates(y, pressure, f, jacobian);
    for (let i = 0; i < STATE_SIZE; i++) {
      update[i] = -(y[i] - old[i] - h * f[i]);
      for (let j = 0; j < STATE_SIZE; j++) jacobian[i * STATE_SIZE + j] *= -h;
      jacobian[i * STATE_SIZE + i] += 1;
    }
    solveLinear(jacobian, update, STATE_SIZE);
    let change = 0;
    for (let i = 0; i < STATE_SIZE; i++) {
      y[i] += update[i];
      // Mass fractions cannot go negative; Newton may overshoot a nearly exhausted species.
      if (i < TEMPERATURE && y[i] < 0) y[i] = 0;
      // Converged when species move < 1e-12 and the temperature < 1e-9 K.
      change = Math.max(change, Math.abs(update[i]) * (i < TEMPERATURE ? 1e3 : 1));
    }
    if (!(y[TEMPERATURE] > 0)) return null;
    if (change < 1e-9) return y;
  }
  return null;
}

/** Advances by h, halving the step wherever Newton fails (ignition within the step). */
function advance(y: Float64Array, pressure: number, h: number, depth = 0): Float64Array {
  const next = backwardEulerStep(y, pressure, h);
  if (next) return next;
  if (depth === 20) throw new Error(`Newton did not converge for state ${Array.from(y).join(', ')}`);
  return advance(advance(y, pressure, h / 2, depth + 1), pressure, h / 2, depth + 1);
}

/** The state after one TIME_STEP, by SUBSTEPS implicit sub-steps (each possibly subdivided). */
function chemistryStep(initial: Float64Array, pressure: number): Float64Array {
  let y = initial;
  for (let step = 0; step < SUBSTEPS; step++) y = advance(y, pressure, TIME_STEP / SUBSTEPS);
  return y;
}

interface RegressionData {
  inputs: Float64Array[];
  outputs: Float64Array[];
}

/** Random thermochemical states and their change over one time step. */
function makeCombustionData(count: number, seed: number): RegressionData {
  const random = seededRandom(seed);
  const uniform = (low: number, high: number) => low + (high - low) * random();
  const inputs: Float64Array[] = [];
  const outputs: Float64Array[] = [];
  for (let n = 0; n < count; n++) {
    const temperature = uniform(1000, 2400);
    const pressure = ATMOSPHERE * Math.exp(uniform(Math.log(0.5), Math.log(4)));
    const fractions = [uniform(0, 0.06), uniform(0, 0.25), uniform(0, 0.05), uniform(0, 0.15)];
    const before = Float64Array.from([...fractions, temperature]);
    const after = chemistryStep(before, pressure);
    inputs.push(Float64Array.from([temperature, pressure, ...fractions]));
    // Outputs are increments (species first, then temperature), the usual target for a chemistry surrogate.
    outputs.push(after.map((value, i) => value - before[i]));
  }
  return { inputs, outputs };
}

interface Standardisation {
  names: string[];
  mean: number[];
  std: number[];
}

function standardisation(rows: Float64Array[], names: string[]): Standardisation {
  const mean = names.map((_, j) => rows.reduce((sum, row) => sum + row[j], 0) / rows.length);
  const std = names.map((_, j) =>
    Math.sqrt(rows.reduce((sum, row) => sum + (row[j] - mean[j]) ** 2, 0) / rows.length),
  );
  return { names, mean, std };
}

function standardise(rows: Float64Array[], s: Standardisation): number[][] {
  return rows.map((row) => Array.from(row, (value, j) => (value - s.mean[j]) / s.std[j]));
}

// ---------------------------------------------------------------------------------------------
// Synthetic images: stripes in one of four orientations
// ---------------------------------------------------------------------------------------------

const IMAGE_SIZE = 12;
const ORIENTATIONS_DEG = [0, 45, 90, 135];

interface ImageData {
  /** [count][IMAGE_SIZE][IMAGE_SIZE][1], values in [0, 1]. */
  images: number[][][][];
  labels: number[];
}

/** Noisy sinusoidal stripes with random period, phase, contrast and a jittered orientation. */
function makeStripeImages(count: number, seed: number): ImageData {
  const random = seededRandom(seed);
  const images: number[][][][] = [];
  const labels: number[] = [];
  for (let n = 0; n < count; n++) {
    const label = Math.floor(random() * ORIENTATIONS_DEG.length);
    const angle = ((ORIENTATIONS_DEG[label] + (random() - 0.5) * 20) * Math.PI) / 180;
    const period = 4 + 4 * random();
    const phase = 2 * Math.PI * random();
    const contrast = 0.3 + 0.7 * random();
    const brightness = 0.35 + 0.3 * random();
    const image: number[][][] = [];
    for (let row = 0; row < IMAGE_SIZE; row++) {
      const line: number[][] = [];
      for (let col = 0; col < IMAGE_SIZE; col++) {
        // Distance across the stripes; rows grow downwards, hence the minus sign.
        const across = col * Math.sin(angle) - row * Math.cos(angle);
        const value = brightness + 0.5 * contrast * Math.sin((2 * Math.PI * across) / period + phase) + 0.15 * gaussian(random);
        line.push([roundTo(Math.min(1, Math.max(0, value)), 3)]);
      }
      image.push(line);
    }
    images.push(image);
    labels.push(label);
  }
  return { images, labels };
}

// ---------------------------------------------------------------------------------------------
// Training, condensation check, saving and reloading
// ---------------------------------------------------------------------------------------------

/** Mini-batch training in a seeded order (model.fit shuffles with Math.random). */
async function train(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: { epochs: number; batchSize: number; seed: number; onEpoch?: (epoch: number, loss: number) => void },
): Promise<void> {
  const random = seededRandom(options.seed);
  const count = x.shape[0];
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = permutation(count, random);
    let lossSum = 0;
    let batches = 0;
    for (let start = 0; start < count; start += options.batchSize) {
      const indices = tf.tensor1d(order.subarray(start, start + options.batchSize), 'int32');
      const [xb, yb] = [tf.gather(x, indices), tf.gather(y, indices)];
      const loss = await model.trainOnBatch(xb, yb);
      tf.dispose([indices, xb, yb]);
      lossSum += Array.isArray(loss) ? loss[0] : loss;
      batches++;
    }
    options.onEpoch?.(epoch, lossSum / batches);
  }
}

/**
 * Greedy clustering of a Dense layer's neurons by the cosine similarity of their input-weight
 * vectors (kernel column with the bias appended): the largest unassigned neuron starts a cluster
 * and takes every unassigned neuron within the threshold of it. Returns the number of clusters.
 */
function greedyClusterCount(kernel: Float32Array, bias: Float32Array, units: number, threshold: number): number {
  const fanIn = kernel.length / units;
  const vectors = Array.from({ length: units }, (_, j) => {
    const v = new Float64Array(fanIn + 1);
    for (let i = 0; i < fanIn; i++) v[i] = kernel[i * units + j];
    v[fanIn] = bias[j];
    return v;
  });
  const norms = vectors.map((v) => Math.hypot(...v));
  const byNorm = Array.from(vectors.keys()).sort((a, b) => norms[b] - norms[a]);
  const assigned = new Uint8Array(units);
  let clusters = 0;
  for (const seed of byNorm) {
    if (assigned[seed]) continue;
    clusters++;
    assigned[seed] = 1;
    for (const other of byNorm) {
      if (assigned[other]) continue;
      let dot = 0;
      for (let i = 0; i <= fanIn; i++) dot += vectors[seed][i] * vectors[other][i];
      if (dot >= threshold * norms[seed] * norms[other]) assigned[other] = 1;
    }
  }
  return clusters;
}

function denseClusterCounts(model: tf.LayersModel, layerNames: string[], threshold: number): number[] {
  return layerNames.map((name) => {
    const [kernel, bias] = model.getLayer(name).getWeights();
    return greedyClusterCount(kernel.dataSync() as Float32Array, bias.dataSync() as Float32Array, kernel.shape[1]!, threshold);
  });
}

/**
 * Writes model.json (standard TF.js Layers format) and one weight shard, as tfjs-node's file://
 * handler would. The training configuration is left out: these models are for inference.
 */
async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version['tfjs-layers']}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
      };
      await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      const weightBytes = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      await fs.writeFile(path.join(dir, WEIGHTS_FILE), Buffer.from(weightBytes));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

/** Loads a model back from the files saveLayersModel wrote, to prove they are complete. */
async function loadSavedModel(dir: string): Promise<tf.LayersModel> {
  const modelJson = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const weightBytes = await fs.readFile(path.join(dir, WEIGHTS_FILE));
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData: weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength),
    }),
  );
}

/** Largest absolute difference between the original and the reloaded model on the probe inputs. */
async function reloadDifference(model: tf.LayersModel, dir: string, probe: tf.Tensor): Promise<number> {
  const reloaded = await loadSavedModel(dir);
  const difference = tf.tidy(() =>
    tf.max(tf.abs(tf.sub(model.predict(probe) as tf.Tensor, reloaded.predict(probe) as tf.Tensor))).dataSync()[0],
  );
  reloaded.dispose();
  return difference;
}

function roundTo(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.writeFile(file, JSON.stringify(value));
}

// ---------------------------------------------------------------------------------------------
// The two examples
// ---------------------------------------------------------------------------------------------

const MLP_HIDDEN_UNITS = 128;
const MLP_HIDDEN_LAYERS = ['hidden1', 'hidden2', 'hidden3'];
/** Small enough that training starts in the condensing regime, where neurons align. */
const MLP_INIT_STDDEV = 1e-6;

async function makeCombustionMlp(): Promise<void> {
  const dir = path.join(EXAMPLES_DIR, 'combustion-mlp');
  const started = Date.now();
  const trainData = makeCombustionData(4096, 1);
  const testData = makeCombustionData(1024, 2);
  const inputScaling = standardisation(trainData.inputs, INPUT_NAMES);
  const outputScaling = standardisation(trainData.outputs, OUTPUT_NAMES);
  console.log(`combustion-mlp: generated ${trainData.inputs.length + testData.inputs.length} samples in ${Date.now() - started} ms`);

  const [xTrain, yTrain, xTest, yTest] = [
    tf.tensor2d(standardise(trainData.inputs, inputScaling)),
    tf.tensor2d(standardise(trainData.outputs, outputScaling)),
    tf.tensor2d(standardise(testData.inputs, inputScaling)),
    tf.tensor2d(standardise(testData.outputs, outputScaling)),
  ];

  let layerSeed = 100;
  const smallInit = () => tf.initializers.randomNormal({ mean: 0, stddev: MLP_INIT_STDDEV, seed: layerSeed++ });
  const model = tf.sequential({
    name: 'combustion_mlp',
    layers: [
      ...MLP_HIDDEN_LAYERS.map((name, i) =>
        tf.layers.dense({
          name,
          units: MLP_HIDDEN_UNITS,
          activation: 'gelu',
          kernelInitializer: smallInit(),
          ...(i === 0 ? { inputShape: [INPUT_NAMES.length] } : {}),
        }),
      ),
      tf.layers.dense({ name: 'output', units: OUTPUT_NAMES.length, kernelInitializer: smallInit() }),
    ],
  });
  // Learning rate lowered in stages; recompiling starts a fresh Adam state, which is harmless here.
  const schedule: [learningRate: number, epochs: number][] = [[3e-3, 40], [1e-3, 40], [3e-4, 40]];
  let epochsDone = 0;
  for (const [stage, [learningRate, epochs]] of schedule.entries()) {
    model.compile({ optimizer: tf.train.adam(learningRate), loss: 'meanSquaredError' });
    await train(model, xTrain, yTrain, {
      epochs,
      batchSize: 128,
      seed: 10 + stage,
      onEpoch: (epoch, loss) => {
        epochsDone++;
        if ((epoch + 1) % 20 === 0) {
          const counts = denseClusterCounts(model, MLP_HIDDEN_LAYERS, 0.95);
          console.log(`  epoch ${epochsDone}: train loss ${loss.toExponential(3)}, clusters@0.95 ${counts.join('/')}`);
        }
      },
    });
  }

  // The targets are standardised, so this MSE is already relative: mean over outputs of MSE / variance.
  const testMse = tf.tidy(() => tf.losses.meanSquaredError(yTest, model.predict(xTest) as tf.Tensor).dataSync()[0]);
  const trainMse = tf.tidy(() => tf.losses.meanSquaredError(yTrain, model.predict(xTrain) as tf.Tensor).dataSync()[0]);
  console.log(`combustion-mlp: relative MSE train ${trainMse.toExponential(3)}, test ${testMse.toExponential(3)}`);
  for (const threshold of [0.95, 0.99]) {
    const counts = denseClusterCounts(model, MLP_HIDDEN_LAYERS, threshold);
    console.log(`combustion-mlp: greedy clusters at ${threshold}: ${counts.join(' / ')} of ${MLP_HIDDEN_UNITS} per hidden layer`);
  }

  await saveLayersModel(model, dir);
  await writeJson(path.join(dir, 'normalization.json'), {
    description:
      'Standardisation used in training: model input = (x - mean) / std, physical output = mean + std * model output. ' +
      `Inputs are a thermochemical state; outputs are its change over one ${TIME_STEP} s implicit chemistry step.`,
    inputs: inputScaling,
    outputs: outputScaling,
  });
  const probeRows = standardise(testData.inputs.slice(0, 64), inputScaling).map((row) => row.map((v) => Number(v.toPrecision(6))));
  await writeJson(path.join(dir, 'probe-inputs.json'), probeRows);

  const probe = tf.tensor2d(probeRows);
  console.log(`combustion-mlp: reload max |difference| ${(await reloadDifference(model, dir, probe)).toExponential(2)}`);
  tf.dispose([xTrain, yTrain, xTest, yTest, probe]);
  model.dispose();
  console.log(`combustion-mlp: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Below Keras' 0.99 so that the ~160 training steps affordable on the cpu backend (its
 * Conv2DBackpropFilter is slow) leave moving statistics that have forgotten their 0/1 start.
 */
const BN_MOMENTUM = 0.9;

async function makeSmallCnn(): Promise<void> {
  const dir = path.join(EXAMPLES_DIR, 'small-cnn');
  const started = Date.now();
  const classes = ORIENTATIONS_DEG.length;
  const trainData = makeStripeImages(1024, 3);
  const testData = makeStripeImages(400, 4);
  const [xTrain, yTrain, xTest] = [
    tf.tensor4d(trainData.images),
    tf.oneHot(tf.tensor1d(trainData.labels, 'int32'), classes),
    tf.tensor4d(testData.images),
  ];

  let layerSeed = 200;
  const glorot = () => tf.initializers.glorotUniform({ seed: layerSeed++ });
  const model = tf.sequential({
    name: 'small_cnn',
    layers: [
      tf.layers.conv2d({ name: 'conv1', inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1], filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: glorot() }),
      tf.layers.batchNormalization({ name: 'bn1', momentum: BN_MOMENTUM }),
      // Both spellings of ReLU (Activation layer and ReLU layer) appear, so the example covers both.
      tf.layers.activation({ name: 'relu1', activation: 'relu' }),
      tf.layers.maxPooling2d({ name: 'pool1', poolSize: 2 }),
      tf.layers.conv2d({ name: 'conv2', filters: 16, kernelSize: 3, kernelInitializer: glorot() }),
      tf.layers.batchNormalization({ name: 'bn2', momentum: BN_MOMENTUM }),
      tf.layers.reLU({ name: 'relu2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'dense1', units: 32, activation: 'relu', kernelInitializer: glorot() }),
      tf.layers.dropout({ name: 'dropout', rate: 0.25 }),
      tf.layers.dense({ name: 'output', units: classes, activation: 'softmax', kernelInitializer: glorot() }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(2e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  await withSeededMathRandom(5, () =>
    train(model, xTrain, yTrain, {
      epochs: 5,
      batchSize: 32,
      seed: 6,
      onEpoch: (epoch, loss) => console.log(`  epoch ${epoch + 1}: train loss ${loss.toFixed(4)}`),
    }),
  );

  const accuracy = tf.tidy(() => {
    const predicted = tf.argMax(model.predict(xTest) as tf.Tensor, -1);
    return tf.mean(tf.cast(tf.equal(predicted, tf.tensor1d(testData.labels, 'int32')), 'float32')).dataSync()[0];
  });
  console.log(`small-cnn: test accuracy ${(accuracy * 100).toFixed(1)}%`);
  for (const name of ['bn1', 'bn2']) {
    const [, , movingMean, movingVariance] = model.getLayer(name).getWeights();
    const range = (t: tf.Tensor) => {
      const values = Array.from(t.dataSync());
      return `[${Math.min(...values).toFixed(3)}, ${Math.max(...values).toFixed(3)}]`;
    };
    console.log(`small-cnn: ${name} moving mean in ${range(movingMean)}, moving variance in ${range(movingVariance)}`);
  }

  await saveLayersModel(model, dir);
  const probeImages = testData.images.slice(0, 32);
  await writeJson(path.join(dir, 'probe-inputs.json'), probeImages);

  const probe = tf.tensor4d(probeImages);
  console.log(`small-cnn: reload max |difference| ${(await reloadDifference(model, dir, probe)).toExponential(2)}`);
  tf.dispose([xTrain, yTrain, xTest, probe]);
  model.dispose();
  console.log(`small-cnn: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  const started = Date.now();
  // The MLP trains on wasm (fast matMul); the CNN on cpu, as when these examples were first made
  // (src/core/train/wasmKernels.ts now lets wasm train convolutions; the files are kept as they are).
  setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  await makeCombustionMlp();
  await tf.setBackend('cpu');
  await makeSmallCnn();
  console.log(`all examples written to ${EXAMPLES_DIR} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
