import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { CondenseReport, defaultOutputDir, REPORT_FILE } from '../core/reduce';
import type { Fidelity } from '../core/verify';
import { formatGamma } from '../shared/hints';
import type { AutoCurve } from '../shared/protocol';
import { Analyses, isCancelled } from './analyses';
import { ModelIndex } from './modelIndex';
import { modelLabel } from './modelText';
import { CondensePanel } from './panel';
import { dataFileFor, readSettings } from './settings';
import { WorkerFailure } from './workerClient';

/** What "Condense Model" returns (tests and other extensions can use it). */
export interface CondenseResult {
  model: string;
  threshold: number;
  layers: { name: string; clusters: number | null; unitsAfter: number | null }[];
  ratio: number;
}

export function registerCommands(context: vscode.ExtensionContext, index: ModelIndex, analyses: Analyses): void {
  const register = (id: string, run: (uri?: vscode.Uri) => Promise<unknown>): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, (uri?: unknown) => run(uri instanceof vscode.Uri ? uri : undefined)));
  };

  register('condense.condenseModel', async (uri) => {
    const model = uri?.fsPath ?? (await pickModel(index));
    if (!model) return undefined;
    const panel = CondensePanel.show(context.extensionUri, analyses, model);
    try {
      await analyses.analyzeWithProgress(model);
    } catch (e) {
      report(e, panel);
      return undefined;
    }
    const sizes = analyses.estimateFor(model)!;
    const t = analyses.thresholdsFor(model);
    return {
      model,
      threshold: t.threshold,
      layers: sizes.layers.map((l) => ({ name: l.name, clusters: l.clusters, unitsAfter: l.unitsAfter })),
      ratio: sizes.totals.ratio,
    } satisfies CondenseResult;
  });

  register('condense.writeReducedModel', async (uri) => {
    const model = uri?.fsPath ?? CondensePanel.active()?.modelPath ?? (await pickModel(index));
    if (!model) return undefined;
    const settings = readSettings();
    const outDir = defaultOutputDir(model, settings.outputFolder);
    const exists = await fs.stat(outDir).then(() => true, () => false);
    if (exists) {
      const choice = await vscode.window.showWarningMessage(
        `${vscode.workspace.asRelativePath(outDir)} already exists. Replace it with a new reduced model?`,
        { modal: true },
        'Replace',
      );
      if (choice !== 'Replace') return undefined;
    }
    const thresholds = analyses.thresholdsFor(model);
    const panel = CondensePanel.forModel(model);
    panel?.post({ type: 'busy', what: 'Writing the reduced model…' });
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Condense: writing the reduced model (γ ${formatGamma(thresholds.threshold)})`, cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return analyses.worker.request<'reduced'>(
            {
              type: 'reduce', file: model, backend: settings.backend, activation: settings.activation,
              calibration: dataFileFor(model, settings.calibrationFile), thresholds, outDir, overwrite: exists,
            },
            { signal: abort.signal },
          );
        },
      );
      panel?.post({ type: 'written', outDir: result.outDir, paramsBefore: result.paramsBefore, paramsAfter: result.paramsAfter });
      const pct = ((100 * result.paramsAfter) / Math.max(1, result.paramsBefore)).toFixed(1);
      const merge = result.merge === 'refit' ? ', next layers refitted on the calibration data' : '';
      void vscode.window
        .showInformationMessage(`Condense: wrote ${vscode.workspace.asRelativePath(result.outDir)} — ${result.paramsAfter} of ${result.paramsBefore} parameters (${pct} %${merge}).`, 'Reveal', 'Verify')
        .then((choice) => {
          if (choice === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(result.mainFile));
          if (choice === 'Verify') void vscode.commands.executeCommand('condense.verifyReducedModel', vscode.Uri.file(model));
        });
      return { outDir: result.outDir, mainFile: result.mainFile, paramsBefore: result.paramsBefore, paramsAfter: result.paramsAfter };
    } catch (e) {
      report(e, panel);
      return undefined;
    } finally {
      panel?.post({ type: 'busy', what: null });
    }
  });

  register('condense.verifyReducedModel', async (uri) => {
    const chosen = uri?.fsPath ?? CondensePanel.active()?.modelPath ?? (await pickModel(index));
    if (!chosen) return undefined;
    const settings = readSettings();
    const pair = await originalAndReduced(chosen, settings.outputFolder);
    if (!pair.reduced) {
      void vscode.window.showErrorMessage(`Condense: no reduced model at ${vscode.workspace.asRelativePath(pair.expected)}. Write it first (Condense: Write Reduced Model).`);
      return undefined;
    }
    const panel = CondensePanel.forModel(pair.original);
    panel?.post({ type: 'busy', what: 'Verifying…' });
    try {
      const { fidelity } = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Condense: comparing original and reduced model', cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return analyses.worker.request<'verified'>(
            { type: 'verify', original: pair.original, reduced: pair.reduced!, backend: settings.backend, activation: settings.activation, samples: settings.probeSamples },
            { signal: abort.signal },
          );
        },
      );
      panel?.post({ type: 'verification', fidelity, reduced: pair.reduced, tolerance: settings.tolerance });
      const text = describeFidelity(fidelity);
      if (fidelity.maxRel <= settings.tolerance) void vscode.window.showInformationMessage(`Condense: verified — ${text}`);
      else void vscode.window.showWarningMessage(`Condense: the reduced model deviates more than ${settings.tolerance} — ${text}`);
      return fidelity;
    } catch (e) {
      report(e, panel);
      return undefined;
    } finally {
      panel?.post({ type: 'busy', what: null });
    }
  });

  register('condense.findThresholds', async (uri): Promise<AutoCurve | undefined> => {
    const model = uri?.fsPath ?? CondensePanel.active()?.modelPath ?? (await pickModel(index));
    if (!model) return undefined;
    const settings = readSettings();
    if (!settings.validationInputs || !settings.validationTargets) {
      const choice = await vscode.window.showErrorMessage(
        'Condense: finding thresholds automatically needs labelled validation data: set condense.auto.validationInputs and condense.auto.validationTargets.',
        'Open Settings',
      );
      if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'condense.auto');
      return undefined;
    }
    // The curve is shown on the analysis, and picking a point needs it: open the panel and analyse first.
    const panel = CondensePanel.show(context.extensionUri, analyses, model);
    panel.post({ type: 'busy', what: 'Finding thresholds…' });
    try {
      await analyses.analyzeWithProgress(model);
      const { result } = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Condense: finding thresholds (tolerance ${settings.autoTolerance})`, cancellable: true },
        (_progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          return analyses.worker.request<'autoResult'>(
            {
              type: 'auto', file: model, backend: settings.backend, activation: settings.activation,
              calibration: dataFileFor(model, settings.calibrationFile), tolerance: settings.autoTolerance,
              valInputs: dataFileFor(model, settings.validationInputs)!, valTargets: dataFileFor(model, settings.validationTargets)!,
            },
            { signal: abort.signal },
          );
        },
      );
      panel.post({ type: 'autoCurve', curve: result });
      const chosen = result.chosen === null ? null : result.points[result.chosen];
      if (chosen) void vscode.window.showInformationMessage(`Condense: ${result.points.length} candidates; the smallest within the tolerance keeps ${(100 * chosen.paramsRatio).toFixed(1)} % of the parameters. Pick a point in the panel to use it.`);
      else void vscode.window.showWarningMessage(`Condense: no candidate stays within the tolerance ${settings.autoTolerance}.`);
      return result;
    } catch (e) {
      report(e, panel);
      return undefined;
    } finally {
      panel.post({ type: 'busy', what: null });
    }
  });

  register('condense.refreshModels', () => index.rescan());
}

function describeFidelity(f: Fidelity): string {
  const agreement = f.argmaxAgreement === null ? '' : `, argmax agreement ${(100 * f.argmaxAgreement).toFixed(1)} %`;
  return `max relative deviation ${f.maxRel.toExponential(2)} (mean ${f.meanRel.toExponential(2)}), max absolute ${f.maxAbs.toExponential(2)}${agreement} over ${f.inputs}.`;
}

/**
 * A reduced model's folder holds condense-report.json naming the original; an original's reduced
 * model is named by the report in its default output folder.
 */
async function originalAndReduced(file: string, pattern: string): Promise<{ original: string; reduced?: string; expected: string }> {
  const report = await readReport(path.dirname(file));
  if (report) return { original: report.model, reduced: file, expected: file };
  const outDir = defaultOutputDir(file, pattern);
  const written = await readReport(outDir);
  const expected = path.join(outDir, written?.reducedFile ?? path.basename(file));
  const exists = await fs.stat(expected).then(() => true, () => false);
  return { original: file, reduced: exists ? expected : undefined, expected };
}

async function readReport(dir: string): Promise<Pick<CondenseReport, 'model' | 'reducedFile'> | undefined> {
  try {
    const report = JSON.parse(await fs.readFile(path.join(dir, REPORT_FILE), 'utf8')) as Partial<CondenseReport>;
    return typeof report.model === 'string' && typeof report.reducedFile === 'string' ? { model: report.model, reducedFile: report.reducedFile } : undefined;
  } catch {
    return undefined;
  }
}

async function pickModel(index: ModelIndex): Promise<string | undefined> {
  await index.scan();
  const models = index.list();
  if (models.length === 0) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      openLabel: 'Condense',
      title: 'No models found in the workspace — choose a model file',
      filters: { 'Models (TF.js model.json, ONNX, PyTorch, safetensors, Keras)': ['json', 'onnx', 'pt', 'pth', 'safetensors', 'h5', 'hdf5', 'keras'] },
    });
    return picked?.[0]?.fsPath;
  }
  const picked = await vscode.window.showQuickPick(
    models.map((m) => ({ label: modelLabel(m), description: vscode.workspace.asRelativePath(path.dirname(m)), file: m })),
    { title: 'Condense Model', placeHolder: 'Choose a model to analyse' },
  );
  return picked?.file;
}

function report(e: unknown, panel: CondensePanel | undefined): void {
  if (isCancelled(e)) {
    void vscode.window.showInformationMessage('Condense: cancelled.');
    return;
  }
  const message = e instanceof WorkerFailure && e.input ? e.message : `Condense failed: ${(e as Error).message ?? String(e)}`;
  panel?.post({ type: 'error', message });
  void vscode.window.showErrorMessage(`Condense: ${message}`);
}
