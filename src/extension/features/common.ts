/**
 * What the command flows share: the services they act on, how a command's model is chosen, the
 * reduced model's folder, and how a failure is reported.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { MODEL_FILE_EXTENSIONS } from '../../core/model/registry';
import { Analyses, isCancelled } from '../analyses';
import { ModelIndex } from '../modelIndex';
import { ModelJsonParser } from '../modelJsonParser';
import { modelLabel } from '../modelText';
import { askModal, condenseLog, showError, showInfo } from '../notifications';
import { resolveOutputFolder } from '../outputFolder';
import { CondensePanel } from '../panel';
import { RetrainRuns } from '../retrains';
import { failureMessage, failureNotice, safeDisplayText } from '../safeText';
import { WorkerFailure } from '../workerClient';

/** What every feature's `register` receives. */
export interface FeatureContext {
  extension: vscode.ExtensionContext;
  index: ModelIndex;
  analyses: Analyses;
  retrains: RetrainRuns;
  /** Parses large model.json texts off the extension host's thread. */
  modelJson: ModelJsonParser;
}

/** Registers a command whose first argument, when given, is a file (explorer and editor menus, the panel, other commands). */
export function registerFileCommand(
  features: FeatureContext,
  id: string,
  run: (uri: vscode.Uri | undefined, ...rest: unknown[]) => unknown,
): void {
  features.extension.subscriptions.push(vscode.commands.registerCommand(id, (uri?: unknown, ...rest: unknown[]) => run(uri instanceof vscode.Uri ? uri : undefined, ...rest)));
}

/** The model a command acts on: the file it was given, else the panel looked at last, else one the user picks. */
export async function modelForCommand(index: ModelIndex, uri: vscode.Uri | undefined): Promise<string | undefined> {
  return uri?.fsPath ?? CondensePanel.active()?.modelPath ?? (await pickModel(index));
}

/** A quick pick of the workspace's models, or a file dialog when there are none. */
export async function pickModel(index: ModelIndex): Promise<string | undefined> {
  await index.scan();
  const models = index.list();
  if (models.length === 0) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: 'Condense',
      title: 'No models found in the workspace — choose a model file',
      filters: { 'Models (TF.js model.json, ONNX, PyTorch, safetensors, Keras)': MODEL_FILE_EXTENSIONS.map((ext) => ext.slice(1)) },
    });
    return picked?.[0]?.fsPath;
  }
  const picked = await vscode.window.showQuickPick(
    models.map((m) => ({ label: safeDisplayText(modelLabel(m)), description: safeDisplayText(vscode.workspace.asRelativePath(path.dirname(m))), file: m })),
    { title: 'Condense Model', placeHolder: 'Choose a model to analyse' },
  );
  return picked?.file;
}

/** The reduced model's folder next to the original (setting condense.outputFolder, kept inside the workspace); replacing one asks first. */
export async function outputFolderFor(model: string, pattern: string): Promise<{ outDir: string; exists: boolean } | undefined> {
  const outDir = await confinedOutputFolder(model, pattern);
  if (!outDir) return undefined;
  const exists = await fs.stat(outDir).then(() => true, () => false);
  if (exists) {
    const choice = await askModal(`${vscode.workspace.asRelativePath(outDir)} already exists. Replace it with a new reduced model?`, 'Replace');
    if (choice !== 'Replace') return undefined;
  }
  return { outDir, exists };
}

/** The output folder, or undefined after saying why the setting is refused. */
export async function confinedOutputFolder(model: string, pattern: string): Promise<string | undefined> {
  const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const resolved = await resolveOutputFolder(model, pattern, roots);
  if (resolved.outDir !== undefined) return resolved.outDir;
  condenseLog().warn(resolved.problem);
  void showError(`Condense: ${resolved.problem}.`, 'Open Settings').then((choice) => {
    if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', 'condense.outputFolder');
  });
  return undefined;
}

/** Says what was written, offering to reveal it or verify it against the original. */
export function announceWritten(model: string, result: { outDir: string; mainFile: string; paramsBefore: number; paramsAfter: number }, note?: string): void {
  const pct = ((100 * result.paramsAfter) / Math.max(1, result.paramsBefore)).toFixed(1);
  void showInfo(`Condense: wrote ${vscode.workspace.asRelativePath(result.outDir)} — ${result.paramsAfter} of ${result.paramsBefore} parameters (${pct} %${note ? `, ${note}` : ''}).`, 'Reveal', 'Verify')
    .then((choice) => {
      if (choice === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(result.mainFile));
      if (choice === 'Verify') void vscode.commands.executeCommand('condense.verifyReducedModel', vscode.Uri.file(model));
    });
}

/** A failed or cancelled command: a notification, the error in the model's panel when it is open, and in the log. */
export function reportFailure(e: unknown, panel: CondensePanel | undefined): void {
  if (isCancelled(e)) {
    void showInfo('Condense: cancelled.');
    return;
  }
  const message = failureMessage(e);
  // A problem with the user's file is the message itself; anything else is a bug, and its stack helps.
  condenseLog().error(e instanceof WorkerFailure || !(e instanceof Error) || !e.stack ? message : `${message}\n${e.stack}`);
  panel?.post({ type: 'error', message });
  void vscode.window.showErrorMessage(failureNotice(e), 'Show Log').then((choice) => {
    if (choice) condenseLog().show(true);
  });
}
