/**
 * Export as C / Fortran…: dependency-free source for the simulation codes that call the network,
 * from the original model or, when one has been written, its reduced copy. Runs in the extension
 * host: export takes only Dense networks, whose files are small, and writes its folder atomically.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { defaultName, exportModel, ExportLanguage } from '../../core/export/index';
import { askModal, showInfo, withNotificationProgress } from '../notifications';
import { CondensePanel } from '../panel';
import { readSettings } from '../settings';
import { confinedOutputFolder, FeatureContext, modelForCommand, registerFileCommand, reportFailure } from './common';

/** The reduced copy of `model` in its output folder, if one has been written there. */
async function reducedCopy(model: string, outputFolder: string): Promise<string | undefined> {
  const outDir = await confinedOutputFolder(model, outputFolder);
  if (!outDir) return undefined;
  const file = path.join(outDir, path.basename(model));
  return (await fs.stat(file).then((s) => s.isFile(), () => false)) ? file : undefined;
}

export function register(features: FeatureContext): void {
  registerFileCommand(features, 'condense.exportModel', async (uri) => {
    const model = await modelForCommand(features.index, uri);
    if (!model) return undefined;
    const settings = readSettings();
    const reduced = await reducedCopy(model, settings.outputFolder);
    const source = reduced
      ? (await vscode.window.showQuickPick(
          [
            { label: 'Reduced model', description: vscode.workspace.asRelativePath(reduced), file: reduced },
            { label: 'Original model', description: vscode.workspace.asRelativePath(model), file: model },
          ],
          { title: 'Export as C / Fortran: which model?' },
        ))?.file
      : model;
    if (!source) return undefined;
    const languages: { label: string; description: string; value: ExportLanguage }[] = [
      { label: 'C', description: 'NAME.h + NAME.c: NAME_predict(inputs, outputs, rows), row-major', value: 'c' },
      { label: 'Fortran 2008', description: 'NAME.f90: module NAME_model, NAME_predict(inputs, outputs), one sample per column', value: 'fortran' },
    ];
    const language = (await vscode.window.showQuickPick(
      languages,
      { title: 'Export as C / Fortran: language' },
    ))?.value;
    if (!language) return undefined;
    const name = `${defaultName(model).slice(0, 40)}${source === model ? '' : '_reduced'}`;
    const outDir = path.join(path.dirname(model), `${name}_${language}`);
    const exists = await fs.stat(outDir).then(() => true, () => false);
    if (exists && (await askModal(`${vscode.workspace.asRelativePath(outDir)} already exists. Replace it with the exported source?`, 'Replace')) !== 'Replace') return undefined;
    const panel = CondensePanel.forModel(model);
    try {
      const result = await withNotificationProgress(`Condense: exporting as ${language === 'c' ? 'C' : 'Fortran'}`, false, () =>
        exportModel(source, { language, outDir, name, overwrite: exists, open: { activation: settings.activation } }),
      );
      const readme = vscode.Uri.file(path.join(result.outDir, 'README.md'));
      void showInfo(`Condense: wrote ${vscode.workspace.asRelativePath(result.outDir)} — ${result.name}_predict, ${result.plan.inputs} inputs, ${result.plan.outputs} outputs (${result.plan.dtype}).`, 'Open README')
        .then((choice) => {
          if (choice) void vscode.commands.executeCommand('vscode.open', readme);
        });
      return { outDir: result.outDir, files: result.files };
    } catch (e) {
      reportFailure(e, panel);
      return undefined;
    }
  });
}
