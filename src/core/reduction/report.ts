/** What `condense-report.json` holds, and the shapes of the searches and runs it records. */
import type { Estimate } from '../estimate';
import type { RefitLayer } from './refit';

export const REPORT_FILE = 'condense-report.json';

/** What `condense-report.json` holds. */
export interface CondenseReport {
  tool: 'condense';
  /** The original model file. */
  model: string;
  /** The reduced model's file name inside the output folder. */
  reducedFile: string;
  threshold: number;
  /** With `--round-to N`: every reduced width was rounded up to a multiple of N. */
  roundTo?: number;
  backend: string;
  /** "refit": next layers solved by least squares on calibration data (described in `calibration`); "plain": summed output weights. */
  merge: 'refit' | 'plain';
  calibration?: string;
  /** Per consumer of a reduced layer, when calibration data was given. */
  refits?: RefitLayer[];
  /**
   * Relative MSE of the outputs against the original's on the held-out calibration samples, refitted and
   * plain-merged: the refit is written only when it is the lower (else `merge` is "plain").
   */
  refitOutputError?: { fit: number; plain: number } | null;
  layers: {
    name: string;
    threshold: number;
    unitsBefore: number;
    unitsAfter: number;
    dead: number[];
    clusters: { representative: number; members: number[]; scales: number[] }[];
  }[];
  totals: Estimate['totals'];
  /** With `reduce --auto`: the search that chose the per-layer thresholds (the chosen point, the metric before/after, the curve). */
  auto?: AutoResult;
  /** With `reduce --train-inputs`: the condense–retrain rounds and the one written. */
  retrain?: RetrainSummary;
  /** Weights-only files: the activation between layers, and whether it was assumed (not given). */
  activation?: { name: string; assumed: boolean };
  /** The written model run against the original after writing (the CLI's reduce). */
  check?: OutputCheck;
  /** The last `verify --timing` (or the extension's Verify with timing on) of this folder's model against the original. */
  timing?: Timing;
}

/** How far the written model's outputs are from the original's. */
export interface OutputCheck {
  /** What the models were run on, e.g. "held-out 128 uniform samples in [0, 1]". */
  inputs: string;
  samples: number;
  maxAbs: number;
  meanAbs: number;
  /** |y − ŷ| / max(|y|, rms(y)), as `verify` measures it. */
  maxRel: number;
  meanRel: number;
  /** Share of inputs whose top-1 class agrees, for softmax classifiers; null otherwise. */
  top1Agreement: number | null;
  /** The tolerance on maxRel (verify's default 1e-3, or reduce's --tolerance). */
  tolerance: number;
  withinTolerance: boolean;
}


export type AutoMetric = 'mse' | 'accuracy';

export interface AutoPoint {
  /** Per reduced layer (a joint group by its lead): the threshold its clusters are cut at. */
  thresholds: Record<string, number>;
  paramsAfter: number;
  /** paramsAfter / paramsBefore. */
  paramsRatio: number;
  /** Validation MSE, or accuracy. */
  metric: number;
  /** Against the original: relative MSE increase, or accuracy drop. */
  change: number;
  meets: boolean;
}


export interface AutoResult {
  metric: AutoMetric;
  tolerance: number;
  validation: string;
  /** How each candidate's next layers were merged, as `reduce` will merge the chosen one. */
  merge: 'refit' | 'plain';
  /** What ran the candidates: the engine's float64 evaluator, or the format's own runner. */
  runner: 'engine' | 'format';
  /** With `--round-to N`: every candidate's widths were rounded up to a multiple of N. */
  roundTo?: number;
  /** The original model's value on the validation set. */
  baseline: number;
  paramsBefore: number;
  /** The smallest evaluated candidate within the tolerance; null when even γ = 1 everywhere is not. */
  chosen: AutoPoint | null;
  /** Every evaluated candidate, in evaluation order: the size–error curve. */
  curve: AutoPoint[];
  milliseconds: number;
}


export interface RetrainRound {
  round: number;
  /** Parameters after this round's condensation and retraining, over the original's. */
  paramsRatio: number;
  params: number;
  /** Validation MSE or accuracy of the retrained model. */
  metric: number;
  /** Against the original: relative MSE increase, or accuracy drop. */
  change: number;
  meets: boolean;
  /** The threshold the round condensed at. */
  threshold?: number;
  /** Epochs trained, the one kept (best on validation; 0: none improved on the condensed model) and the learning rate at the end. */
  epochsRun?: number;
  bestEpoch?: number;
  learningRate?: number;
}


export interface RetrainSummary {
  metric: AutoMetric;
  tolerance: number;
  /** The original model's validation metric. */
  baseline: number;
  paramsBefore: number;
  epochs: number;
  /** The training batch size (given, or chosen from the training set's size). */
  batchSize?: number;
  rounds: RetrainRound[];
  /** The smallest round within the tolerance (the one `retrainModel` writes); null when none met it. */
  chosen: number | null;
  /** In a written report: the round whose model the folder holds. */
  written?: number;
  /** The learning rate each round starts at: given, or chosen by a range test on the first round (its trials). */
  learningRate?: { value: number; chosenBy: 'given' | 'range test'; trials?: { learningRate: number; valLoss: number }[]; why?: string };
  /** How each round trains, e.g. "up to 30 epochs, …; an epoch that worsens the validation loss is undone and the rate halved, …". */
  training?: string;
  /** How each round's threshold was chosen, e.g. "removes 12 % of the remaining units per round" or "given: 0.95". */
  thresholds?: string;
  /** The calibration inputs of the refit and the data-aware similarity. */
  calibration?: string;
  /** Why the rounds stopped. */
  stopped?: string;
  /** What trained the rounds, e.g. "embedded tfjs (wasm)" or "PyTorch 1.13.1 on cpu, /usr/bin/python3". */
  trainer?: string;
}


/** One batch size of a timing: both models' medians. */
export interface BatchTiming {
  batch: number;
  /** Median milliseconds per run of the whole batch. */
  originalMs: number;
  reducedMs: number;
  /** originalMs / reducedMs. */
  speedup: number;
  /** Measured runs per model. */
  runs: number;
  /** The larger of the two models' interquartile range over its median: how steady the runs were. */
  spread: number;
}

/** `verify --timing`: both models measured in their format's runtime (see timing.ts). */
export interface Timing {
  /** What ran the models, e.g. "onnxruntime 1.20.1 (CPU)" or "tfjs 4.22.0, the wasm backend (…)". */
  runtime: string;
  /** The threads it used, and whether a thread count asked for was followed or ignored. */
  threads: string;
  /** Where the inputs came from. */
  inputs: string;
  /** Multiply-adds per sample of the layers with kernels; null where a size is not known from the files. */
  macs: { original: number; reduced: number; ratio: number } | null;
  batches: BatchTiming[];
  /** When it was measured (ISO 8601). */
  measured: string;
}
