/**
 * Activation: registers everything and starts the workspace scan in the background. Nothing heavy
 * runs here; the analysis worker starts on the first request.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { PanelState } from '../shared/protocol';
import { Analyses, workerMemoryLimitMiB } from './analyses';
import { registerCommands } from './commands';
import { LayerHoverProvider } from './hover';
import { ModelIndex } from './modelIndex';
import { ModelsView } from './modelsView';
import { CondensePanel } from './panel';
import { RetrainRuns } from './retrains';
import { WorkerClient } from './workerClient';

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
  const index = new ModelIndex();
  const workerPath = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const analyses = new Analyses(new WorkerClient(workerPath, { memoryLimitMiB: workerMemoryLimitMiB }));
  // Training gets a worker of its own: analyses neither wait behind it nor stop it when cancelled.
  const retrains = new RetrainRuns(new WorkerClient(workerPath, { memoryLimitMiB: workerMemoryLimitMiB }));
  const view = new ModelsView(index, analyses);
  context.subscriptions.push(
    index,
    analyses,
    retrains,
    view,
    vscode.window.registerTreeDataProvider('condense.models', view),
    vscode.languages.registerHoverProvider({ scheme: 'file', pattern: '**/*.json' }, new LayerHoverProvider(index, analyses)),
    vscode.window.registerWebviewPanelSerializer(CondensePanel.viewType, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: PanelState | undefined) {
        if (!state?.modelPath) {
          panel.dispose();
          return;
        }
        CondensePanel.revive(panel, context.extensionUri, analyses, retrains, state);
      },
    }),
    // A changed model.json or weight shard makes the analyses that read it stale.
    index.onDidChangeFile((file) => analyses.invalidateFile(file)),
    // Similarity is measured on the calibration data when it is set: another file means other analyses.
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('condense.calibration.file')) analyses.invalidateAll();
      // A new memory cap is a new worker process: the analyses' is replaced once it is idle.
      if (e.affectsConfiguration('condense.worker.memoryLimitMiB')) analyses.worker.renew();
    }),
  );
  registerCommands(context, index, analyses, retrains);
  void index.scan();
  return { index, analyses, retrains, panelFor: (model) => CondensePanel.forModel(model), activationMs: performance.now() - started };
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
