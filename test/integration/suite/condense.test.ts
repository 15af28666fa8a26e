import * as assert from 'assert';
import { existsSync } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { ModelSummary } from '../../../src/core/estimate';
import type { CondenseResult } from '../../../src/extension/features/condenseModel';
import type { ThresholdState } from '../../../src/shared/protocol';
import { api, assertCounts, Counts, engineCounts, engineSummary, extension, hasLauncher, sameCounts, screenshot, suiteName, waitFor, workspaceModel } from './helpers';

/**
 * Thresholds whose counts every Gram engine agrees on: no merge similarity of the example lies
 * within 1e-4 of 0.95 or 0.99, far more than float32 rounding (near 1 they crowd together).
 */
const DEFAULT: ThresholdState = { threshold: 0.95, overrides: {} };
const CHANGED: ThresholdState = { threshold: 0.99, overrides: { hidden1: 0.95 } };

describe(`Condense Model (${suiteName})`, () => {
  const model = workspaceModel('combustion-mlp', 'model.json');
  let summary: ModelSummary;

  before(async () => {
    summary = await engineSummary(model);
  });

  /** Waits for the webview's report of what it shows to match; fails saying why it may not. */
  async function panelShows(expected: Counts, what: string): Promise<void> {
    const condense = await api();
    const webview = path.join(extension().extensionPath, 'dist', 'webview.js');
    await waitFor(`the panel to report ('rendered') ${what}`, () => sameCounts(condense.panelFor(model)?.rendered, expected), {
      describe: () =>
        existsSync(webview)
          ? `${JSON.stringify(condense.panelFor(model)?.rendered ?? 'no rendered message yet')} (does webview/ post 'rendered' after each render?)`
          : `${webview} is missing: the webview bundle was not built`,
    });
    assertCounts(condense.panelFor(model)!.rendered, expected, `the panel (${what})`);
  }

  it('analyses the model in the worker, opens the panel and shows the engine\'s counts', async () => {
    const condense = await api();
    // As the Explorer context menu calls it: with the file's Uri.
    const result = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(model));
    assert.ok(result, 'Condense Model returned nothing');
    assert.strictEqual(result.model, model);
    assert.strictEqual(result.threshold, DEFAULT.threshold);
    const expected = engineCounts(summary, DEFAULT);
    assertCounts(result, expected, 'Condense Model');
    assert.ok(expected.ratio < 0.5, `the example should condense strongly at γ 0.95 (ratio ${expected.ratio})`);
    assert.ok(condense.panelFor(model), 'no panel opened for the model');
    await panelShows(expected, 'the counts at γ 0.95');
    // tfjs-node is not installed here (nor in the VSIX): the worker runs the wasm backend, and onnxruntime —
    // from node_modules in development, from the platform VSIX's dist/node_modules when packaged — computes the similarity.
    const backend = condense.analyses.cached(model)?.summary.backend;
    assert.strictEqual(backend, 'wasm (similarity: onnxruntime)');
  });

  it('re-counts when the thresholds change, in the panel and in the command\'s answer', async () => {
    const condense = await api();
    const before = engineCounts(summary, DEFAULT);
    const expected = engineCounts(summary, CHANGED);
    assert.notDeepStrictEqual(expected.layers, before.layers, 'the new thresholds should change the counts');
    // Thresholds changed on the host (as another command would): the panel is told and re-renders.
    condense.analyses.setThresholds(model, CHANGED);
    await panelShows(expected, 'the counts at γ 0.99 with hidden1 at 0.95');
    const result = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(model));
    assertCounts(result, expected, 'Condense Model after the change');
  });

  it('shows the panel in the real VS Code (screenshot)', async function () {
    if (!hasLauncher) this.skip(); // Desktop VS Code: no page for the launcher to capture.
    const panel = (await api()).panelFor(model) ?? assert.fail('no panel: the first test opens it');
    // The panel alone in the window: no chat or other secondary side bar beside it.
    await vscode.commands.executeCommand('workbench.action.closeAuxiliaryBar');
    panel.panel.reveal(vscode.ViewColumn.Active, false);
    await waitFor('the panel to be visible', () => panel.panel.visible);
    // A moment for the webview to paint after being revealed.
    await new Promise((r) => setTimeout(r, 1000));
    const file = await screenshot(`panel-${suiteName}`);
    assert.ok(existsSync(file), `${file} was not written`);
  });
});
