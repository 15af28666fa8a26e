import * as path from 'path';
import * as vscode from 'vscode';
import { DEFAULT_SAMPLES, DEFAULT_THRESHOLD, DEFAULT_TIMING_BATCHES, MAX_TIMING_BATCH } from '../core/estimate';
import { DEFAULT_EPOCHS, DEFAULT_ROUNDS } from '../core/train/schedule';
import { BackendName, TimingRequest } from '../shared/protocol';
import { AUTO, type Choosable } from '../shared/retrainSettings';

/** The extension's settings (see `contributes.configuration` in package.json). */
export interface Settings {
  threshold: number;
  backend: BackendName;
  /** The activation between layers of weights-only files (PyTorch state dicts, safetensors). */
  activation: string;
  outputFolder: string;
  /** Reduced widths are rounded up to a multiple of this when writing (1: off). */
  roundTo: number;
  probeSamples: number;
  /** Largest acceptable max relative deviation when verifying. */
  tolerance: number;
  /** Verify also measures both models' latency (null: off). */
  timing: TimingRequest | null;
  exclude: string[];
  /** Unlabelled inputs for data-aware similarity and the least-squares refit ('' = none); may be relative to the workspace. */
  calibrationFile: string;
  /** Automatic thresholds: relative MSE increase (regression) or accuracy drop (classifiers) allowed. */
  autoTolerance: number;
  /** Labelled validation data for the automatic search ('' = not set); may be relative to the workspace. */
  validationInputs: string;
  validationTargets: string;
  /**
   * Condense–retrain cycles: the validation tolerance (as autoTolerance), epochs per round, rounds,
   * Adam's step, batch size and a fixed γ; "auto" lets the engine choose (checked when a run starts).
   */
  retrain: { tolerance: number; epochs: number; rounds: number; learningRate: Choosable; batchSize: Choosable; threshold: Choosable };
  /** What trains the rounds, as set (checked when a run starts: see pythonTrainer.ts). */
  trainer: { kind: unknown; device: unknown; workers: unknown; python: string };
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('condense');
  return {
    threshold: c.get<number>('threshold', DEFAULT_THRESHOLD),
    backend: c.get<BackendName>('backend', 'auto'),
    activation: c.get<string>('weightsOnly.activation', 'relu'),
    outputFolder: c.get<string>('outputFolder', '${name}.condensed'),
    roundTo: Math.min(4096, Math.max(1, Math.floor(c.get<number>('roundTo', 1)) || 1)),
    probeSamples: c.get<number>('verification.probeSamples', DEFAULT_SAMPLES),
    tolerance: c.get<number>('verification.tolerance', 1e-3),
    timing: c.get<boolean>('verification.timing', false) ? timingSettings(c) : null,
    exclude: c.get<string[]>('exclude', []),
    calibrationFile: c.get<string>('calibration.file', '').trim(),
    autoTolerance: c.get<number>('auto.tolerance', 0.1),
    validationInputs: c.get<string>('auto.validationInputs', '').trim(),
    validationTargets: c.get<string>('auto.validationTargets', '').trim(),
    retrain: {
      tolerance: c.get<number>('retrain.tolerance', 0.1),
      epochs: c.get<number>('retrain.epochs', DEFAULT_EPOCHS),
      rounds: c.get<number>('retrain.rounds', DEFAULT_ROUNDS),
      learningRate: c.get<Choosable>('retrain.learningRate', AUTO),
      batchSize: c.get<Choosable>('retrain.batchSize', AUTO),
      threshold: c.get<Choosable>('retrain.threshold', AUTO),
    },
    trainer: {
      kind: c.get('retrain.trainer', 'embedded'),
      device: c.get('retrain.device', 'auto'),
      workers: c.get('retrain.workers', 1),
      python: c.get<string>('python', '').trim(),
    },
  };
}

/** A data file setting for a model (calibration, validation): resolved against the model's workspace folder when relative. */
export function dataFileFor(model: string, setting: string): string | undefined {
  if (!setting) return undefined;
  if (path.isAbsolute(setting)) return setting;
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(model)) ?? vscode.workspace.workspaceFolders?.[0];
  return path.resolve(folder?.uri.fsPath ?? path.dirname(model), setting);
}

/** The timing's batch sizes (whole, in range, each once; the defaults when none is left) and threads (0: the runtime's default). */
function timingSettings(c: vscode.WorkspaceConfiguration): TimingRequest {
  const asked = c.get<unknown>('verification.timingBatchSizes', DEFAULT_TIMING_BATCHES);
  const valid = (Array.isArray(asked) ? asked : []).filter((b): b is number => Number.isInteger(b) && b >= 1 && b <= MAX_TIMING_BATCH);
  const batches = valid.length ? [...new Set(valid)] : [...DEFAULT_TIMING_BATCHES];
  const threads = c.get<number>('verification.timingThreads', 0);
  return { batches, ...(Number.isInteger(threads) && threads >= 1 && threads <= 1024 ? { threads } : {}) };
}
