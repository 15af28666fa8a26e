/**
 * The trainer a retrain run asks the worker for, from the settings: condense.retrain.trainer, .device
 * and .workers, and the interpreter — condense.python (ignored in untrusted workspaces: it is in
 * package.json's restrictedConfigurations), else the Python extension's selected environment for the
 * model, else none (the trainer then tries python3 on PATH). The Python extension is read through its
 * exported API with a small shape of our own (its npm package is not a dependency).
 */
import * as vscode from 'vscode';
import type { TrainerChoice } from '../core/train/choice';
import { DEVICES, oneOf, TRAINERS, WORKERS_RULE } from '../shared/retrainSettings';
import type { Settings } from './settings';

/** The part of ms-python.python's API used here (environments.getActiveEnvironmentPath). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
  };
}

/** The Python extension's interpreter for `model`, when it is installed and has one selected. */
async function selectedInterpreter(model: string): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!extension) return undefined;
  try {
    const api = extension.isActive ? extension.exports : await extension.activate();
    const selected = api?.environments?.getActiveEnvironmentPath(vscode.Uri.file(model))?.path;
    return typeof selected === 'string' && selected.trim() ? selected.trim() : undefined;
  } catch {
    // An extension that fails to start chooses nothing; the trainer's own default applies.
    return undefined;
  }
}

/** The trainer for a run on `model`, or the setting that is wrong ("condense.retrain.device must be …"). */
export async function trainerChoice(settings: Settings['trainer'], model: string): Promise<TrainerChoice | { problem: string }> {
  const kind = oneOf(TRAINERS, settings.kind);
  if (!kind) return { problem: `condense.retrain.trainer must be one of ${TRAINERS.join(', ')}, got ${JSON.stringify(settings.kind)}` };
  if (kind === 'embedded') return { kind };
  const device = oneOf(DEVICES, settings.device);
  if (!device) return { problem: `condense.retrain.device must be one of ${DEVICES.join(', ')}, got ${JSON.stringify(settings.device)}` };
  const workers = settings.workers;
  if (typeof workers !== 'number' || !WORKERS_RULE.valid(workers)) return { problem: `condense.retrain.workers must be ${WORKERS_RULE.what}, got ${JSON.stringify(workers)}` };
  const python = settings.python || (await selectedInterpreter(model));
  return { kind, device, workers, ...(python ? { python } : {}) };
}
