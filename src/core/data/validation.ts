/**
 * Labelled data — the validation set, and the training set read the same way — and the metric measured
 * on it: the mean squared error for real-valued targets, accuracy for one class index per row.
 */
import { readDataFile } from '../codecs/dataFile';
import { InputError } from '../model/errors';
import { ModelGraph } from '../model/graph';
import type { AutoMetric } from '../reduction/report';
import { InputRows, MemoryBudget, readInputRows } from './calibration';

/** Labelled rows (validation or training): inputs and, per row, either the expected outputs or a class index. */
export interface LabelledData {
  inputs: string;
  targetsFile: string;
  rows: InputRows;
  /** The targets of the kept rows, `targetWidth` values per row. */
  targets: Float64Array;
  targetWidth: number;
  description: string;
}


/** `evaluated`: the rows go through condense's evaluator (capped to its memory budget), not only through tfjs. */
export async function loadLabelledData(graph: ModelGraph, inputsFile: string, targetsFile: string, evaluated = true, memory?: MemoryBudget): Promise<LabelledData> {
  // All rows count unless the evaluator's memory cannot hold them: subsampling makes the metric noisier.
  const rows = await readInputRows(graph, inputsFile, Infinity, evaluated, memory);
  const array = await readDataFile(targetsFile);
  if (array.shape[0] !== rows.samples) {
    throw new InputError(targetsFile, `has ${array.shape[0]} rows, but ${inputsFile} has ${rows.samples}`);
  }
  const targetWidth = array.data.length / rows.samples;
  const targets = new Float64Array(rows.picked.length * targetWidth);
  rows.picked.forEach((r, i) => targets.set(array.data.subarray(r * targetWidth, (r + 1) * targetWidth), i * targetWidth));
  return { inputs: inputsFile, targetsFile, rows, targets, targetWidth, description: `${rows.samples} rows of ${inputsFile}${rows.note}` };
}


/** 'mse' when the targets are shaped like the outputs, 'accuracy' when they are one class index per row. */
export function metricOf(validation: LabelledData, width: number): AutoMetric {
  if (validation.targetWidth === width) return 'mse';
  if (validation.targetWidth !== 1) {
    throw new InputError(validation.targetsFile, `has ${validation.targetWidth} values per row, but the model gives ${width} (regression targets) or takes one class index per row (classifiers)`);
  }
  validation.targets.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= width) throw new InputError(validation.targetsFile, `row ${i + 1}: ${t} is not a class index in [0, ${width - 1}]`);
  });
  return 'accuracy';
}


/** Validation MSE, or accuracy (argmax against the class indices). */
export function score(metric: AutoMetric, y: Float64Array, targets: Float64Array, samples: number, width: number): number {
  if (metric === 'mse') {
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += (y[i] - targets[i]) ** 2;
    return sum / y.length;
  }
  let correct = 0;
  for (let s = 0; s < samples; s++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (y[s * width + c] > y[s * width + best]) best = c;
    if (best === targets[s]) correct++;
  }
  return correct / samples;
}


/** (after − before) / before; a model that fits exactly tolerates no increase at all. */
export function relativeIncrease(after: number, before: number): number {
  if (before > 0) return (after - before) / before;
  return after > 0 ? Infinity : 0;
}

