import * as vscode from 'vscode';
import { layerHint, formatGamma } from '../shared/hints';
import { Analyses } from './analyses';
import { ModelIndex } from './modelIndex';
import { layerAtOffset } from './modelText';

/** Hovering a layer's `name` or `class_name` in a model.json shows its reduction hint. */
export class LayerHoverProvider implements vscode.HoverProvider {
  constructor(
    private readonly index: ModelIndex,
    private readonly analyses: Analyses,
  ) {}

  async provideHover(document: vscode.TextDocument, position: vscode.Position, token: vscode.CancellationToken): Promise<vscode.Hover | undefined> {
    const file = document.uri.fsPath;
    if (!this.index.has(file)) return undefined;
    const layerName = layerAtOffset(document.getText(), document.offsetAt(position));
    if (!layerName) return undefined;
    const range = document.getWordRangeAtPosition(position, /"[^"]*"/);
    // The hover waits for the analysis while it is wanted: moving away cancels this hover's share of it.
    const abort = new AbortController();
    const cancelled = token.onCancellationRequested(() => abort.abort());
    const entry = await this.analyses.analyze(file, { signal: abort.signal }).catch(() => undefined).finally(() => cancelled.dispose());
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
