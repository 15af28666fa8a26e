/**
 * Condense–retrain cycles for every format: each round condenses the current model at a threshold
 * cut from the clustering trees (or a given one), refitted on calibration inputs (the training inputs
 * unless others are given), fine-tunes it in tfjs as a network built from the engine's graph, writes
 * it through the format's own writer and measures the written file in the format's own runtime — the
 * relative MSE increase over the ORIGINAL model's, or the accuracy drop, as `reduce --auto` does. The
 * next round condenses the retrained model (retraining lets neurons condense further). The rounds
 * themselves are in train/rounds.ts.
 *
 * `runRetrain` keeps every round's retrained model in a temporary folder owned by the run, so any
 * round can be written (`RetrainRun.write`) until the run is disposed; it reports every epoch and
 * round, pauses between batches while its gate is closed, and stops between batches (and between a
 * round's steps) when its signal aborts. A cancelled or failed run keeps its finished rounds writable.
 * `retrainModel` is the one-shot form the CLI uses: it writes the smallest round within the tolerance.
 * The original is never touched; every write goes to a temporary sibling folder renamed into place.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { loadModel } from './analyze';
import type { Backend } from './compute/backend';
import { runInFormat } from './compute/formatRuntime';
import { softmaxOutput } from './compute/tfjsPredictor';
import { CalibrationSpec } from './data/calibration';
import { score } from './data/validation';
import { CancelledError } from './model/errors';
import { writeFolder } from './reduction/output';
import type { OpenOptions } from './model/registry';
import { EpochReport, PATIENCES_TO_STOP, PauseGate } from './train/fineTune';
import { buildTrainable } from './train/network';
import { openTrainer, TrainerChoice } from './train/choice';
import { loadRetrainSets, trainingTargets } from './train/data';
import { copySummary, graphParams, KeptRound, MIN_ROUND_FRACTION, PATIENCE, protectedPaths, runRounds, steadyEpochs } from './train/rounds';
import { DEFAULT_ROUND_FRACTION, defaultBatchSize, MIN_STEPS_PER_EPOCH } from './train/schedule';
import { type CondenseReport, REPORT_FILE, type RetrainRound, type RetrainSummary } from './reduction/report';

export { PauseGate } from './train/fineTune';

/** One epoch of one round, for a live loss curve. */
export interface RetrainEpoch extends EpochReport {
  round: number;
}

export interface RetrainOptions {
  backend: Backend;
  /** A fixed threshold for every round; without it each round's is cut from the trees (see `fraction`). */
  threshold?: number;
  /** Without a threshold: the fraction of the remaining units each round removes (default DEFAULT_ROUND_FRACTION). */
  fraction?: number;
  tolerance: number;
  epochs: number;
  rounds: number;
  targetRatio?: number;
  trainInputs: string;
  trainTargets: string;
  valInputs: string;
  valTargets: string;
  /** Inputs of the refit and the data-aware similarity; default: the training inputs. */
  calibration?: CalibrationSpec;
  allowBiasDominated?: boolean;
  openOptions?: OpenOptions;
  batchSize?: number;
  /** Without it, a range test on the first round chooses it. */
  learningRate?: number;
  overwrite?: boolean;
  /** Once the original is measured: the run, with no rounds yet; each round can be written as soon as it is reported. */
  onStart?: (run: RetrainRun) => void;
  onEpoch?: (epoch: RetrainEpoch) => void;
  /** After a round's model is kept (so it can be written from here on), with a copy of the summary so far. */
  onRound?: (round: RetrainRound, summary: RetrainSummary) => void;
  /** Aborting stops training between batches (and a round between its steps); the unfinished round is dropped. */
  signal?: AbortSignal;
  /** While paused, training waits between batches. */
  gate?: PauseGate;
  /** What trains the rounds (default: the embedded tfjs trainer). */
  trainer?: TrainerChoice;
}

export interface RetrainResult {
  summary: RetrainSummary;
  /** The written folder and report; null when no round met the tolerance (nothing written). */
  outDir: string | null;
  report: CondenseReport | null;
}

interface RetrainWritten {
  outDir: string;
  mainFile: string;
  report: CondenseReport;
}

/** A run: its rounds' models stay in its temporary folder until `dispose`. */
export interface RetrainRun {
  /** A copy of the summary so far. */
  readonly summary: RetrainSummary;
  /**
   * 'cancelled': stopped on the signal; 'failed': a round threw (see `error`). Either way the rounds
   * finished before are kept.
   */
  readonly outcome: 'running' | 'completed' | 'cancelled' | 'failed';
  /** Why a round failed (outcome 'failed'). */
  readonly error?: unknown;
  /** The run's temporary folder (every round's retrained model). */
  readonly workDir: string;
  /** Writes round `round`'s model and a report to `outDir` (atomically; never over the original), also while later rounds train. */
  write(round: number, outDir: string, options?: { overwrite?: boolean }): Promise<RetrainWritten>;
  /** Removes the temporary folder once the writes in flight have settled; writing is no longer possible. Only once the run has finished. */
  dispose(): Promise<void>;
}

/** Condense–retrain rounds, writing the smallest round within the tolerance to `outDir` (the CLI's form). */
export async function retrainModel(modelFile: string, outDir: string, options: RetrainOptions): Promise<RetrainResult> {
  const run = await runRetrain(modelFile, options);
  try {
    // A cancelled or failed run writes nothing, even when a finished round met the tolerance.
    if (run.outcome === 'cancelled') throw new CancelledError();
    if (run.outcome === 'failed') throw run.error;
    const { summary } = run;
    if (summary.chosen === null) return { summary, outDir: null, report: null };
    const written = await run.write(summary.chosen, outDir, { overwrite: options.overwrite });
    return { summary, outDir: written.outDir, report: written.report };
  } finally {
    await run.dispose();
  }
}

/** Runs the rounds, keeping each round's model; see the file comment. The caller disposes the run. */
export async function runRetrain(modelFile: string, options: RetrainOptions): Promise<RetrainRun> {
  const { backend, signal } = options;
  // Queued behind another request and cancelled meanwhile: nothing is read.
  if (signal?.aborted) throw new CancelledError();
  const { tf } = backend;
  const original = (await loadModel(modelFile, options.openOptions)).source;
  const { graph } = original;
  const sets = await loadRetrainSets(graph, options);
  // A network the trainer cannot build is refused before anything runs.
  buildTrainable(tf, graph, original.path, sets.training.rows.input.shape.slice(1)).model.dispose();
  // So is a trainer that cannot run (PyTorch without torch, CUDA asked for but absent).
  const trainer = await openTrainer(options.trainer, backend);

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-retrain-')).catch(async (e: unknown) => {
    await trainer.dispose();
    throw e;
  });
  const kept = new Map<number, KeptRound>();
  const tensors: TF.Tensor[] = [];
  const tensor = (data: ArrayLike<number>, shape: number[]): TF.Tensor => {
    const t = tf.tensor(Float32Array.from(data), shape);
    tensors.push(t);
    return t;
  };
  try {
    const first = await runInFormat(original, backend, sets.validation);
    const width = first.length / sets.validation.rows.picked.length;
    const { metric, loss, training, validation } = trainingTargets(sets, width, softmaxOutput(graph));
    const samples = validation.rows.picked.length;
    const baseline = score(metric, first, validation.targets, samples, width);
    // Regression targets are shaped like the outputs; class indices are one per row.
    const targetShape = (rows: number): number[] => (metric === 'mse' ? [rows, width] : [rows]);
    const trainX = tensor(training.rows.input.data, training.rows.input.shape);
    const trainY = tensor(training.targets, targetShape(training.rows.picked.length));
    const valX = tensor(validation.rows.input.data, validation.rows.input.shape);
    const valY = tensor(validation.targets, targetShape(samples));
    const calibration = options.calibration ?? { file: options.trainInputs };
    const fraction = options.fraction ?? DEFAULT_ROUND_FRACTION;
    const trainRows = training.rows.picked.length;
    const batchSize = options.batchSize ?? defaultBatchSize(trainRows, training.rows.input.data.length / trainRows);

    const summary: RetrainSummary = {
      metric, tolerance: options.tolerance, baseline, paramsBefore: graphParams(graph), epochs: options.epochs, batchSize, rounds: [], chosen: null,
      ...(options.learningRate !== undefined ? { learningRate: { value: options.learningRate, chosenBy: 'given' as const } } : {}),
      thresholds: options.threshold !== undefined ? `given: ${options.threshold}` : `each round removes ${Math.round(100 * fraction)} % of the remaining units (half as many, from the last good model, after a round that leaves the tolerance; down to ${Math.round(100 * MIN_ROUND_FRACTION)} %)`,
      training: `up to ${options.epochs} epochs a round (Adam, batch size ${batchSize}${options.batchSize === undefined ? `: the largest of 32–256 that leaves ${MIN_STEPS_PER_EPOCH} steps an epoch` : ''}), ` +
        `keeping the best epoch on the validation data: the first ${steadyEpochs(options.epochs)} at the starting rate (a condensed model's validation loss wanders before it falls), ` +
        `then after ${PATIENCE} epochs in a row without a better one the rate is halved, after ${PATIENCES_TO_STOP * PATIENCE} the round ends ` +
        '(training goes on from the latest weights, so a noisy epoch does not throw the network back)',
      calibration: calibration.file === options.trainInputs && !options.calibration ? `the training inputs (${options.trainInputs})` : calibration.file ?? 'generated inputs',
      trainer: trainer.label,
    };
    let outcome: RetrainRun['outcome'] = 'running';
    let error: unknown;
    /** Writes in flight: they read the folder, so dispose waits for them. */
    const writing = new Set<Promise<unknown>>();
    const run: RetrainRun = {
      get summary() {
        return copySummary(summary);
      },
      get outcome() {
        return outcome;
      },
      get error() {
        return error;
      },
      workDir,
      write: (round, outDir, writeOptions = {}) => {
        const written = writeRound(round, outDir, writeOptions.overwrite);
        writing.add(written);
        const settled = (): boolean => writing.delete(written);
        written.then(settled, settled);
        return written;
      },
      dispose: async () => {
        kept.clear();
        await Promise.allSettled(writing);
        await fs.rm(workDir, { recursive: true, force: true });
      },
    };
    async function writeRound(round: number, outDir: string, overwrite?: boolean): Promise<RetrainWritten> {
      const at = kept.get(round);
      if (!at) throw new Error(`round ${round} has no kept model (rounds kept: ${[...kept.keys()].join(', ') || 'none'})`);
      const report: CondenseReport = { ...at.report, model: original.path, retrain: { ...copySummary(summary), written: round } };
      const files = await Promise.all(at.files.map(async (name) => ({ name, data: new Uint8Array(await fs.readFile(path.join(at.folder, name))) })));
      const target = await writeFolder(outDir, [...files, { name: REPORT_FILE, data: JSON.stringify(report, null, 1) }], {
        overwrite,
        protect: protectedPaths(original),
      });
      return { outDir: target, mainFile: path.join(target, original.mainFile), report };
    }
    options.onStart?.(run);
    try {
      const settings = {
        ...options, trainer, batchSize, fraction, calibration,
      };
      if ((await runRounds(original, workDir, settings, { trainX, trainY, valX, valY, validation, metric, loss, width }, summary, kept)) === 'cancelled') {
        outcome = 'cancelled';
      }
    } catch (e) {
      // Once the run has started, a failing round leaves the rounds finished before it writable.
      outcome = 'failed';
      error = e;
    }
    if (outcome === 'running') outcome = 'completed';
    return run;
  } catch (e) {
    await fs.rm(workDir, { recursive: true, force: true });
    throw e;
  } finally {
    tf.dispose(tensors);
    await trainer.dispose();
  }
}
