/**
 * Condense and Retrain…: asks for the training and validation data and the run's parameters, then
 * condenses and fine-tunes in rounds, reporting each epoch; finished rounds can be written.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { REPORT_FILE, RetrainSummary } from '../../core/reduction/report';
import { formatGamma } from '../../shared/hints';
import { AUTO, type Choosable, isValidRetrainSetting, RETRAIN_SETTING_RULES, retrainSettingsProblem } from '../../shared/retrainSettings';
import { ModelIndex } from '../modelIndex';
import { condenseLog, showError, showInfo, showWarning, withNotificationProgress } from '../notifications';
import { CondensePanel } from '../panel';
import { busyMessage } from '../retrains';
import { safeDisplayText } from '../safeText';
import { trainerChoice } from '../pytorchSettings';
import { dataFileFor, readSettings } from '../settings';
import { FeatureContext, modelForCommand, registerFileCommand, reportFailure } from './common';

/** What "Condense and Retrain…" can be given instead of asking (tests, other extensions): any of the files and settings. */
export interface RetrainArguments extends Partial<RetrainFiles> {
  tolerance?: number;
  epochs?: number;
  rounds?: number;
  /** "auto" (or absent: the setting) lets the engine choose. */
  learningRate?: Choosable;
  threshold?: Choosable;
}

/** The settings an argument replaces. */
const PRESET_ARGUMENTS = new Set<string>(['tolerance', 'epochs', 'rounds', 'learningRate', 'threshold']);

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

export function register(features: FeatureContext): void {
  registerFileCommand(features, 'condense.retrain', (uri, given) => retrain(features, uri, typeof given === 'object' && given !== null ? given : {}));
}

async function retrain(features: FeatureContext, uri: vscode.Uri | undefined, given: RetrainArguments): Promise<RetrainCommandResult | undefined> {
  const { extension, index, analyses, retrains } = features;
  const model = await modelForCommand(index, uri);
  if (!model) return undefined;
  const running = retrains.running();
  if (running !== undefined) {
    void showWarning(`Condense: ${busyMessage(running)}.`);
    return undefined;
  }
  const settings = readSettings();
  const preset = { ...settings.retrain, ...Object.fromEntries(Object.entries(given).filter(([k]) => PRESET_ARGUMENTS.has(k))) };
  const problem = retrainSettingsProblem(preset);
  if (problem) {
    const where = problem.key in given ? 'the argument ' : 'the setting condense.retrain.';
    void showError(`Condense: cannot retrain: ${where}${problem.message}.`);
    return undefined;
  }
  const trainer = await trainerChoice(settings.trainer, model);
  if ('problem' in trainer) {
    void showError(`Condense: cannot retrain: the setting ${trainer.problem}.`);
    return undefined;
  }
  const remembered = extension.workspaceState.get<Record<string, RetrainFiles>>(RETRAIN_FILES_KEY, {});
  const files: Partial<RetrainFiles> = {};
  for (const role of DATA_ROLES) {
    const fallback = remembered[model]?.[role.key] ?? (role.setting ? dataFileFor(model, settings[role.setting]) : undefined);
    const file = given[role.key] ?? (await pickDataFile(index, role.title, fallback));
    if (!file) return undefined;
    files[role.key] = file;
  }
  await extension.workspaceState.update(RETRAIN_FILES_KEY, { ...remembered, [model]: files });
  // Asked only when given nothing; the input boxes keep each value valid.
  const parameters = Object.keys(given).length === 0 ? await confirmParameters(preset) : preset;
  if (!parameters) return undefined;

  const panel = CondensePanel.show(extension.extensionUri, analyses, retrains, model);
  try {
    // The panel's retrain section sits with the analysis.
    await analyses.analyzeWithProgress(model);
    const calibration = panel.refit ? dataFileFor(model, settings.calibrationFile) : undefined;
    const { threshold } = parameters;
    const answer = await withNotificationProgress(
      `Condense: retraining ${vscode.workspace.asRelativePath(model)} (γ ${threshold === AUTO ? 'cut each round' : formatGamma(threshold)})`,
      true,
      (signal, progress) => {
        signal.addEventListener('abort', () => retrains.cancel(model));
        const unsubscribe = retrains.onDidChange((changed) => {
          const view = changed === model ? retrains.view(model) : null;
          const last = view?.epochs[view.epochs.length - 1];
          if (!view || !last) return;
          const paused = view.status === 'paused' ? ' — paused' : '';
          progress.report({ message: `round ${last.round} of ≤ ${parameters.rounds}, epoch ${last.epoch} of ${parameters.epochs}: loss ${last.loss.toPrecision(3)}${paused}` });
        });
        const run = retrains.start(
          { file: model, backend: settings.backend, activation: settings.activation, calibration, trainer, ...parameters, ...(files as RetrainFiles) },
          // Retraining always refits each condensation: on the calibration file, else on the training inputs.
          'refit',
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
    if (answer.outcome === 'failed') condenseLog().error(`retraining ${model} failed after ${rounds}: ${answer.error ?? 'unknown error'}`);
    const writeBest = writable && best ? `Write Round ${best.round}` : undefined;
    const show = answer.outcome === 'failed' && writable ? showError : showInfo;
    void show(text, ...(writeBest ? [writeBest] : [])).then((choice) => {
      if (choice && choice === writeBest) void vscode.commands.executeCommand('condense.writeRetrainedRound', vscode.Uri.file(model), best!.round);
    });
    return { model, outcome: answer.outcome, summary, writable };
  } catch (e) {
    reportFailure(e, panel);
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
  const item = (file: string, description?: string): Item => ({
    label: safeDisplayText(path.basename(file)),
    description: safeDisplayText(description ?? vscode.workspace.asRelativePath(path.dirname(file))),
    file,
  });
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
    { key: 'epochs', label: 'Epochs per round', help: 'up to this many fine-tuning epochs after each condensation (a round ends sooner once its validation loss stops improving)' },
    { key: 'rounds', label: 'Rounds', help: 'condense–retrain rounds at most' },
  ];
  for (;;) {
    type Item = vscode.QuickPickItem & { key?: (typeof fields)[number]['key'] };
    const chosen = (value: Choosable, how: string): string => (value === AUTO ? how : String(value));
    const start: Item = {
      label: '$(play) Start retraining',
      description: `γ ${chosen(parameters.threshold, 'cut each round')}, learning rate ${chosen(parameters.learningRate, 'by a range test')}, batch size ${chosen(parameters.batchSize, 'chosen from the data')} (settings)`,
    };
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
