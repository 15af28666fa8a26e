/**
 * Condense–retrain cycles (TF.js Layers models for now): each round condenses the current model at
 * the threshold (refitted when calibration data is given, exactly as `reduce`), loads it into tfjs and
 * fine-tunes it on the training set, then measures the validation metric as `reduce --auto` does — the
 * relative MSE increase over the ORIGINAL model's, or the accuracy drop. The next round condenses the
 * retrained model (retraining lets neurons condense further). The loop stops when the target ratio is
 * reached, when a round leaves the tolerance, or after the given number of rounds.
 *
 * `runRetrain` keeps every round's retrained model in a temporary folder owned by the run, so any
 * round can be written (`RetrainRun.write`) until the run is disposed; it reports every epoch and
 * round, pauses between batches while its gate is closed, and stops between batches (and between a
 * round's steps) when its signal aborts. A cancelled or failed run keeps its finished rounds writable. `retrainModel` is the one-shot form the CLI uses: it
 * writes the smallest round within the tolerance. The original is never touched; every write goes
 * to a temporary sibling folder renamed into place.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { analyzeFile, loadModel } from './analyze';
import type { Backend } from './compute/backend';
import { CalibrationSpec } from './data/calibration';
import { CancelledError, InputError } from './model/errors';
import { writeFolder } from './reduction/output';
import { reduceModel } from './reduce';
import type { OpenOptions } from './model/registry';
import { readTfjsModel } from './formats/tfjs/read';
import { toLayersModel } from './formats/tfjs/source';
import { WEIGHTS_FILE } from './formats/tfjs/write';
import { RETRAIN_TFJS_ONLY } from '../shared/hints';
import { EpochReport, fineTune, PauseGate } from './train/fineTune';
import { type CondenseReport, REPORT_FILE, type RetrainRound, type RetrainSummary } from './reduction/report';
import { loadLabelledData, metricOf, relativeIncrease, score } from './data/validation';

export { PauseGate } from './train/fineTune';

/** One epoch of one round, for a live loss curve. */
export interface RetrainEpoch extends EpochReport {
  round: number;
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
  /** Once the original is measured: the run, with no rounds yet; each round can be written as soon as it is reported. */
  onStart?: (run: RetrainRun) => void;
  onEpoch?: (epoch: RetrainEpoch) => void;
  /** After a round's model is kept (so it can be written from here on), with a copy of the summary so far. */
  onRound?: (round: RetrainRound, summary: RetrainSummary) => void;
  /** Aborting stops training between batches (and a round between its steps); the unfinished round is dropped. */
  signal?: AbortSignal;
  /** While paused, training waits between batches. */
  gate?: PauseGate;
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
  const { backend, signal, gate } = options;
  // Queued behind another request and cancelled meanwhile: nothing is read.
  if (signal?.aborted) throw new CancelledError();
  const { tf } = backend;
  const original = await loadModel(modelFile, options.openOptions);
  if (original.source.format !== 'tfjs-layers') throw new InputError(modelFile, RETRAIN_TFJS_ONLY);
  const graph = original.source.graph;
  // Both only run through tfjs, batch by batch: every row is kept.
  const validation = await loadLabelledData(graph, options.valInputs, options.valTargets, false);
  const training = await loadLabelledData(graph, options.trainInputs, options.trainTargets, false);

  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-retrain-'));
  const kept = new Map<number, { folder: string; report: CondenseReport }>();
  const tensors: TF.Tensor[] = [];
  const tensor = (data: ArrayLike<number>, shape: number[]): TF.Tensor => {
    const t = tf.tensor(Float32Array.from(data), shape);
    tensors.push(t);
    return t;
  };
  try {
    const valX = tensor(validation.rows.input.data, validation.rows.input.shape);
    const trainX = tensor(training.rows.input.data, training.rows.input.shape);
    const originalModel = await toLayersModel(tf, await readTfjsModel(original.source.path));
    const paramsBefore = originalModel.countParams();
    const first = predict(tf, originalModel, valX);
    originalModel.dispose();
    const samples = validation.rows.picked.length;
    const width = first.length / samples;
    const metric = metricOf(validation, width);
    if (metricOf(training, width) !== metric) throw new InputError(options.trainTargets, `does not hold the same kind of targets as ${options.valTargets}`);
    const baseline = score(metric, first, validation.targets, samples, width);
    // Regression targets are shaped like the outputs; class indices are one per row.
    const targetShape = (rows: number): number[] => (metric === 'mse' ? [rows, width] : [rows]);
    const trainY = tensor(training.targets, targetShape(training.rows.picked.length));
    const valY = tensor(validation.targets, targetShape(samples));

    const summary: RetrainSummary = { metric, tolerance: options.tolerance, baseline, paramsBefore, epochs: options.epochs, rounds: [], chosen: null };
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
      const report: CondenseReport = { ...at.report, model: original.source.path, retrain: { ...copySummary(summary), written: round } };
      const files = await Promise.all([WEIGHTS_FILE, 'model.json'].map(async (name) => ({ name, data: new Uint8Array(await fs.readFile(path.join(at.folder, name))) })));
      const target = await writeFolder(outDir, [...files, { name: REPORT_FILE, data: JSON.stringify(report, null, 1) }], {
        overwrite,
        protect: original.source.files,
      });
      return { outDir: target, mainFile: path.join(target, 'model.json'), report };
    }
    /** Checked between a round's steps (each may take a while), so a cancel lands before the next one starts. */
    const cancelled = (): boolean => {
      if (signal?.aborted) outcome = 'cancelled';
      return outcome === 'cancelled';
    };
    const runRounds = async (): Promise<void> => {
      let current = original.source.path;
      for (let k = 1; k <= options.rounds; k++) {
        await gate?.wait(signal);
        if (cancelled()) return;
        const { analysis, calibration } = await analyzeFile(current, {
          open: options.openOptions, calibration: options.calibration, gram: backend.gram, backend: backend.label, allowBiasDominated: options.allowBiasDominated,
        });
        if (cancelled()) return;
        const condensedDir = path.join(workDir, `condensed-${k}`);
        const reduced = await reduceModel(analysis, options.threshold, condensedDir, { calibration });
        const layersModel = await toLayersModel(tf, await readTfjsModel(reduced.mainFile));
        await fs.rm(condensedDir, { recursive: true, force: true });
        try {
          if (cancelled()) return;
          const trained = await fineTune(backend, layersModel, { inputs: trainX, targets: trainY, valInputs: valX, valTargets: valY }, {
            epochs: options.epochs,
            batchSize: options.batchSize ?? 32,
            learningRate: options.learningRate ?? 1e-3,
            loss: metric === 'mse' ? 'mse' : 'sparseCategoricalCrossentropy',
            // Seeded by round: the same files and settings give the same rounds.
            seed: k,
            onEpoch: (e) => options.onEpoch?.({ round: k, ...e }),
            signal,
            gate,
          });
          if (trained.outcome === 'aborted') {
            outcome = 'cancelled';
            return;
          }
          const params = layersModel.countParams();
          const value = score(metric, predict(tf, layersModel, valX), validation.targets, samples, width);
          const change = metric === 'mse' ? relativeIncrease(value, baseline) : baseline - value;
          const round: RetrainRound = { round: k, paramsRatio: params / paramsBefore, params, metric: value, change, meets: change <= options.tolerance + 1e-12 };
          const folder = await writeFolder(path.join(workDir, `round-${k}`), await layersModelFiles(tf, layersModel), { protect: original.source.files });
          kept.set(k, { folder, report: reduced.report });
          summary.rounds.push(round);
          if (round.meets && (summary.chosen === null || params < summary.rounds.find((r) => r.round === summary.chosen)!.params)) summary.chosen = k;
          options.onRound?.(round, copySummary(summary));
          if (!round.meets) return;
          if (options.targetRatio !== undefined && round.paramsRatio <= options.targetRatio) return;
          current = path.join(folder, 'model.json');
        } finally {
          layersModel.dispose();
        }
      }
    };
    options.onStart?.(run);
    try {
      await runRounds();
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
  }
}

const copySummary = (s: RetrainSummary): RetrainSummary => ({ ...s, rounds: s.rounds.map((r) => ({ ...r })) });

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
