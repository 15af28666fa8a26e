/**
 * The training and validation files of a retrain run, checked before anything trains, and what
 * the loss follows from them: real-valued targets shaped like the outputs train on the mean squared
 * error, class indices (or one-hot rows, turned into indices) on cross-entropy — on the outputs'
 * probabilities when the model ends in a softmax, on its logits otherwise.
 */
import { InputError } from '../model/errors';
import { ModelGraph } from '../model/graph';
import type { AutoMetric } from '../reduction/report';
import { loadLabelledData, metricOf, LabelledData } from '../data/validation';
import type { TrainingLoss } from './fineTune';

export interface RetrainFiles {
  trainInputs: string;
  trainTargets: string;
  valInputs: string;
  valTargets: string;
}

/** Reads both sets (every row: only tfjs and the format's runner run them, batch by batch). */
export async function loadRetrainSets(graph: ModelGraph, files: RetrainFiles): Promise<{ training: LabelledData; validation: LabelledData }> {
  const validation = await loadLabelledData(graph, files.valInputs, files.valTargets, false);
  const training = await loadLabelledData(graph, files.trainInputs, files.trainTargets, false);
  for (const [set, file] of [[training, files.trainInputs], [validation, files.valInputs]] as const) {
    if (set.rows.samples === 0) throw new InputError(file, 'holds no rows');
  }
  return { training, validation };
}

/** Each row holds one 1 and otherwise 0s. */
function oneHot(targets: Float64Array, width: number): boolean {
  if (width < 2) return false;
  for (let r = 0; r < targets.length; r += width) {
    let ones = 0;
    for (let c = r; c < r + width; c++) {
      const t = targets[c];
      if (t === 1) ones++;
      else if (t !== 0) return false;
    }
    if (ones !== 1) return false;
  }
  return true;
}

/** One-hot rows as their class indices (a new set; the given one is not changed). */
function asIndices(set: LabelledData, width: number): LabelledData {
  const rows = set.targets.length / width;
  const targets = new Float64Array(rows);
  for (let r = 0; r < rows; r++) targets[r] = set.targets.subarray(r * width, (r + 1) * width).indexOf(1);
  return { ...set, targets, targetWidth: 1 };
}

/**
 * The metric both sets are measured with, and the sets with targets as training takes them. `width`:
 * the model's outputs per row; `softmax`: whether the model ends in one.
 */
export function trainingTargets(sets: { training: LabelledData; validation: LabelledData }, width: number, softmax: boolean) {
  let { training, validation } = sets;
  // Both sets one-hot: a classification, though the targets are shaped like the outputs.
  if (training.targetWidth === width && validation.targetWidth === width && oneHot(training.targets, width) && oneHot(validation.targets, width)) {
    training = asIndices(training, width);
    validation = asIndices(validation, width);
  }
  const metric: AutoMetric = metricOf(validation, width);
  if (metricOf(training, width) !== metric) throw new InputError(training.targetsFile, `does not hold the same kind of targets as ${validation.targetsFile}`);
  const loss: TrainingLoss = metric === 'mse' ? 'mse' : softmax ? 'sparseCategoricalCrossentropy' : 'softmaxCrossEntropy';
  return { metric, loss, training, validation };
}
