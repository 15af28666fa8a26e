/** Panels left open come back after a reload, with their model's thresholds and refit choice. */
import * as vscode from 'vscode';
import { PanelState } from '../../shared/protocol';
import { CondensePanel } from '../panel';
import { FeatureContext } from './common';

export function register(features: FeatureContext): void {
  const { extension, analyses, retrains } = features;
  extension.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(CondensePanel.viewType, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: PanelState | undefined) {
        if (!state?.modelPath) {
          panel.dispose();
          return;
        }
        CondensePanel.revive(panel, extension.extensionUri, analyses, retrains, state);
      },
    }),
  );
}
