/**
 * The rounds of a condense–retrain run, for any format: a round condenses the current model
 * (refitted on the calibration inputs, exactly as `reduce`), builds it as a trainable tfjs network
 * from the engine's graph, fine-tunes it, writes the trained weights through the format's own writer
 * and measures the written file in the format's own runtime — that measurement is the round's metric.
 * The next round starts from the written file — or, when the round left the tolerance and its
 * threshold was cut from the trees, from the last good model again, removing half as many units.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../analyze';
import type { Backend } from '../compute/backend';
import { runInFormat } from '../compute/formatRuntime';
import { CalibrationSpec, loadCalibration } from '../data/calibration';
import { relativeIncrease, score, LabelledData } from '../data/validation';
import type { ModelGraph } from '../model/graph';
import { openModel } from '../formats/index';
import type { ModelSource, OpenOptions } from '../model/registry';
import { sizeOf } from '../model/tensor';
import { writeFolder } from '../reduction/output';
import type { AutoMetric, CondenseReport, RetrainRound, RetrainSummary } from '../reduction/report';
import { reduceModel } from '../reduce';
import { EpochReport, PauseGate, TrainingLoss } from './fineTune';
import { RANGE_TEST_RULE, thresholdRemoving } from './schedule';
import type { Trainer } from './trainer';

/** Epochs in a row without a better validation loss that halve a round's learning rate (PATIENCES_TO_STOP times as many end its training). */
export const PATIENCE = 2;
/**
 * The share of a round's epochs trained at the starting rate before the back-off may act. A
 * condensation throws the validation loss up and it takes a while to settle: halving the rate and
 * ending the round on an early plateau left each round short of what it could repair (measured on the
 * combustion MLP: 52.4 % of the parameters with the back-off from the first epoch, 33.6 % with half
 * the epochs steady; docs/benchmarks.md).
 */
const STEADY_SHARE = 0.5;
export const steadyEpochs = (epochs: number): number => Math.floor(STEADY_SHARE * epochs);
/** A round that leaves the tolerance is tried again from the last good model removing half as many units, down to this fraction. */
export const MIN_ROUND_FRACTION = 0.03;

/** A round's written model, kept until the run is disposed. */
export interface KeptRound {
  folder: string;
  /** The file names in the folder (the format's writer's). */
  files: string[];
  report: CondenseReport;
}

export interface RoundSettings {
  backend: Backend;
  /** Trains each round's condensed model (the embedded tfjs trainer or PyTorch). */
  trainer: Trainer;
  /** Fixed threshold every round; otherwise each round's is cut from the trees to remove `fraction` of the units. */
  threshold?: number;
  fraction: number;
  tolerance: number;
  epochs: number;
  rounds: number;
  targetRatio?: number;
  batchSize: number;
  /** Given: every round starts at it; otherwise a range test on the first round chooses it. */
  learningRate?: number;
  calibration: CalibrationSpec;
  allowBiasDominated?: boolean;
  openOptions?: OpenOptions;
  onEpoch?: (epoch: EpochReport & { round: number }) => void;
  onRound?: (round: RetrainRound, summary: RetrainSummary) => void;
  signal?: AbortSignal;
  gate?: PauseGate;
}

/** What the rounds train and measure on (the tensors are the caller's). */
export interface RoundData {
  trainX: TF.Tensor;
  trainY: TF.Tensor;
  valX: TF.Tensor;
  valY: TF.Tensor;
  /** The validation set, with targets as the metric takes them. */
  validation: LabelledData;
  metric: AutoMetric;
  loss: TrainingLoss;
  width: number;
}

/** What no write may hold or replace: the original's files, also by their real paths. */
export const protectedPaths = (source: ModelSource): string[] => [...new Set([...source.files, ...source.fingerprint.map((f) => f.path)])];

/** Parameters the engine's graph holds in its layers (moving statistics count, as tfjs counts them). */
export function graphParams(graph: ModelGraph): number {
  let total = 0;
  for (const layer of graph.layers) for (const w of layer.weights.values()) total += sizeOf(w.shape);
  return total;
}

/**
 * Runs rounds until one leaves the tolerance, the target ratio is reached, nothing more condenses or
 * the round limit; fills `summary` (rounds, chosen, stopped, learning rate) and `kept`. Returns
 * 'cancelled' when the signal stopped it.
 */
export async function runRounds(
  original: ModelSource,
  workDir: string,
  settings: RoundSettings,
  data: RoundData,
  summary: RetrainSummary,
  kept: Map<number, KeptRound>,
): Promise<'cancelled' | 'done'> {
  const { backend, signal, gate } = settings;
  const cancelled = (): boolean => signal?.aborted === true;
  let current = original.path;
  let fraction = settings.fraction;
  let learningRate = settings.learningRate;
  let previousParams = summary.paramsBefore;
  const inputShape = data.trainX.shape.slice(1);
  for (let k = 1; k <= settings.rounds; k++) {
    await gate?.wait(signal);
    if (cancelled()) return 'cancelled';
    const model = await loadModel(current, settings.openOptions);
    const calibration = await loadCalibration(model.source.graph, settings.calibration, model.source.path);
    if (cancelled()) return 'cancelled';
    const analysis = await analyzeModel(model, { gram: backend.gram, backend: backend.label, calibration, allowBiasDominated: settings.allowBiasDominated });
    if (cancelled()) return 'cancelled';
    const gamma = settings.threshold ?? thresholdRemoving(analysis.summary, fraction).gamma;
    if (gamma === null) {
      summary.stopped = `nothing more condenses after round ${k - 1} (no similar units left)`;
      return 'done';
    }
    const condensedDir = path.join(workDir, `condensed-${k}`);
    const reduced = await reduceModel(analysis, gamma, condensedDir, { calibration });
    const condensed = (await loadModel(reduced.mainFile, settings.openOptions)).source;
    let round: RetrainRound;
    try {
      if (cancelled()) return 'cancelled';
      const trained = await settings.trainer.train({
        graph: condensed.graph, file: condensed.path, inputShape, epochs: settings.epochs, batchSize: settings.batchSize, loss: data.loss,
        seed: k, learningRate, patience: PATIENCE, steadyEpochs: steadyEpochs(settings.epochs), onEpoch: (e) => settings.onEpoch?.({ round: k, ...e }), signal, gate,
      }, data);
      if (trained.outcome === 'aborted') return 'cancelled';
      if (trained.rangeTest) {
        learningRate = trained.rangeTest.learningRate;
        summary.learningRate = { value: learningRate, chosenBy: 'range test', trials: trained.rangeTest.trials, why: RANGE_TEST_RULE };
      }
      const files = condensed.encode(trained.weights, new Map());
      const folder = await writeFolder(path.join(workDir, `round-${k}`), files, { protect: protectedPaths(original) });
      // The round counts as the written file runs in its own format's runtime.
      const written = await openModel(path.join(folder, condensed.mainFile), settings.openOptions);
      const y = await runInFormat(written, backend, data.validation);
      const samples = data.validation.rows.picked.length;
      const value = score(data.metric, y, data.validation.targets, samples, data.width);
      const change = data.metric === 'mse' ? relativeIncrease(value, summary.baseline) : summary.baseline - value;
      const params = graphParams(written.graph);
      round = {
        round: k, paramsRatio: params / summary.paramsBefore, params, metric: value, change, meets: change <= settings.tolerance + 1e-12,
        threshold: gamma, epochsRun: trained.history.length, bestEpoch: trained.bestEpoch, learningRate: trained.learningRate,
      };
      kept.set(k, { folder, files: files.map((f) => f.name), report: reduced.report });
      if (round.meets) current = written.path;
    } finally {
      await fs.rm(condensedDir, { recursive: true, force: true });
    }
    summary.rounds.push(round);
    if (round.meets && (summary.chosen === null || round.params < summary.rounds.find((r) => r.round === summary.chosen)!.params)) summary.chosen = k;
    // Out of the tolerance with thresholds cut from the trees: the next round removes half as much from the last good model.
    const retry = !round.meets && settings.threshold === undefined && fraction / 2 >= MIN_ROUND_FRACTION;
    const stop = !round.meets && !retry
      ? `round ${k} left the tolerance (change ${round.change.toPrecision(3)} > ${settings.tolerance})${settings.threshold === undefined ? ` removing ${(100 * fraction).toFixed(1)} % of the units, the smallest step` : ''}`
      : round.meets && settings.targetRatio !== undefined && round.paramsRatio <= settings.targetRatio
        ? `round ${k} reached the target ratio ${settings.targetRatio}`
        : round.meets && round.params >= previousParams
          ? `round ${k} removed no parameters`
          : k === settings.rounds
            ? `the round limit (${settings.rounds}) was reached`
            : undefined;
    if (stop) summary.stopped = stop;
    settings.onRound?.(round, copySummary(summary));
    if (stop) return 'done';
    if (retry) fraction /= 2;
    else previousParams = round.params;
  }
  return 'done';
}

export const copySummary = (s: RetrainSummary): RetrainSummary => ({ ...s, rounds: s.rounds.map((r) => ({ ...r })) });
