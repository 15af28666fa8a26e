import * as path from 'path';
import * as vscode from 'vscode';
import { DEFAULT_SAMPLES, DEFAULT_THRESHOLD } from '../core/estimate';
import { BackendName } from '../shared/protocol';
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
  retrain: { tolerance: number; epochs: number; rounds: number; learningRate: Choosable; batchSize: number; threshold: Choosable };
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
    exclude: c.get<string[]>('exclude', []),
    calibrationFile: c.get<string>('calibration.file', '').trim(),
    autoTolerance: c.get<number>('auto.tolerance', 0.1),
    validationInputs: c.get<string>('auto.validationInputs', '').trim(),
    validationTargets: c.get<string>('auto.validationTargets', '').trim(),
    retrain: {
      tolerance: c.get<number>('retrain.tolerance', 0.1),
      epochs: c.get<number>('retrain.epochs', 5),
      rounds: c.get<number>('retrain.rounds', 3),
      learningRate: c.get<Choosable>('retrain.learningRate', AUTO),
      batchSize: c.get<number>('retrain.batchSize', 32),
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
