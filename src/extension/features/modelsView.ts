/** The Explorer's "Models" view and its Refresh Models command. */
import * as vscode from 'vscode';
import { modelSummaryLine } from '../../shared/hints';
import { Analyses } from '../analyses';
import { ModelIndex } from '../modelIndex';
import { modelLabel } from '../modelText';
import { safeDisplayText } from '../safeText';
import { FeatureContext, registerFileCommand } from './common';

export function register(features: FeatureContext): void {
  const view = new ModelsView(features.index, features.analyses);
  features.extension.subscriptions.push(view, vscode.window.registerTreeDataProvider('condense.models', view));
  registerFileCommand(features, 'condense.refreshModels', () => features.index.rescan());
}

/** The Explorer's "Models" view: every detected model, with a one-line summary once analysed. */
class ModelsView implements vscode.TreeDataProvider<string>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<string | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: vscode.Disposable[];

  constructor(
    private readonly index: ModelIndex,
    private readonly analyses: Analyses,
  ) {
    this.subscriptions = [
      index.onDidChange(() => this.changed.fire(undefined)),
      analyses.subscribe((file) => this.changed.fire(index.has(file) ? file : undefined)),
    ];
  }

  getChildren(element?: string): string[] {
    return element ? [] : this.index.list();
  }

  getTreeItem(file: string): vscode.TreeItem {
    const uri = vscode.Uri.file(file);
    const item = new vscode.TreeItem(uri, vscode.TreeItemCollapsibleState.None);
    item.label = safeDisplayText(modelLabel(file));
    item.id = file;
    const entry = this.analyses.cached(file);
    const sizes = this.analyses.estimateFor(file);
    const gamma = this.analyses.thresholdsFor(file).threshold;
    item.description = entry && sizes ? safeDisplayText(modelSummaryLine(entry.summary, sizes, gamma)) : 'not analysed yet';
    item.tooltip = new vscode.MarkdownString().appendText(vscode.workspace.asRelativePath(file));
    item.contextValue = 'condenseModel';
    item.command = { command: 'condense.condenseModel', title: 'Condense Model', arguments: [uri] };
    return item;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
  }
}
