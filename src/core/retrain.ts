/**
 * Condense–retrain cycles (TF.js Layers models for now): each round condenses the current model at
 * the threshold (refitted when calibration data is given, exactly as `reduce`), writes it to a
 * temporary folder, loads it into tfjs and fine-tunes it on the training set, then measures the
 * validation metric as `reduce --auto` does — the relative MSE increase over the ORIGINAL model's, or
 * the accuracy drop. The next round condenses the retrained model (retraining lets neurons condense
 * further). The smallest round within the tolerance is written; the loop stops when the target ratio
 * is reached, when a round leaves the tolerance, or after the given number of rounds. The original is
 * never touched and every temporary folder is removed.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from './analysis';
import { AutoMetric, loadValidation, metricOf, relativeIncrease, score } from './autoReduce';
import type { Backend } from './backend';
import { CalibrationSpec, loadCalibration } from './calibration';
import { InputError } from './errors';
import { writeFolder } from './output';
import { CondenseReport, reduceModel, REPORT_FILE } from './reduce';
import type { OpenOptions } from './source';
import { readTfjsModel } from './tfjs/read';
import { toLayersModel } from './tfjs/source';
import { WEIGHTS_FILE } from './tfjs/write';
import { fineTune } from './train/fineTune';

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
}

export interface RetrainSummary {
  metric: AutoMetric;
  tolerance: number;
  /** The original model's validation metric. */
  baseline: number;
  paramsBefore: number;
  epochs: number;
  rounds: RetrainRound[];
  /** The round written (smallest within the tolerance); null when none met it. */
  chosen: number | null;
}

export interface RetrainOptions {
  backend: Backend;
  threshold: number;
  tolerance: number;
  epochs: number;
  rounds: number;
  targetRatio?: number;
  trainInputs: string;
  trainTargets: string;
  valInputs: string;
  valTargets: string;
  calibration?: CalibrationSpec;
  allowBiasDominated?: boolean;
  openOptions?: OpenOptions;
  batchSize?: number;
  learningRate?: number;
  overwrite?: boolean;
  onRound?: (round: RetrainRound) => void;
}

export interface RetrainResult {
  summary: RetrainSummary;
  /** The written folder and report; null when no round met the tolerance (nothing written). */
  outDir: string | null;
  report: CondenseReport | null;
}

export const RETRAIN_TFJS_ONLY = 'retraining supports TF.js Layers models for now';

export async function retrainModel(modelFile: string, outDir: string, options: RetrainOptions): Promise<RetrainResult> {
  const { backend } = options;
  const { tf } = backend;
  const original = await loadModel(modelFile, options.openOptions);
  if (original.source.format !== 'tfjs-layers') throw new InputError(modelFile, RETRAIN_TFJS_ONLY);
  const graph = original.source.graph;
  const validation = await loadValidation(graph, options.valInputs, options.valTargets);
  const training = await loadValidation(graph, options.trainInputs, options.trainTargets);

  const temps: string[] = [];
  const tempDir = (label: string): string => {
    const dir = path.join(os.tmpdir(), `condense-retrain-${process.pid}-${Date.now().toString(36)}-${label}`);
    temps.push(dir);
    return dir;
  };
  const valX = tf.tensor(Float32Array.from(validation.rows.input.data), validation.rows.input.shape);
  const trainX = tf.tensor(Float32Array.from(training.rows.input.data), training.rows.input.shape);
  let trainY: TF.Tensor | null = null;
  try {
    const originalModel = await toLayersModel(tf, await readTfjsModel(original.source.path));
    const paramsBefore = originalModel.countParams();
    const first = predict(tf, originalModel, valX);
    originalModel.dispose();
    const samples = validation.rows.picked.length;
    const width = first.length / samples;
    const metric = metricOf(validation, width);
    if (metricOf(training, width) !== metric) throw new InputError(options.trainTargets, `does not hold the same kind of targets as ${options.valTargets}`);
    const baseline = score(metric, first, validation.targets, samples, width);
    const trainRows = training.rows.picked.length;
    trainY = metric === 'mse' ? tf.tensor(Float32Array.from(training.targets), [trainRows, width]) : tf.tensor(Float32Array.from(training.targets), [trainRows]);

    const summary: RetrainSummary = { metric, tolerance: options.tolerance, baseline, paramsBefore, epochs: options.epochs, rounds: [], chosen: null };
    let best: { round: RetrainRound; folder: string; report: CondenseReport } | null = null;
    let current = original.source.path;
    for (let k = 1; k <= options.rounds; k++) {
      const model = await loadModel(current, options.openOptions);
      const calibration = options.calibration ? await loadCalibration(model.source.graph, options.calibration, model.source.path) : undefined;
      const analysis = await analyzeModel(model, { gram: backend.gram, backend: backend.label, calibration, allowBiasDominated: options.allowBiasDominated });
      const reduced = await reduceModel(analysis, options.threshold, tempDir(`condensed-${k}`), { calibration });
      const layersModel = await toLayersModel(tf, await readTfjsModel(reduced.mainFile));
      try {
        await fineTune(backend, layersModel, { inputs: trainX, targets: trainY }, {
          epochs: options.epochs,
          batchSize: options.batchSize ?? 32,
          learningRate: options.learningRate ?? 1e-3,
          loss: metric === 'mse' ? 'mse' : 'sparseCategoricalCrossentropy',
        });
        const params = layersModel.countParams();
        const value = score(metric, predict(tf, layersModel, valX), validation.targets, samples, width);
        const change = metric === 'mse' ? relativeIncrease(value, baseline) : baseline - value;
        const round: RetrainRound = { round: k, paramsRatio: params / paramsBefore, params, metric: value, change, meets: change <= options.tolerance + 1e-12 };
        summary.rounds.push(round);
        options.onRound?.(round);
        const folder = await writeFolder(tempDir(`trained-${k}`), await layersModelFiles(tf, layersModel), { protect: original.source.files });
        if (round.meets && (!best || params < best.round.params)) best = { round, folder, report: reduced.report };
        if (!round.meets) break;
        if (options.targetRatio !== undefined && round.paramsRatio <= options.targetRatio) break;
        current = path.join(folder, 'model.json');
      } finally {
        layersModel.dispose();
      }
    }
    if (!best) return { summary, outDir: null, report: null };
    summary.chosen = best.round.round;
    const report: CondenseReport = { ...best.report, model: original.source.path, retrain: summary };
    const files = await Promise.all([WEIGHTS_FILE, 'model.json'].map(async (name) => ({ name, data: new Uint8Array(await fs.readFile(path.join(best!.folder, name))) })));
    const target = await writeFolder(outDir, [...files, { name: REPORT_FILE, data: JSON.stringify(report, null, 1) }], {
      overwrite: options.overwrite,
      protect: original.source.files,
    });
    return { summary, outDir: target, report };
  } finally {
    tf.dispose([valX, trainX, ...(trainY ? [trainY] : [])]);
    await Promise.all(temps.map((dir) => fs.rm(dir, { recursive: true, force: true })));
  }
}

/** The first output on the inputs, as float64 (samples × outputs). */
function predict(tf: typeof TF, model: TF.LayersModel, x: TF.Tensor): Float64Array {
  const out = model.predict(x, { batchSize: 256 });
  const all = Array.isArray(out) ? out : [out];
  const y = Float64Array.from(all[0].dataSync());
  tf.dispose(all);
  return y;
}

/** A LayersModel as a TF.js Layers folder's files (model.json and one weight shard). */
async function layersModelFiles(tf: typeof TF, model: TF.LayersModel): Promise<{ name: string; data: Uint8Array | string }[]> {
  let artifacts: TF.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = artifacts!;
  const parts = a.weightData === undefined ? [] : Array.isArray(a.weightData) ? a.weightData : [a.weightData];
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const weights = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    weights.set(new Uint8Array(p), offset);
    offset += p.byteLength;
  }
  const json = {
    format: 'layers-model',
    generatedBy: a.generatedBy,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: a.weightSpecs ?? [] }],
  };
  return [
    { name: WEIGHTS_FILE, data: weights },
    { name: 'model.json', data: JSON.stringify(json) },
  ];
}
