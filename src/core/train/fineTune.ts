/**
 * Fine-tuning a (condensed) model with Adam: the retrain half of a condense–retrain cycle. Reports
 * every epoch (for a live loss curve), pauses between batches while a gate is closed, and stops
 * between batches when asked. With `backOff` and validation data it keeps the best epoch and lowers
 * the rate on a plateau: after `patience` epochs in a row without a new lowest validation loss the
 * learning rate is halved, and PATIENCES_TO_STOP × `patience` such epochs in a row end the training.
 * The first `steadyEpochs` epochs train at the given rate whatever the validation loss does: right
 * after a condensation it wanders before it falls, and a plateau there says nothing yet.
 * Training goes on from the latest weights, not the best: an epoch of noise does not throw the network
 * back and end the round (the best epoch's weights are restored at the end).
 */
import type * as TF from '@tensorflow/tfjs';
import type { Backend } from '../compute/backend';
import { seededRandom } from '../data/random';
import { registerWasmTrainingKernels } from './wasmKernels';

/** With a back-off: this many patiences in a row without a better epoch end training (the rate is halved after each one before). */
export const PATIENCES_TO_STOP = 3;

/** Cross-entropy takes class indices: on probabilities (a softmax output), or on logits (`softmaxCrossEntropy`). */
export type TrainingLoss = 'mse' | 'sparseCategoricalCrossentropy' | 'softmaxCrossEntropy';

export interface TrainingData {
  inputs: TF.Tensor;
  /** Regression targets shaped like the output, or class indices ([samples] or [samples, 1]) for classification. */
  targets: TF.Tensor;
  valInputs?: TF.Tensor;
  valTargets?: TF.Tensor;
}

export interface EpochReport {
  /** Counted from 1. */
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  loss: number;
  /** Loss on the validation data, when given. */
  valLoss?: number;
}

export interface FineTuneOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  loss: TrainingLoss;
  /** Called after every complete epoch; returning 'stop' ends training there. */
  onEpoch?: (report: EpochReport) => void | 'stop';
  /** Aborting stops training after the current batch; the unfinished epoch is not reported. */
  signal?: AbortSignal;
  /** While paused, training waits after the current batch (an abort ends the wait). */
  gate?: PauseGate;
  /** Seeds the per-epoch shuffle of the training rows, so a run repeats exactly on one backend. */
  seed: number;
  /** Keep the best epoch on the validation data, halving the learning rate on a plateau after the first `steadyEpochs` (see the file comment). */
  backOff?: { patience: number; steadyEpochs?: number };
  /** Adam (the default), or plain SGD (to compare trainers step for step). */
  optimizer?: 'adam' | 'sgd';
  /** false: the rows in file order every epoch (to compare trainers step for step). */
  shuffle?: boolean;
}

/**
 * Pause and resume for a long run: `wait` resolves at once while open; while paused, on `resume`
 * or when the given signal aborts (so a paused run can still be cancelled).
 */
export class PauseGate {
  private opened: Promise<void> | null = null;
  private open: (() => void) | null = null;

  /** `onHold`: called when a run reaches the gate while paused (and starts waiting), so "paused" can be shown when it is true. */
  constructor(private readonly onHold?: () => void) {}

  get paused(): boolean {
    return this.opened !== null;
  }

  pause(): void {
    if (!this.opened) this.opened = new Promise((resolve) => (this.open = resolve));
  }

  resume(): void {
    const open = this.open;
    this.opened = this.open = null;
    open?.();
  }

  async wait(signal?: AbortSignal): Promise<void> {
    const opened = this.opened;
    if (!opened || signal?.aborted) return;
    this.onHold?.();
    if (!signal) return opened;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done);
      void opened.then(done);
    });
  }
}

/** One turn of the event loop: a pause or abort requested by a message (worker thread) lands before the next batch. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface FineTuneResult {
  /** One report per complete epoch. */
  history: EpochReport[];
  /** 'completed' ran every epoch, 'stopped' ended on onEpoch's request or the back-off's patience, 'aborted' on the signal. */
  outcome: 'completed' | 'stopped' | 'aborted';
  /** With backOff: the epoch whose weights the model holds (0: none improved on the start). */
  bestEpoch?: number;
  /** The learning rate at the end (lower than given after back-offs). */
  learningRate: number;
}

/** Trains `model` in place (its compile settings are replaced) and returns what each epoch reported. */
export async function fineTune(backend: Backend, model: TF.LayersModel, data: TrainingData, options: FineTuneOptions): Promise<FineTuneResult> {
  const { tf } = backend;
  if (backend.name === 'wasm') registerWasmTrainingKernels(tf);
  if ((data.valInputs === undefined) !== (data.valTargets === undefined)) {
    throw new Error('fineTune: validation needs both valInputs and valTargets');
  }
  for (const [name, value] of [['epochs', options.epochs], ['batchSize', options.batchSize]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`fineTune: ${name} must be a positive integer, got ${value}`);
  }
  if (!(options.learningRate > 0)) throw new Error(`fineTune: learningRate must be positive, got ${options.learningRate}`);

  const history: EpochReport[] = [];
  let learningRate = options.learningRate;
  if (options.signal?.aborted) return { history, outcome: 'aborted', learningRate };
  let outcome: FineTuneResult['outcome'] = 'completed';
  const optimizer = options.optimizer === 'sgd' ? tf.train.sgd(options.learningRate) : tf.train.adam(options.learningRate);
  model.compile({ optimizer, loss: lossFunction(tf, options.loss) });
  const shuffle = seededRandom(options.seed);
  const validated = options.backOff && data.valInputs && data.valTargets;
  let best = validated ? { epoch: 0, loss: await validationLoss(tf, model, data.valInputs!, data.valTargets!, options), weights: snapshot(tf, model) } : null;
  let worse = 0;
  let targets = data.targets;
  try {
    // tfjs-layers wants a custom loss's targets shaped like the output: class indices become one-hot rows for the logits' loss.
    if (options.loss === 'softmaxCrossEntropy') targets = oneHotTargets(tf, model, data.targets);
    // One fit per epoch on rows we permute ourselves: tfjs would shuffle with Math.random, unseeded.
    for (let epoch = 0; epoch < options.epochs && outcome === 'completed'; epoch++) {
      const rows = data.inputs.shape[0];
      const order = tf.tensor1d(options.shuffle === false ? Array.from({ length: rows }, (_, i) => i) : permutation(rows, shuffle), 'int32');
      const [inputs, epochTargets] = [tf.gather(data.inputs, order), tf.gather(targets, order)];
      order.dispose();
      try {
        await model.fit(inputs, epochTargets, {
          initialEpoch: epoch,
          epochs: epoch + 1,
          batchSize: options.batchSize,
          shuffle: false,
          verbose: 0,
          callbacks: {
            onBatchEnd: async () => {
              if (options.signal || options.gate) await nextTurn();
              if (options.gate?.paused) await options.gate.wait(options.signal);
              if (options.signal?.aborted) {
                outcome = 'aborted';
                model.stopTraining = true;
              }
            },
            onEpochEnd: async (_, logs) => {
              if (outcome === 'aborted') return;
              const report: EpochReport = { epoch: epoch + 1, loss: Number(logs?.loss) };
              if (data.valInputs && data.valTargets) report.valLoss = await validationLoss(tf, model, data.valInputs, data.valTargets, options);
              history.push(report);
              if (options.onEpoch?.(report) === 'stop') outcome = 'stopped';
              if (best && report.valLoss !== undefined) {
                if (report.valLoss < best.loss) {
                  tf.dispose(best.weights);
                  best = { epoch: report.epoch, loss: report.valLoss, weights: snapshot(tf, model) };
                  worse = 0;
                } else if (report.epoch <= (options.backOff!.steadyEpochs ?? 0)) {
                  // Still steady: the rate stays and the epoch does not count against it.
                } else if (++worse >= PATIENCES_TO_STOP * options.backOff!.patience) {
                  outcome = 'stopped';
                } else if (worse % options.backOff!.patience === 0) {
                  learningRate /= 2;
                  // SGD keeps its rate as a tensor made once; Adam reads the field every step.
                  if (options.optimizer === 'sgd') (optimizer as TF.SGDOptimizer).setLearningRate(learningRate);
                  else (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
                }
              }
            },
          },
        });
      } finally {
        tf.dispose([inputs, epochTargets]);
      }
    }
    if (best) model.setWeights(best.weights);
  } finally {
    // The model does not own an optimizer passed to compile: without this, Adam's moment estimates would leak.
    optimizer.dispose();
    if (best) tf.dispose(best.weights);
    if (targets !== data.targets) targets.dispose();
  }
  return { history, outcome, learningRate, ...(best ? { bestEpoch: best.epoch } : {}) };
}

/** Copies of the model's weights (its variables change as it trains). */
function snapshot(tf: typeof TF, model: TF.LayersModel): TF.Tensor[] {
  return model.getWeights().map((w) => tf.clone(w));
}

/** The loss tfjs trains with; cross-entropy on logits is written out (tfjs-layers only has it on probabilities). */
function lossFunction(tf: typeof TF, loss: TrainingLoss): string | ((yTrue: TF.Tensor, yPred: TF.Tensor) => TF.Tensor) {
  if (loss === 'mse') return 'meanSquaredError';
  if (loss === 'sparseCategoricalCrossentropy') return 'sparseCategoricalCrossentropy';
  // The targets are one-hot already (see oneHotTargets).
  return (yTrue, yPred) => {
    const classes = yPred.shape[yPred.shape.length - 1];
    return tf.losses.softmaxCrossEntropy(yTrue.reshape([-1, classes]), yPred.reshape([-1, classes]), undefined, tf.Reduction.NONE);
  };
}

/** Class indices (shaped like the output without its class axis, or with a trailing 1) as one-hot rows shaped like the output. */
function oneHotTargets(tf: typeof TF, model: TF.LayersModel, indices: TF.Tensor): TF.Tensor {
  const shape = model.outputs[0].shape;
  const classes = shape[shape.length - 1];
  if (classes === null) throw new Error('fineTune: the output has no fixed number of classes');
  const positions = indices.shape.length === shape.length ? indices.shape.slice(0, -1) : indices.shape;
  return tf.tidy(() => tf.oneHot(tf.cast(tf.floor(indices.flatten()), 'int32'), classes).reshape([...positions, classes]));
}

/** 0…n−1 in a random order (Fisher–Yates). */
function permutation(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Validation loss (the same formulas tfjs-layers trains with) from one batched prediction. */
async function validationLoss(tf: typeof TF, model: TF.LayersModel, inputs: TF.Tensor, targets: TF.Tensor, options: Pick<FineTuneOptions, 'loss' | 'batchSize'>): Promise<number> {
  const loss = tf.tidy(() => {
    const predicted = model.predict(inputs, { batchSize: options.batchSize }) as TF.Tensor;
    if (options.loss === 'mse') return tf.mean(tf.squaredDifference(predicted, targets.reshape(predicted.shape)));
    const classes = predicted.shape[predicted.shape.length - 1];
    const labels = tf.oneHot(tf.cast(tf.floor(targets.flatten()), 'int32'), classes);
    const logits = predicted.reshape([-1, classes]);
    if (options.loss === 'softmaxCrossEntropy') return tf.losses.softmaxCrossEntropy(labels, logits);
    return tf.mean(tf.metrics.categoricalCrossentropy(labels, logits));
  });
  const value = (await loss.data())[0];
  loss.dispose();
  return value;
}
