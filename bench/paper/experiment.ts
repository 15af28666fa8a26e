/**
 * One paper experiment: condense–retrain rounds with the product, next to the L1-norm baseline on the
 * same budget. Round k of each side takes the previous round's retrained model and
 *
 *   condensation: clusters at the threshold and merges (refitted on the calibration data), exactly as
 *                 `condense reduce --calibration` does;
 *   L1 baseline:  keeps, in every layer, as many units as condensation kept in round k — the ones with
 *                 the largest L1 norm (src/core/reduction/prune.ts) — and gets the same refit on the same data;
 *
 * then both are fine-tuned with the same epochs, batch size, learning rate and batch order — by the
 * product's fineTune (Adam) in place, or by a Trainer (the PyTorch trainer) that trains the written file's
 * graph and whose weights the format's writer writes, as `reduce --trainer` rounds do — and measured on the validation set by the product's metric (relative MSE
 * increase, or accuracy drop, against the original). Both the model right after the reduction and
 * the retrained one are measured. Models of every round stay in the work folder.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { Analysis, analyzeModel, loadModel } from '../../src/core/analyze';
import type { Backend } from '../../src/core/compute/backend';
import { loadCalibration } from '../../src/core/data/calibration';
import { MergePlan } from '../../src/core/reduction/merge';
import { planL1 } from '../../src/core/reduction/prune';
import { reduceModel } from '../../src/core/reduce';
import { EpochReport, fineTune, TrainingLoss } from '../../src/core/train/fineTune';
import type { Trainer, TrainerData } from '../../src/core/train/trainer';
import { writeFolder } from '../../src/core/reduction/output';
import type { RunFlags } from './args';
import { evaluate, LabelledData, loadLayersModel, saveLayersModel } from './common';
import { AutoMetric } from '../../src/core/reduction/report';
import { relativeIncrease } from '../../src/core/data/validation';

export interface ExperimentSpec {
  /** The trained original, a TF.js Layers model.json. */
  modelFile: string;
  metric: AutoMetric;
  train: LabelledData;
  val: LabelledData;
  /** Unlabelled inputs (.npy) for the data-aware similarity and the refit; without it, the plain merge. */
  calibrationFile?: string;
  /** γ of round k is thresholds[k − 1]; the last one repeats. */
  thresholds: number[];
  rounds: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Relative MSE increase or accuracy drop allowed against the original. */
  tolerance: number;
  /** Stop after the round that reaches this parameter ratio. */
  targetRatio?: number;
  seed: number;
  /** Where every round's models are written. */
  workDir: string;
  log?: (line: string) => void;
  /** Retrains with this trainer instead of fineTune on the backend (e.g. the PyTorch trainer). */
  trainer?: Trainer;
  /**
   * Results of an earlier run of the same experiment to continue: its control and rounds are kept and
   * the next round starts from its last models, which must still be in workDir.
   */
  resume?: ExperimentResult;
  /** After every round: the results so far, e.g. to save them before a long run ends. */
  onProgress?: (partial: ExperimentResult) => Promise<void>;
}

export interface Measured {
  /** Validation MSE, or accuracy. */
  value: number;
  /** Against the original: relative MSE increase, or accuracy drop. */
  change: number;
  meets: boolean;
}

export interface RoundResult {
  round: number;
  /** The condensation threshold of the round (the L1 side copies its unit counts). */
  threshold: number;
  /** Units kept per reduced layer. */
  units: Record<string, number>;
  params: number;
  /** params over the original's. */
  ratio: number;
  /** Right after the reduction (and refit), before retraining. */
  reduced: Measured;
  retrained: Measured;
  /** Consumers refitted on the calibration data, and those left with the plain merge (with why). */
  refitted: number;
  refitSkipped: string[];
}

export interface ExperimentResult {
  metric: AutoMetric;
  /** The original's validation metric. */
  baseline: number;
  paramsBefore: number;
  /** The original fine-tuned exactly like a round's model, without reduction: what retraining alone does. */
  /** Null until measured: it runs after round 1, so that a run stopped early still has its first round. */
  control: Measured | null;
  spec: Pick<ExperimentSpec, 'thresholds' | 'rounds' | 'epochs' | 'batchSize' | 'learningRate' | 'tolerance' | 'targetRatio' | 'seed'> & { calibration: string | null };
  condensation: RoundResult[];
  l1: RoundResult[];
  seconds: number;
}

type Side = 'condensation' | 'l1';

export async function runExperiment(backend: Backend, spec: ExperimentSpec): Promise<ExperimentResult> {
  const { tf } = backend;
  if (spec.thresholds.length === 0 || spec.thresholds.some((t) => !(t > 0 && t <= 1))) throw new Error(`runExperiment: thresholds must lie in (0, 1], got [${spec.thresholds.join(', ')}]`);
  const started = Date.now();
  const log = spec.log ?? (() => undefined);
  const original = await loadLayersModel(tf, spec.modelFile);
  const paramsBefore = original.countParams();
  const baseline = evaluate(original, spec.val, spec.metric);
  original.dispose();
  function measure(value: number): Measured {
    const change = spec.metric === 'mse' ? relativeIncrease(value, baseline) : baseline - value;
    return { value, change, meets: change <= spec.tolerance + 1e-12 };
  }
  log(`original: ${paramsBefore} parameters, validation ${spec.metric} ${format(spec.metric, baseline)}`);

  const result: ExperimentResult = {
    metric: spec.metric,
    baseline,
    paramsBefore,
    spec: {
      thresholds: spec.thresholds,
      rounds: spec.rounds,
      epochs: spec.epochs,
      batchSize: spec.batchSize,
      learningRate: spec.learningRate,
      tolerance: spec.tolerance,
      targetRatio: spec.targetRatio,
      seed: spec.seed,
      calibration: spec.calibrationFile ? path.basename(spec.calibrationFile) : null,
    },
    control: null,
    condensation: [],
    l1: [],
    seconds: 0,
  };
  const current: Record<Side, string> = { condensation: spec.modelFile, l1: spec.modelFile };

  const loss = spec.metric === 'mse' ? 'mse' : 'sparseCategoricalCrossentropy';
  const trainerData: TrainerData = { trainX: spec.train.inputs, trainY: spec.train.targets, valX: spec.val.inputs, valY: spec.val.targets };
  /**
   * The same fine-tuning for every model of a round (batch order included) of the model in `modelFile`,
   * written to `outDir`; returns the written model.json and the trained model.
   */
  const retrain = async (modelFile: string, round: number, outDir: string): Promise<{ file: string; model: TF.LayersModel }> => {
    const run = { seed: spec.seed * 1000 + round, epochs: spec.epochs, batchSize: spec.batchSize, learningRate: spec.learningRate, loss } as const;
    if (spec.trainer) {
      const file = await trainFile(spec.trainer, modelFile, trainerData, run, outDir);
      return { file, model: await loadLayersModel(tf, file) };
    }
    const model = await loadLayersModel(tf, modelFile);
    await fineTune(backend, model, spec.train, run);
    return { file: await saveLayersModel(tf, model, outDir), model };
  };

  const thresholdOf = (round: number) => spec.thresholds[Math.min(round, spec.thresholds.length) - 1];
  /** Reduces the side's current model (by condensation, or by the given plan), retrains and measures it. */
  const step = async (side: Side, round: number, makePlan?: (analysis: Analysis) => MergePlan): Promise<RoundResult> => {
    const model = await loadModel(current[side]);
    const calibration = spec.calibrationFile ? await loadCalibration(model.source.graph, { file: spec.calibrationFile }, model.source.path) : undefined;
    const analysis = await analyzeModel(model, { gram: backend.gram, backend: backend.label, calibration });
    const plan = makePlan?.(analysis);
    const reduced = await reduceModel(analysis, thresholdOf(round), path.join(spec.workDir, `${side}-${round}-reduced`), { calibration, plan, overwrite: true });
    const reducedModel = await loadLayersModel(tf, reduced.mainFile);
    const before = measure(evaluate(reducedModel, spec.val, spec.metric));
    reducedModel.dispose();
    const trained = await retrain(reduced.mainFile, round, path.join(spec.workDir, `${side}-${round}`));
    const layersModel = trained.model;
    try {
      const after = measure(evaluate(layersModel, spec.val, spec.metric));
      current[side] = trained.file;
      const refits = reduced.report.refits ?? [];
      const params = layersModel.countParams();
      const roundResult: RoundResult = {
        round,
        threshold: thresholdOf(round),
        units: Object.fromEntries(reduced.report.layers.map((l) => [l.name, l.unitsAfter])),
        params,
        ratio: params / paramsBefore,
        reduced: before,
        retrained: after,
        refitted: refits.filter((r) => r.skipped === null).length,
        refitSkipped: refits.filter((r) => r.skipped !== null).map((r) => `${r.consumer}: ${r.skipped}`),
      };
      log(
        `round ${round} γ ${thresholdOf(round)} ${side.padEnd(12)} ${(100 * roundResult.ratio).toFixed(1).padStart(5)} % params, ` +
          `reduced ${format(spec.metric, before.value)} (${formatChange(spec.metric, before.change)}), ` +
          `retrained ${format(spec.metric, after.value)} (${formatChange(spec.metric, after.change)})`,
      );
      return roundResult;
    } finally {
      layersModel.dispose();
    }
  };

  const done = spec.resume?.condensation.length ?? 0;
  if (spec.resume) {
    if (spec.resume.baseline !== baseline || spec.resume.l1.length !== done) throw new Error('runExperiment: the results to resume are not of this experiment');
    Object.assign(result, { control: spec.resume.control, condensation: [...spec.resume.condensation], l1: [...spec.resume.l1] });
    for (const side of ['condensation', 'l1'] as const) current[side] = path.join(spec.workDir, `${side}-${done}`, 'model.json');
    log(`resuming after round ${done}`);
  }
  const earlier = spec.resume?.seconds ?? 0;
  for (let round = done + 1; round <= spec.rounds; round++) {
    const condensed = await step('condensation', round);
    const previous = result.condensation.at(-1)?.params ?? paramsBefore;
    result.condensation.push(condensed);
    result.l1.push(await step('l1', round, (analysis) => planL1(analysis, condensed.units)));
    result.seconds = earlier + (Date.now() - started) / 1000;
    await spec.onProgress?.(result);
    if (result.control === null) {
      const control = (await retrain(spec.modelFile, 1, path.join(spec.workDir, 'control'))).model;
      result.control = measure(evaluate(control, spec.val, spec.metric));
      control.dispose();
      result.seconds = earlier + (Date.now() - started) / 1000;
      await spec.onProgress?.(result);
      log(`control: the original retrained like round 1, validation ${format(spec.metric, result.control.value)} (${formatChange(spec.metric, result.control.change)})`);
    }
    if (condensed.params === previous && round >= spec.thresholds.length) {
      log(`round ${round}: condensation removed nothing more at γ = ${thresholdOf(round)}; stopping`);
      break;
    }
    if (spec.targetRatio !== undefined && condensed.ratio <= spec.targetRatio) break;
  }
  result.seconds = earlier + (Date.now() - started) / 1000;
  return result;
}

/** One training run of a model file: what fineTune takes, and for a Trainer the same schedule without back-off. */
export interface TrainingRun {
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  loss: TrainingLoss;
  onEpoch?: (report: EpochReport) => void;
}

/**
 * Trains the model in `modelFile` with the trainer, as a `reduce --trainer` round does (the file's graph
 * in, the trained weights through the format's own writer), into `outDir`; returns the written main file.
 */
export async function trainFile(trainer: Trainer, modelFile: string, data: TrainerData, run: TrainingRun, outDir: string): Promise<string> {
  const { source } = await loadModel(modelFile);
  const trained = await trainer.train({ ...run, graph: source.graph, file: source.path, inputShape: data.trainX.shape.slice(1), patience: 0 }, data);
  if (trained.outcome === 'aborted') throw new Error(`training ${modelFile} was aborted`);
  await writeFolder(outDir, source.encode(trained.weights, new Map()), { overwrite: true, protect: [source.path] });
  return path.join(outDir, source.mainFile);
}

export function format(metric: AutoMetric, value: number): string {
  return metric === 'mse' ? value.toExponential(3) : `${(100 * value).toFixed(2)} %`;
}

export function formatChange(metric: AutoMetric, change: number): string {
  return metric === 'mse' ? `${change >= 0 ? '+' : ''}${(100 * change).toFixed(1)} %` : `${change >= 0 ? '−' : '+'}${Math.abs(100 * change).toFixed(2)} pt`;
}

/** The smallest round of a side whose retrained model meets the tolerance, or null. */
export function smallestWithin(rounds: RoundResult[]): RoundResult | null {
  return rounds.filter((r) => r.retrained.meets).reduce<RoundResult | null>((best, r) => (!best || r.params < best.params ? r : best), null);
}

/** The folder's original model: what each script's preparation writes and the rounds start from. */
const originalFile = (dir: string): string => path.join(dir, 'original', 'model.json');

/** Whether the script must (re)train the original before its rounds. */
export async function needsOriginal(dir: string, flags: Pick<RunFlags, 'retrainOriginal'>): Promise<boolean> {
  return flags.retrainOriginal || !(await fs.stat(originalFile(dir)).then(() => true, () => false));
}

/**
 * Runs the experiment on a folder its script prepared (original/, calibration.npy): the command line's
 * schedule, the experiment's own metric, data, tolerance and seed; the results file is rewritten after
 * every round and at the end (and read first with --resume).
 */
export async function runInFolder(
  backend: Backend,
  flags: Omit<RunFlags, 'retrainOriginal' | 'prepareOnly'> & { batchSize: number; targetRatio?: number; trainer?: Trainer },
  experiment: Pick<ExperimentSpec, 'metric' | 'train' | 'val' | 'tolerance' | 'seed'>,
): Promise<ExperimentResult> {
  const { dir, resultsFile, roundsDir, log, resume, ...schedule } = flags;
  const onProgress = (partial: ExperimentResult): Promise<void> => fs.writeFile(resultsFile, JSON.stringify(partial, null, 1));
  const result = await runExperiment(backend, {
    ...schedule,
    ...experiment,
    modelFile: originalFile(dir),
    calibrationFile: path.join(dir, 'calibration.npy'),
    workDir: path.join(dir, roundsDir),
    log,
    onProgress,
    resume: resume ? (JSON.parse(await fs.readFile(resultsFile, 'utf8')) as ExperimentResult) : undefined,
  });
  await onProgress(result);
  log(`results written to ${resultsFile} (${result.seconds.toFixed(0)} s)`);
  return result;
}
