/** Panels left open come back after a reload, with their model's thresholds and refit choice. */
import * as vscode from 'vscode';
import { CondensePanel } from '../panel';
import { parsePanelState } from '../webviewMessages';
import { FeatureContext } from './common';

export function register(features: FeatureContext): void {
  const { extension, analyses, retrains } = features;
  extension.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(CondensePanel.viewType, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, saved: unknown) {
        // The state is what the webview saved: checked like its messages.
        const state = parsePanelState(saved);
        if (!state) {
          panel.dispose();
          return;
        }
        CondensePanel.revive(panel, extension.extensionUri, analyses, retrains, state);
      },
    }),
  );
}
