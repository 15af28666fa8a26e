/**
 * What the retrain rounds choose instead of guessing: each round's threshold, cut from the
 * clustering trees so that it removes a fraction of the units still there, and the learning rate,
 * from a short range test (one epoch per candidate from the same start): the largest rate whose
 * validation loss stays within RATE_MARGIN of the lowest. The lowest alone favours the rate that moves
 * the weights least — right for one epoch from a model that is already good, too timid to recover
 * from the condensations of the rounds after it.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Backend } from '../compute/backend';
import type { ModelSummary } from '../estimate';
import { fineTune, FineTuneOptions, TrainingData } from './fineTune';

/** Fine-tuning epochs a round at most, by default (the back-off ends a round sooner once it stops improving). */
export const DEFAULT_EPOCHS = 60;
/** Condense–retrain rounds at most, by default (the rounds also stop at the first one beyond the tolerance). */
export const DEFAULT_ROUNDS = 12;
/** Units a round removes by default, of those left (10–15 % keeps each round's retraining short). */
export const DEFAULT_ROUND_FRACTION = 0.12;
/** Candidates of the range test, high to low. */
export const LEARNING_RATE_CANDIDATES = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5];
/**
 * How much higher than the lowest a candidate's one-epoch validation loss may be and still be chosen
 * (relative): a rate that costs at most this much in its first epoch has not thrown away what the
 * model knows, and the larger the rate, the further later rounds can move to repair a condensation.
 */
export const RATE_MARGIN = 0.05;

/** Steps an epoch keeps at least when the batch size is chosen: the back-off decides once an epoch, and needs steps between decisions. */
export const MIN_STEPS_PER_EPOCH = 64;
/** A chosen batch's inputs stay within this many values (4 MiB of float32), so images keep small batches. */
const MAX_BATCH_VALUES = 2 ** 20;

/**
 * The batch size when none is given: 32, doubled up to 256 while an epoch keeps MIN_STEPS_PER_EPOCH
 * steps and a batch's inputs stay small. On a CPU a small network's step is mostly fixed cost, so
 * larger batches on a large training set train the same epochs several times faster; the range test
 * then chooses the learning rate for that batch size.
 */
export function defaultBatchSize(rows: number, sampleValues: number): number {
  let batch = 32;
  while (batch < 256 && rows / (2 * batch) >= MIN_STEPS_PER_EPOCH && 2 * batch * sampleValues <= MAX_BATCH_VALUES) batch *= 2;
  return batch;
}

export interface RoundThreshold {
  /** The threshold, or null when no merge of similar units is left (nothing more condenses). */
  gamma: number | null;
  /** Units of the reduced layers before the round. */
  units: number;
  /** Units the cut removes (merges and dead units). */
  removed: number;
}

/**
 * The highest threshold that removes at least `fraction` of the reducible layers' units (dead units
 * count as removed): the merge similarities of all trees, highest first, the cut at the one that
 * reaches the count. Only cuts at positive similarity count: below, units pointing apart would merge.
 */
export function thresholdRemoving(summary: ModelSummary, fraction: number): RoundThreshold {
  const leads = summary.layers.filter((l) => l.reducible && l.dendrogram && (!l.joint || l.joint.lead === l.name));
  const units = leads.reduce((s, l) => s + (l.units ?? 0), 0);
  const dead = leads.reduce((s, l) => s + l.dead, 0);
  const sims = leads.flatMap((l) => Array.from(l.dendrogram!.sim)).filter((s) => s > 0).sort((a, b) => b - a);
  const wanted = Math.max(1, Math.ceil(fraction * units)) - dead;
  if (wanted <= 0) return { gamma: 1, units, removed: dead + sims.filter((s) => s >= 1).length };
  if (!sims.length) return { gamma: dead ? 1 : null, units, removed: dead };
  const gamma = sims[Math.min(wanted, sims.length) - 1];
  return { gamma, units, removed: dead + sims.filter((s) => s >= gamma).length };
}

export interface RangeTrial {
  learningRate: number;
  /** Validation loss after one epoch at this rate (NaN when it diverged). */
  valLoss: number;
}

/** Tries each candidate for one epoch from the model's current weights; the model ends with those weights again. */
export async function rangeTest(
  backend: Backend,
  model: TF.LayersModel,
  data: Required<TrainingData>,
  options: Pick<FineTuneOptions, 'batchSize' | 'loss' | 'seed' | 'signal' | 'optimizer' | 'shuffle'>,
): Promise<{ learningRate: number; trials: RangeTrial[] } | null> {
  const { tf } = backend;
  const start = model.getWeights().map((w) => tf.clone(w));
  const trials: RangeTrial[] = [];
  try {
    for (const learningRate of LEARNING_RATE_CANDIDATES) {
      model.setWeights(start);
      const result = await fineTune(backend, model, data, { ...options, epochs: 1, learningRate });
      if (result.outcome === 'aborted') return null;
      const valLoss = result.history[0]?.valLoss ?? NaN;
      trials.push({ learningRate, valLoss: Number.isFinite(valLoss) ? valLoss : NaN });
    }
  } finally {
    model.setWeights(start);
    tf.dispose(start);
  }
  return { learningRate: chooseLearningRate(trials), trials };
}

/** Why the range test's rate: the rule, for the summary and the report. */
export const RANGE_TEST_RULE = `the largest rate whose validation loss after one epoch is within ${Math.round(100 * RATE_MARGIN)} % of the lowest: ` +
  'a larger rate costs the model little in its first epoch and lets later rounds repair a condensation further';

/** The largest rate whose validation loss is within RATE_MARGIN of the lowest; the smallest rate when every trial diverged. */
export function chooseLearningRate(trials: RangeTrial[]): number {
  const finite = trials.filter((t) => Number.isFinite(t.valLoss));
  if (!finite.length) return Math.min(...trials.map((t) => t.learningRate));
  const lowest = Math.min(...finite.map((t) => t.valLoss));
  // A loss of 0 (or below, for a loss that can be negative) leaves no relative margin: only the lowest qualifies.
  const limit = lowest > 0 ? lowest * (1 + RATE_MARGIN) : lowest;
  return Math.max(...finite.filter((t) => t.valLoss <= limit).map((t) => t.learningRate));
}
