import * as assert from 'assert';
import * as vscode from 'vscode';
import { estimate } from '../../../src/core/estimate';
import { layerHint } from '../../../src/shared/hints';
import { api, engineSummary, waitFor, workspaceModel } from './helpers';

/** A hover's text with MarkdownString.appendText's escapes (backslashes, &nbsp; for spaces) undone. */
function hoverText(hovers: vscode.Hover[]): string {
  return hovers
    .flatMap((h) => h.contents)
    .map((c) => (typeof c === 'string' ? c : c.value))
    .join('\n')
    .replace(/&nbsp;/g, ' ')
    .replace(/\\([\\`*_{}[\]()#+\-.!<>|~])/g, '$1');
}

describe('hover in model.json', () => {
  const model = workspaceModel('combustion-mlp', 'model.json');

  async function hoverAt(document: vscode.TextDocument, needle: string, into: number): Promise<string> {
    const offset = document.getText().indexOf(needle);
    assert.ok(offset >= 0, `${needle} not found in ${model}`);
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', document.uri, document.positionAt(offset + into));
    return hoverText(hovers ?? []);
  }

  it("shows a layer's hint at its name, as the engine computes it at the current threshold", async () => {
    const condense = await api();
    await waitFor('the scan to find the model', () => condense.index.has(model));
    // The hover answers from the cached analysis (it starts one in the background otherwise).
    await condense.analyses.analyze(model);
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(model));
    const summary = await engineSummary(model);
    const t = condense.analyses.thresholdsFor(model);
    const e = estimate(summary, (layer) => t.overrides[layer] ?? t.threshold);
    for (const name of ['hidden2', 'output']) {
      const index = summary.layers.findIndex((l) => l.name === name);
      const gamma = t.overrides[name] ?? t.threshold;
      const { headline } = layerHint(summary.layers[index], e.layers[index], gamma);
      // Inside the value of the layer's "name".
      const text = await hoverAt(document, `"name":"${name}"`, `"name":"`.length + 2);
      assert.ok(text.includes(`${name}: ${headline}`), `hover at ${name}'s name: expected "${name}: ${headline}" in\n${text}`);
    }
    // Elsewhere (a layer's units) there is no hint.
    const elsewhere = await hoverAt(document, '"units":128', 3);
    assert.ok(!elsewhere.includes('Condense'), `unexpected hint at "units":\n${elsewhere}`);
  });
});
