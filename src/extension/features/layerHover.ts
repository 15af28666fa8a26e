import * as vscode from 'vscode';
import { layerHint, formatGamma } from '../../shared/hints';
import { Analyses } from '../analyses';
import { ModelIndex } from '../modelIndex';
import { LayerTargetCache } from '../layerTargetCache';
import { layerAt } from '../modelText';
import { FeatureContext } from './common';

export function register(features: FeatureContext): void {
  const layers = new LayerTargetCache(features.modelJson);
  features.extension.subscriptions.push(
    vscode.languages.registerHoverProvider({ scheme: 'file', pattern: '**/*.json' }, new LayerHoverProvider(features.index, features.analyses, layers)),
    vscode.workspace.onDidCloseTextDocument((document) => layers.forget(document.uri.toString())),
  );
}

/** Hovering a layer's `name` or `class_name` in a model.json shows its reduction hint. */
class LayerHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly index: ModelIndex,
    private readonly analyses: Analyses,
    private readonly layers: LayerTargetCache,
  ) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    const file = document.uri.fsPath;
    if (!this.index.has(file)) return undefined;
    // Found once per version of the document; a large one off the extension host's thread.
    const targets = await this.layers.targetsFor(document.uri.toString(), document.version, () => document.getText()).catch(() => undefined);
    const layerName = targets && layerAt(targets, document.offsetAt(position));
    if (!layerName) return undefined;
    const range = document.getWordRangeAtPosition(position, /"[^"]*"/);
    // The hover waits for the analysis while it is wanted: moving away cancels this hover's share of it.
    const abort = new AbortController();
    const cancelled = token.onCancellationRequested(() => abort.abort());
    const entry = await this.analyses.analyze(file, { signal: abort.signal }).catch(() => undefined).finally(() => { cancelled.dispose(); });
    if (!entry) return undefined;
    const index = entry.summary.layers.findIndex((l) => l.name === layerName);
    const sizes = this.analyses.estimateFor(file);
    if (index < 0 || !sizes) return undefined;
    const t = this.analyses.thresholdsFor(file);
    const gamma = t.overrides[layerName] ?? t.threshold;
    const hint = layerHint(entry.summary.layers[index], sizes.layers[index], gamma);
    const md = new vscode.MarkdownString();
    md.appendMarkdown('**Condense** · ');
    md.appendText(`${layerName}: ${hint.headline}`);
    for (const line of hint.details) {
      md.appendMarkdown('\n\n');
      md.appendText(line);
    }
    md.appendMarkdown(`\n\n*Threshold γ ${formatGamma(gamma)} — change it in the Condense panel.*`);
    return new vscode.Hover(md, range);
  }
}
