/**
 * Activation: makes the services the features share, then lets each feature register itself. The
 * workspace scan starts in the background; nothing heavy runs here, and the analysis worker starts
 * on the first request.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { Analyses, workerMemoryLimitMiB } from './analyses';
import * as condenseModel from './features/condenseModel';
import * as findThresholds from './features/findThresholds';
import * as layerHover from './features/layerHover';
import * as modelsView from './features/modelsView';
import * as panelRestore from './features/panelRestore';
import * as retrain from './features/retrain';
import * as verifyReducedModel from './features/verifyReducedModel';
import * as writeReducedModel from './features/writeReducedModel';
import * as exportModel from './features/exportModel';
import * as writeRetrainedRound from './features/writeRetrainedRound';
import { FeatureContext } from './features/common';
import { ModelIndex } from './modelIndex';
import { ModelJsonParser } from './modelJsonParser';
import { disposeCondenseLog } from './notifications';
import { CondensePanel } from './panel';
import { RetrainRuns } from './retrains';
import { WorkerClient } from './workerClient';

const FEATURES = [modelsView, layerHover, panelRestore, condenseModel, writeReducedModel, exportModel, verifyReducedModel, findThresholds, retrain, writeRetrainedRound];

/** The extension's API: what integration tests (and other extensions) can inspect. */
export interface CondenseApi {
  index: ModelIndex;
  analyses: Analyses;
  /** Condense–retrain runs (their own worker), one per model. */
  retrains: RetrainRuns;
  panelFor(model: string): CondensePanel | undefined;
  /** How long activate() took, in milliseconds (the bench and the integration tests record it). */
  activationMs: number;
}

export function activate(context: vscode.ExtensionContext): CondenseApi {
  const started = performance.now();
  const modelJson = new ModelJsonParser(context.asAbsolutePath(path.join('dist', 'modelJsonThread.js')));
  const index = new ModelIndex(modelJson);
  const workerPath = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const analyses = new Analyses(new WorkerClient(workerPath, { memoryLimitMiB: workerMemoryLimitMiB }));
  // Training gets a worker of its own: analyses neither wait behind it nor stop it when cancelled.
  const retrains = new RetrainRuns(new WorkerClient(workerPath, { memoryLimitMiB: workerMemoryLimitMiB }));
  context.subscriptions.push(
    modelJson,
    index,
    analyses,
    retrains,
    new vscode.Disposable(disposeCondenseLog),
    // A changed model.json or weight shard makes the analyses that read it stale.
    index.onDidChangeFile((file) => analyses.invalidateFile(file)),
    // Similarity is measured on the calibration data when it is set: another file means other analyses.
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('condense.calibration.file')) analyses.invalidateAll();
      // A new memory cap is a new worker process: the analyses' is replaced once it is idle.
      if (e.affectsConfiguration('condense.worker.memoryLimitMiB')) analyses.worker.renew();
    }),
  );
  const features: FeatureContext = { extension: context, index, analyses, retrains, modelJson };
  for (const feature of FEATURES) feature.register(features);
  void index.scan();
  return { index, analyses, retrains, panelFor: (model) => CondensePanel.forModel(model), activationMs: performance.now() - started };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
