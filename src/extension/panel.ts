import { randomBytes } from 'crypto';
import * as vscode from 'vscode';
import { HostToWebview, PanelState, WebviewToHost } from '../shared/protocol';
import { AnalysisEntry, Analyses } from './analyses';
import { modelLabel } from './modelText';
import { panelHtml } from './panelHtml';

type Rendered = Extract<WebviewToHost, { type: 'rendered' }>;

/** One condensation panel per model file; revealed when opened again, restored after a reload. */
export class CondensePanel implements vscode.Disposable {
  static readonly viewType = 'condense.panel';
  private static readonly panels = new Map<string, CondensePanel>();
  private static lastActive: CondensePanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private sentEntry: AnalysisEntry | undefined;
  /** The thresholds the webview shows (as JSON), so changes made elsewhere are sent and its own are not echoed. */
  private shownThresholds = '';
  private ready = false;
  private readonly queued: HostToWebview[] = [];
  /** The webview's last report of what it shows (for tests and commands). */
  rendered: Rendered | undefined;

  static show(extensionUri: vscode.Uri, analyses: Analyses, modelPath: string): CondensePanel {
    const existing = CondensePanel.panels.get(modelPath);
    if (existing) {
      existing.panel.reveal(undefined, false);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(CondensePanel.viewType, titleOf(modelPath), vscode.ViewColumn.Active, {
      enableScripts: true,
      retainContextWhenHidden: true,
      localResourceRoots: resourceRoots(extensionUri),
    });
    return new CondensePanel(panel, extensionUri, analyses, modelPath);
  }

  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, analyses: Analyses, state: PanelState): CondensePanel {
    panel.webview.options = { enableScripts: true, localResourceRoots: resourceRoots(extensionUri) };
    analyses.setThresholds(state.modelPath, state.thresholds);
    const revived = new CondensePanel(panel, extensionUri, analyses, state.modelPath);
    analyses.analyze(state.modelPath).catch((e: Error) => revived.post({ type: 'error', message: e.message }));
    return revived;
  }

  static forModel(modelPath: string): CondensePanel | undefined {
    return CondensePanel.panels.get(modelPath);
  }

  /** The panel the user looked at last (commands without a file act on its model). */
  static active(): CondensePanel | undefined {
    return CondensePanel.lastActive;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly analyses: Analyses,
    readonly modelPath: string,
  ) {
    CondensePanel.panels.set(modelPath, this);
    CondensePanel.lastActive = this;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'condense.svg');
    panel.webview.html = html(panel.webview, extensionUri);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.onDidChangeViewState((e) => {
        if (e.webviewPanel.active) CondensePanel.lastActive = this;
      }),
      panel.webview.onDidReceiveMessage((m: WebviewToHost) => this.receive(m)),
      analyses.subscribe((changed) => {
        if (changed !== modelPath) return;
        this.sendAnalysisIfNew();
        this.sendThresholdsIfChanged();
      }),
      analyses.subscribeProgress((e) => {
        if (e.path === modelPath) this.post({ type: 'analysing', model: this.model, layer: e.layer, done: e.done, total: e.total });
      }),
    );
  }

  private get model(): { path: string; label: string } {
    return { path: this.modelPath, label: vscode.workspace.asRelativePath(this.modelPath) };
  }

  post(message: HostToWebview): void {
    if (!this.ready) {
      this.queued.push(message);
      return;
    }
    void this.panel.webview.postMessage(message);
  }

  private sendAnalysisIfNew(): void {
    const entry = this.analyses.cached(this.modelPath);
    if (!entry || entry === this.sentEntry) return;
    this.sentEntry = entry;
    const thresholds = this.analyses.thresholdsFor(this.modelPath);
    this.shownThresholds = JSON.stringify(thresholds);
    this.post({ type: 'analysis', model: this.model, summary: entry.wire, thresholds });
  }

  private sendThresholdsIfChanged(): void {
    if (!this.sentEntry) return;
    const thresholds = this.analyses.thresholdsFor(this.modelPath);
    const json = JSON.stringify(thresholds);
    if (json === this.shownThresholds) return;
    this.shownThresholds = json;
    this.post({ type: 'thresholds', thresholds });
  }

  private receive(message: WebviewToHost): void {
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.sentEntry = undefined;
        this.queued.splice(0).forEach((m) => this.post(m));
        this.sendAnalysisIfNew();
        return;
      case 'thresholds':
        this.shownThresholds = JSON.stringify(message.thresholds);
        this.analyses.setThresholds(this.modelPath, message.thresholds);
        return;
      case 'write':
        void vscode.commands.executeCommand('condense.writeReducedModel', vscode.Uri.file(this.modelPath));
        return;
      case 'verify':
        void vscode.commands.executeCommand('condense.verifyReducedModel', vscode.Uri.file(this.modelPath));
        return;
      case 'auto':
        void vscode.commands.executeCommand('condense.findThresholds', vscode.Uri.file(this.modelPath));
        return;
      case 'reanalyze':
        this.analyses.invalidate(this.modelPath);
        this.analyses.analyzeWithProgress(this.modelPath).catch((e: Error) => this.post({ type: 'error', message: e.message }));
        return;
      case 'rendered':
        this.rendered = message;
        return;
    }
  }

  dispose(): void {
    CondensePanel.panels.delete(this.modelPath);
    if (CondensePanel.lastActive === this) CondensePanel.lastActive = undefined;
    this.disposables.forEach((d) => d.dispose());
    this.panel.dispose();
  }
}

function titleOf(modelPath: string): string {
  return `Condense: ${modelLabel(modelPath)}`;
}

function resourceRoots(extensionUri: vscode.Uri): vscode.Uri[] {
  return [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')];
}

function html(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  return panelHtml({
    cspSource: webview.cspSource,
    nonce: randomBytes(18).toString('base64'),
    resource: (...parts) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...parts)).toString(),
  });
}
