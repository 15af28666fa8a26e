import { randomBytes } from 'crypto';
import * as vscode from 'vscode';
import { HostToWebview, PanelState, WebviewToHost } from '../shared/protocol';
import { AnalysisEntry, Analyses } from './analyses';
import { modelLabel } from './modelText';
import { condenseLog } from './notifications';
import { panelHtml } from './panelHtml';
import { RetrainRuns } from './retrains';
import { safeDisplayText } from './safeText';
import { readSettings } from './settings';
import { parseWebviewMessage } from './webviewMessages';

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
  /** Once closed, the webview is gone: posting to it would throw ("Webview is disposed"). */
  private disposed = false;
  /** Aborted when the panel closes: what it alone waited for (its restored analysis) stops. */
  private readonly closed = new AbortController();
  private readonly queued: HostToWebview[] = [];
  /** The webview's last report of what it shows (for tests and commands). */
  rendered: Rendered | undefined;
  /**
   * "Refit on calibration data" for Write (and so Verify) and retraining from this panel: on by
   * default, it only matters while condense.calibration.file is set.
   */
  refit = true;

  static show(extensionUri: vscode.Uri, analyses: Analyses, retrains: RetrainRuns, modelPath: string): CondensePanel {
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
    return new CondensePanel(panel, extensionUri, analyses, retrains, modelPath);
  }

  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, analyses: Analyses, retrains: RetrainRuns, state: PanelState): CondensePanel {
    panel.webview.options = { enableScripts: true, localResourceRoots: resourceRoots(extensionUri) };
    analyses.setThresholds(state.modelPath, state.thresholds);
    const revived = new CondensePanel(panel, extensionUri, analyses, retrains, state.modelPath);
    if (state.refit !== undefined) revived.refit = state.refit;
    analyses.analyze(state.modelPath, { signal: revived.closed.signal }).catch((e: Error) => revived.post({ type: 'error', message: e.message }));
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
    private readonly retrains: RetrainRuns,
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
      panel.webview.onDidReceiveMessage((m: unknown) => {
        const message = parseWebviewMessage(m);
        if (message) this.receive(message);
        else condenseLog().warn(`ignored a message from the panel of ${modelPath} that is not in the protocol: ${JSON.stringify(m)?.slice(0, 200)}`);
      }),
      analyses.subscribe((changed) => {
        if (changed !== modelPath) return;
        this.sendAnalysisIfNew();
        this.sendThresholdsIfChanged();
      }),
      analyses.subscribeProgress((e) => {
        if (e.path === modelPath) this.post({ type: 'analysing', model: this.model, layer: e.layer, done: e.done, total: e.total });
      }),
      new vscode.Disposable(
        retrains.onDidChange((changed) => {
          if (changed === modelPath) this.post({ type: 'retrain', view: retrains.view(modelPath) });
        }),
      ),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('condense.calibration.file')) this.sendRefit();
        if (e.affectsConfiguration('condense.roundTo')) this.sendRounding();
      }),
    );
  }

  private get model(): { path: string; label: string } {
    return { path: this.modelPath, label: vscode.workspace.asRelativePath(this.modelPath) };
  }

  /** Shows a message in the panel; a no-op once it is closed (commands still running may report to it). */
  post(message: HostToWebview): void {
    if (this.disposed) return;
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
        this.sendRefit();
        this.sendRounding();
        this.post({ type: 'retrain', view: this.retrains.view(this.modelPath) });
        return;
      case 'thresholds':
        this.shownThresholds = JSON.stringify(message.thresholds);
        this.analyses.setThresholds(this.modelPath, message.thresholds);
        return;
      case 'write':
        void vscode.commands.executeCommand('condense.writeReducedModel', vscode.Uri.file(this.modelPath));
        return;
      case 'export':
        void vscode.commands.executeCommand('condense.exportModel', vscode.Uri.file(this.modelPath));
        return;
      case 'verify':
        void vscode.commands.executeCommand('condense.verifyReducedModel', vscode.Uri.file(this.modelPath));
        return;
      case 'auto':
        void vscode.commands.executeCommand('condense.findThresholds', vscode.Uri.file(this.modelPath));
        return;
      case 'retrain':
        void vscode.commands.executeCommand('condense.retrain', vscode.Uri.file(this.modelPath));
        return;
      case 'retrainControl':
        if (message.action === 'pause') this.retrains.pause(this.modelPath);
        else if (message.action === 'resume') this.retrains.resume(this.modelPath);
        else this.retrains.cancel(this.modelPath);
        return;
      case 'retrainWrite':
        void vscode.commands.executeCommand('condense.writeRetrainedRound', vscode.Uri.file(this.modelPath), message.round);
        return;
      case 'refit':
        this.refit = message.enabled;
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

  private sendRefit(): void {
    this.post({ type: 'refit', available: readSettings().calibrationFile !== '', enabled: this.refit });
  }

  /** The panel counts and shows widths as Write will round them. */
  private sendRounding(): void {
    this.post({ type: 'rounding', roundTo: readSettings().roundTo });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.closed.abort();
    CondensePanel.panels.delete(this.modelPath);
    if (CondensePanel.lastActive === this) CondensePanel.lastActive = undefined;
    // Unsubscribed first: disposing the run tells its listeners, and this panel no longer listens.
    for (const d of this.disposables) d.dispose();
    // The run's kept models are only reachable from this panel.
    this.retrains.disposeRun(this.modelPath);
    this.panel.dispose();
  }
}

function titleOf(modelPath: string): string {
  return safeDisplayText(`Condense: ${modelLabel(modelPath)}`);
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
