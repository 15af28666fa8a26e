/**
 * Fine-tuning a (condensed) model with Adam: the retrain half of a condense–retrain cycle. Reports
 * every epoch (for a live loss curve), pauses between batches while a gate is closed, and stops
 * between batches when asked.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Backend } from '../compute/backend';
import { seededRandom } from '../data/random';
import { registerWasmTrainingKernels } from './wasmKernels';

type TrainingLoss = 'mse' | 'sparseCategoricalCrossentropy';

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
  /** 'completed' ran every epoch, 'stopped' ended on onEpoch's request, 'aborted' on the signal. */
  outcome: 'completed' | 'stopped' | 'aborted';
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
  if (options.signal?.aborted) return { history, outcome: 'aborted' };
  let outcome: FineTuneResult['outcome'] = 'completed';
  const optimizer = tf.train.adam(options.learningRate);
  model.compile({ optimizer, loss: options.loss === 'mse' ? 'meanSquaredError' : 'sparseCategoricalCrossentropy' });
  const shuffle = seededRandom(options.seed);
  try {
    // One fit per epoch on rows we permute ourselves: tfjs would shuffle with Math.random, unseeded.
    for (let epoch = 0; epoch < options.epochs && outcome === 'completed'; epoch++) {
      const order = tf.tensor1d(permutation(data.inputs.shape[0], shuffle), 'int32');
      const [inputs, targets] = [tf.gather(data.inputs, order), tf.gather(data.targets, order)];
      order.dispose();
      try {
        await model.fit(inputs, targets, {
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
            },
          },
        });
      } finally {
        tf.dispose([inputs, targets]);
      }
    }
  } finally {
    // The model does not own an optimizer passed to compile: without this, Adam's moment estimates would leak.
    optimizer.dispose();
  }
  return { history, outcome };
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
async function validationLoss(tf: typeof TF, model: TF.LayersModel, inputs: TF.Tensor, targets: TF.Tensor, options: FineTuneOptions): Promise<number> {
  const loss = tf.tidy(() => {
    const predicted = model.predict(inputs, { batchSize: options.batchSize }) as TF.Tensor;
    if (options.loss === 'mse') return tf.mean(tf.squaredDifference(predicted, targets.reshape(predicted.shape)));
    const classes = predicted.shape[predicted.shape.length - 1];
    const labels = tf.cast(tf.floor(targets.flatten()), 'int32');
    return tf.mean(tf.metrics.categoricalCrossentropy(tf.oneHot(labels, classes), predicted.reshape([-1, classes])));
  });
  const value = (await loss.data())[0];
  loss.dispose();
  return value;
}
