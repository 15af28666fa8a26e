import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { defaultOutputDir } from '../core/reduce';
import type { Fidelity } from '../core/verify';
import { formatGamma } from '../shared/hints';
import type { AutoCurve, AutoCurvePoint } from '../shared/protocol';
import { Analyses, isCancelled } from './analyses';
import { ModelIndex } from './modelIndex';
import { modelLabel } from './modelText';
import { CondensePanel } from './panel';
import { isValidRetrainSetting, RETRAIN_SETTING_RULES, retrainSettingsProblem } from '../shared/retrainSettings';
import { busyMessage, RetrainRuns, RoundWritten } from './retrains';
import { trainerChoice } from './pytorchSettings';
import { dataFileFor, readSettings } from './settings';
import { WorkerFailure } from './workerClient';
import { CondenseReport, REPORT_FILE, RetrainSummary } from '../core/reduction/report';

/** What "Condense Model" returns (tests and other extensions can use it). */
export interface CondenseResult {
  model: string;
  threshold: number;
  layers: { name: string; clusters: number | null; unitsAfter: number | null }[];
  ratio: number;
}

export function registerCommands(context: vscode.ExtensionContext, index: ModelIndex, analyses: Analyses, retrains: RetrainRuns): void {
  const register = (id: string, run: (uri?: vscode.Uri) => Promise<unknown>): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, (uri?: unknown) => run(uri instanceof vscode.Uri ? uri : undefined)));
  };

  register('condense.condenseModel', async (uri) => {
    const model = uri?.fsPath ?? (await pickModel(index));
    if (!model) return undefined;
    const panel = CondensePanel.show(context.extensionUri, analyses, retrains, model);
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
    const output = await outputFolderFor(model, settings.outputFolder);
    if (!output) return undefined;
    const { outDir, exists } = output;
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
              calibration: dataFileFor(model, settings.calibrationFile), refit: panel?.refit ?? true, thresholds, outDir, overwrite: exists,
            },
            { signal: abort.signal },
          );
        },
      );
      panel?.post({ type: 'written', outDir: result.outDir, paramsBefore: result.paramsBefore, paramsAfter: result.paramsAfter });
      announceWritten(model, result, result.merge === 'refit' ? 'next layers refitted on the calibration data' : undefined);
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
      panel?.post({ type: 'verification', fidelity, reduced: pair.reduced, tolerance: settings.tolerance, merge: pair.merge });
      const text = describeFidelity(fidelity) + (pair.merge === 'refit' ? ' (next layers refitted on the calibration data)' : '');
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
    const panel = CondensePanel.show(context.extensionUri, analyses, retrains, model);
    panel.post({ type: 'busy', what: 'Finding thresholds…' });
    try {
      await analyses.analyzeWithProgress(model);
      const { result, cancelled } = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Condense: finding thresholds (tolerance ${settings.autoTolerance})`, cancellable: true },
        (progress, token) => {
          const abort = new AbortController();
          token.onCancellationRequested(() => abort.abort());
          const points: AutoCurvePoint[] = [];
          return analyses.worker.request<'autoResult'>(
            {
              type: 'auto', file: model, backend: settings.backend, activation: settings.activation,
              calibration: dataFileFor(model, settings.calibrationFile), tolerance: settings.autoTolerance,
              valInputs: dataFileFor(model, settings.validationInputs)!, valTargets: dataFileFor(model, settings.validationTargets)!,
            },
            {
              // Cancel ends the search after the candidate being measured; what was measured is kept.
              signal: abort.signal,
              stop: 'cooperative',
              onProgress: (p) => {
                if (p.type !== 'candidate') return;
                points.push(p.point);
                progress.report({ message: `candidate ${p.measured} of ≤ ${p.budget}`, increment: 100 / p.budget });
                panel.post({ type: 'autoProgress', progress: { points: points.slice(), budget: p.budget, tolerance: settings.autoTolerance } });
              },
            },
          );
        },
      );
      panel.post({ type: 'autoCurve', curve: result });
      const chosen = result.chosen === null ? null : result.points[result.chosen];
      const measured = `${cancelled ? 'search cancelled after ' : ''}${result.points.length} candidates`;
      if (chosen) void vscode.window.showInformationMessage(`Condense: ${measured}; the smallest within the tolerance keeps ${(100 * chosen.paramsRatio).toFixed(1)} % of the parameters. Pick a point in the panel to use it.`);
      else void vscode.window.showWarningMessage(`Condense: ${measured}; none stays within the tolerance ${settings.autoTolerance}.`);
      return result;
    } catch (e) {
      // Leaves the "Searching" state: the card shows what it showed before the search.
      panel.post({ type: 'autoCurve', curve: null });
      report(e, panel);
      return undefined;
    } finally {
      panel.post({ type: 'busy', what: null });
    }
  });

  context.subscriptions.push(
    vscode.commands.registerCommand('condense.retrain', (uri?: unknown, given?: RetrainArguments) =>
      retrainCommand(context, index, analyses, retrains, uri instanceof vscode.Uri ? uri.fsPath : undefined, given),
    ),
    vscode.commands.registerCommand('condense.writeRetrainedRound', (uri?: unknown, round?: unknown) =>
      uri instanceof vscode.Uri && typeof round === 'number' ? writeRound(retrains, uri.fsPath, round) : undefined,
    ),
  );

  register('condense.refreshModels', () => index.rescan());
}

/** What "Condense and Retrain…" can be given instead of asking (tests, other extensions): any of the files and settings. */
export interface RetrainArguments extends Partial<RetrainFiles> {
  tolerance?: number;
  epochs?: number;
  rounds?: number;
}

/** What "Condense and Retrain…" returns: the run's outcome and rounds. */
export interface RetrainCommandResult {
  model: string;
  /** 'failed': a round failed after the rounds in the summary finished. */
  outcome: 'completed' | 'cancelled' | 'failed';
  summary: RetrainSummary;
  /** Whether the rounds can still be written (not once the run is discarded, e.g. with its panel). */
  writable: boolean;
}

interface RetrainFiles {
  trainInputs: string;
  trainTargets: string;
  valInputs: string;
  valTargets: string;
}

const DATA_ROLES: { key: keyof RetrainFiles; title: string; setting?: 'validationInputs' | 'validationTargets' }[] = [
  { key: 'trainInputs', title: 'Training inputs (one sample per row)' },
  { key: 'trainTargets', title: 'Training targets (outputs per row, or one class index per row)' },
  { key: 'valInputs', title: 'Validation inputs', setting: 'validationInputs' },
  { key: 'valTargets', title: 'Validation targets', setting: 'validationTargets' },
];

/** workspaceState key: the data files last used per model. */
const RETRAIN_FILES_KEY = 'condense.retrain.files';

async function retrainCommand(
  context: vscode.ExtensionContext,
  index: ModelIndex,
  analyses: Analyses,
  retrains: RetrainRuns,
  uri: string | undefined,
  given: RetrainArguments = {},
): Promise<RetrainCommandResult | undefined> {
  const model = uri ?? CondensePanel.active()?.modelPath ?? (await pickModel(index));
  if (!model) return undefined;
  const running = retrains.running();
  if (running !== undefined) {
    void vscode.window.showWarningMessage(`Condense: ${busyMessage(running)}.`);
    return undefined;
  }
  const settings = readSettings();
  const preset = { ...settings.retrain, ...Object.fromEntries(Object.entries(given).filter(([k]) => k === 'tolerance' || k === 'epochs' || k === 'rounds')) };
  const problem = retrainSettingsProblem(preset);
  if (problem) {
    const where = problem.key in given ? 'the argument ' : 'the setting condense.retrain.';
    void vscode.window.showErrorMessage(`Condense: cannot retrain: ${where}${problem.message}.`);
    return undefined;
  }
  const trainer = await trainerChoice(settings.trainer, model);
  if ('problem' in trainer) {
    void vscode.window.showErrorMessage(`Condense: cannot retrain: the setting ${trainer.problem}.`);
    return undefined;
  }
  const remembered = context.workspaceState.get<Record<string, RetrainFiles>>(RETRAIN_FILES_KEY, {});
  const files: Partial<RetrainFiles> = {};
  for (const role of DATA_ROLES) {
    const fallback = remembered[model]?.[role.key] ?? (role.setting ? dataFileFor(model, settings[role.setting]) : undefined);
    const file = given[role.key] ?? (await pickDataFile(index, role.title, fallback));
    if (!file) return undefined;
    files[role.key] = file;
  }
  await context.workspaceState.update(RETRAIN_FILES_KEY, { ...remembered, [model]: files });
  // Asked only when given nothing; the input boxes keep each value valid.
  const parameters = Object.keys(given).length === 0 ? await confirmParameters(preset) : preset;
  if (!parameters) return undefined;

  const panel = CondensePanel.show(context.extensionUri, analyses, retrains, model);
  try {
    // The panel's retrain section sits with the analysis; the run condenses at the panel's global γ.
    await analyses.analyzeWithProgress(model);
    const calibration = panel.refit ? dataFileFor(model, settings.calibrationFile) : undefined;
    const { threshold } = analyses.thresholdsFor(model);
    const answer = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Condense: retraining ${vscode.workspace.asRelativePath(model)} (γ ${formatGamma(threshold)})`, cancellable: true },
      (progress, token) => {
        token.onCancellationRequested(() => retrains.cancel(model));
        const unsubscribe = retrains.onDidChange((changed) => {
          const view = changed === model ? retrains.view(model) : null;
          const last = view?.epochs[view.epochs.length - 1];
          if (!view || !last) return;
          const paused = view.status === 'paused' ? ' — paused' : '';
          progress.report({ message: `round ${last.round} of ≤ ${parameters.rounds}, epoch ${last.epoch} of ${parameters.epochs}: loss ${last.loss.toPrecision(3)}${paused}` });
        });
        const run = retrains.start(
          { file: model, backend: settings.backend, calibration, threshold, trainer, ...parameters, ...(files as RetrainFiles) },
          calibration ? 'refit' : 'plain',
        );
        return run.finally(unsubscribe);
      },
    );
    const { summary } = answer;
    // Closing the panel discards the run (and cancels it): nothing of it can be written any more.
    const writable = retrains.view(model) !== null;
    const best = summary.rounds.find((r) => r.round === summary.chosen);
    const rounds = `${summary.rounds.length} round${summary.rounds.length === 1 ? '' : 's'}`;
    const text = !writable
      ? `Condense: retraining stopped after ${rounds}: its panel was closed, which discards the run's models.`
      : answer.outcome === 'failed'
        ? `Condense: retraining failed after ${rounds}: ${answer.error ?? 'unknown error'}${summary.rounds.length ? ' The finished rounds can still be written from the panel.' : ''}`
        : answer.outcome === 'cancelled'
          ? `Condense: retraining cancelled after ${rounds}; finished rounds can still be written from the panel.`
          : best
            ? `Condense: retraining finished after ${rounds}; round ${best.round} is the smallest within the tolerance (${(100 * best.paramsRatio).toFixed(1)} % of the parameters).`
            : `Condense: retraining finished after ${rounds}; no round stayed within the tolerance ${parameters.tolerance}.`;
    const writeBest = writable && best ? `Write Round ${best.round}` : undefined;
    const show = answer.outcome === 'failed' && writable ? vscode.window.showErrorMessage : vscode.window.showInformationMessage;
    void show(text, ...(writeBest ? [writeBest] : [])).then((choice) => {
      if (choice && choice === writeBest) void vscode.commands.executeCommand('condense.writeRetrainedRound', vscode.Uri.file(model), best!.round);
    });
    return { model, outcome: answer.outcome, summary, writable };
  } catch (e) {
    report(e, panel);
    return undefined;
  }
}

/** A data file for one role: the last one used first, then the workspace's .npy/.csv/.json files, or a file picker. */
async function pickDataFile(index: ModelIndex, title: string, preferred: string | undefined): Promise<string | undefined> {
  const models = new Set(index.list());
  const found = await vscode.workspace.findFiles('**/*.{npy,csv,json}', '**/node_modules/**', 500);
  const candidates = found
    .map((u) => u.fsPath)
    .filter((f) => !models.has(f) && path.basename(f) !== REPORT_FILE && f !== preferred)
    .sort();
  type Item = vscode.QuickPickItem & { file?: string };
  const item = (file: string, description?: string): Item => ({ label: path.basename(file), description: description ?? vscode.workspace.asRelativePath(path.dirname(file)), file });
  const items: Item[] = [
    ...(preferred ? [item(preferred, `last used · ${vscode.workspace.asRelativePath(preferred)}`)] : []),
    ...candidates.map((f) => item(f)),
    { label: '$(folder-opened) Browse…', alwaysShow: true },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: `Condense and Retrain: ${title}`, placeHolder: '.npy, .csv or .json (nested arrays), one row per sample', matchOnDescription: true });
  if (!picked) return undefined;
  if (picked.file) return picked.file;
  const chosen = await vscode.window.showOpenDialog({ canSelectMany: false, title, filters: { 'Data (.npy, .csv, .json)': ['npy', 'csv', 'json'] } });
  return chosen?.[0]?.fsPath;
}

type RetrainParameters = ReturnType<typeof readSettings>['retrain'];

/** The run's tolerance, epochs and rounds (the settings' values), each changeable before it starts. */
async function confirmParameters(initial: RetrainParameters): Promise<RetrainParameters | undefined> {
  const parameters = { ...initial };
  const fields: { key: 'tolerance' | 'epochs' | 'rounds'; label: string; help: string }[] = [
    { key: 'tolerance', label: 'Tolerance', help: 'relative MSE increase (regression) or accuracy drop (classifiers) allowed on the validation data' },
    { key: 'epochs', label: 'Epochs per round', help: 'fine-tuning epochs after each condensation' },
    { key: 'rounds', label: 'Rounds', help: 'condense–retrain rounds at most' },
  ];
  for (;;) {
    type Item = vscode.QuickPickItem & { key?: (typeof fields)[number]['key'] };
    const start: Item = { label: '$(play) Start retraining', description: `learning rate ${parameters.learningRate}, batch size ${parameters.batchSize} (settings)` };
    const picked = await vscode.window.showQuickPick<Item>(
      [start, ...fields.map((f) => ({ label: `${f.label}: ${parameters[f.key]}`, description: f.help, key: f.key }))],
      { title: 'Condense and Retrain', placeHolder: 'Start, or change a setting for this run' },
    );
    if (!picked) return undefined;
    if (!picked.key) return parameters;
    const field = fields.find((f) => f.key === picked.key)!;
    const value = await vscode.window.showInputBox({
      title: field.label,
      prompt: field.help,
      value: String(parameters[field.key]),
      validateInput: (text) => (text.trim() !== '' && isValidRetrainSetting(field.key, Number(text)) ? undefined : RETRAIN_SETTING_RULES[field.key].what),
    });
    if (value !== undefined) parameters[field.key] = Number(value);
  }
}

async function writeRound(retrains: RetrainRuns, model: string, round: number): Promise<RoundWritten | undefined> {
  const output = await outputFolderFor(model, readSettings().outputFolder);
  if (!output) return undefined;
  const panel = CondensePanel.forModel(model);
  try {
    const written = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Condense: writing round ${round}'s retrained model` },
      () => retrains.write(model, round, output.outDir, output.exists),
    );
    panel?.post({ type: 'written', outDir: written.outDir, paramsBefore: written.paramsBefore, paramsAfter: written.paramsAfter });
    announceWritten(model, written, `retrained, round ${round}`);
    return written;
  } catch (e) {
    report(e, panel);
    return undefined;
  }
}

/** The reduced model's folder next to the original (setting condense.outputFolder); replacing one asks first. */
async function outputFolderFor(model: string, pattern: string): Promise<{ outDir: string; exists: boolean } | undefined> {
  const outDir = defaultOutputDir(model, pattern);
  const exists = await fs.stat(outDir).then(() => true, () => false);
  if (exists) {
    const choice = await vscode.window.showWarningMessage(
      `${vscode.workspace.asRelativePath(outDir)} already exists. Replace it with a new reduced model?`,
      { modal: true },
      'Replace',
    );
    if (choice !== 'Replace') return undefined;
  }
  return { outDir, exists };
}

function announceWritten(model: string, result: { outDir: string; mainFile: string; paramsBefore: number; paramsAfter: number }, note?: string): void {
  const pct = ((100 * result.paramsAfter) / Math.max(1, result.paramsBefore)).toFixed(1);
  void vscode.window
    .showInformationMessage(`Condense: wrote ${vscode.workspace.asRelativePath(result.outDir)} — ${result.paramsAfter} of ${result.paramsBefore} parameters (${pct} %${note ? `, ${note}` : ''}).`, 'Reveal', 'Verify')
    .then((choice) => {
      if (choice === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(result.mainFile));
      if (choice === 'Verify') void vscode.commands.executeCommand('condense.verifyReducedModel', vscode.Uri.file(model));
    });
}

function describeFidelity(f: Fidelity): string {
  const agreement = f.argmaxAgreement === null ? '' : `, argmax agreement ${(100 * f.argmaxAgreement).toFixed(1)} %`;
  return `max relative deviation ${f.maxRel.toExponential(2)} (mean ${f.meanRel.toExponential(2)}), max absolute ${f.maxAbs.toExponential(2)}${agreement} over ${f.inputs}.`;
}

/**
 * A reduced model's folder holds condense-report.json naming the original; an original's reduced
 * model is named by the report in its default output folder.
 */
async function originalAndReduced(file: string, pattern: string): Promise<{ original: string; reduced?: string; expected: string; merge?: CondenseReport['merge'] }> {
  const report = await readReport(path.dirname(file));
  if (report) return { original: report.model, reduced: file, expected: file, merge: report.merge };
  const outDir = defaultOutputDir(file, pattern);
  const written = await readReport(outDir);
  const expected = path.join(outDir, written?.reducedFile ?? path.basename(file));
  const exists = await fs.stat(expected).then(() => true, () => false);
  return { original: file, reduced: exists ? expected : undefined, expected, merge: written?.merge };
}

async function readReport(dir: string): Promise<Pick<CondenseReport, 'model' | 'reducedFile' | 'merge'> | undefined> {
  try {
    const report = JSON.parse(await fs.readFile(path.join(dir, REPORT_FILE), 'utf8')) as Partial<CondenseReport>;
    if (typeof report.model !== 'string' || typeof report.reducedFile !== 'string') return undefined;
    return { model: report.model, reducedFile: report.reducedFile, merge: report.merge === 'refit' ? 'refit' : 'plain' };
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
