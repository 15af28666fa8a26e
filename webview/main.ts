/**
 * The panel webview: bootstrap and message handling. The host sends the analysis once; from then on
 * every threshold change is re-counted here and only reported to the host (debounced), so the
 * numbers follow the slider without a round trip.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { HostToWebview, RetrainView, WebviewToHost } from '../src/shared/protocol';
import { AutoCurveCard } from './autoCurve';
import { ThresholdControl } from './controls';
import { h, icon, replace } from './dom';
import { Explanation } from './explain';
import { Header } from './header';
import { Overview } from './overview';
import { RetrainCard } from './retrain';
import { exposeSnapshot, PanelPhase } from './snapshot';
import { Store } from './state';
import { roundingAdvice } from './speed';
import { Status } from './status';
import { LayerTable } from './table';
import { onThemeChange } from './theme';
import { vscode } from './vscode';

const SEND_DELAY_MS = 150;

const store = new Store();
const status = new Status();
const header = new Header(act, (enabled) => {
  refit.enabled = enabled;
  saveState();
  vscode.postMessage({ type: 'refit', enabled });
});
const control = new ThresholdControl(store);
const overview = new Overview(store);
const explanation = new Explanation(store);
const table = new LayerTable(store);
const auto = new AutoCurveCard(store, act);
const retrain = new RetrainCard(act);
const placeholder = h('div', { class: 'placeholder' });
const content = h('main', { class: 'content' }, h('div', { class: 'top-cards' }, control.element, overview.element), auto.element, retrain.element, explanation.element, table.element);

let phase: PanelPhase = 'waiting';
let busy = false;
/** The model path, known from the saved state or the first message. */
let modelPath: string | null = null;
/** The refit toggle: shown while calibration data is set; on unless turned off here (kept in the saved state). */
const refit = { available: false, enabled: true };
let retrainView: RetrainView | null = null;

function setPhase(next: PanelPhase): void {
  phase = next;
  document.body.dataset.phase = next;
  content.hidden = store.analysis === null;
  // While analysing, the status line shows the progress; the placeholder only covers waiting and failure.
  placeholder.hidden = store.analysis !== null || next === 'analysing';
  if (next === 'failed') replace(placeholder, icon('warning'), ' No analysis: see the error above. Re-analyse to try again.');
  else replace(placeholder, icon('loading', 'codicon-modifier-spin'), ' Waiting for the analysis…');
  const idle = !busy && next !== 'analysing';
  header.setEnabled(store.analysis !== null && idle, modelPath !== null && idle);
  auto.setEnabled(store.analysis !== null && idle);
  retrain.setEnabled(store.analysis !== null && idle);
}

// ---- thresholds to the host: debounced while the slider moves, flushed before an action ----------

let pending: ReturnType<typeof setTimeout> | undefined;

function flushThresholds(): void {
  if (pending === undefined) return;
  clearTimeout(pending);
  pending = undefined;
  vscode.postMessage({ type: 'thresholds', thresholds: store.thresholds });
}

function saveState(): void {
  if (modelPath) vscode.setState({ modelPath, thresholds: store.thresholds, refit: refit.enabled });
}

/** Actions use the thresholds the user sees, so a pending change goes first. */
function act(message: WebviewToHost): void {
  flushThresholds();
  vscode.postMessage(message);
}

store.subscribe((change) => {
  if (change.kind === 'load') {
    table.render();
    explanation.render();
  }
  control.update();
  overview.update();
  table.update();
  explanation.update();
  if (change.kind === 'thresholds' && change.origin === 'user') {
    clearTimeout(pending);
    pending = setTimeout(flushThresholds, SEND_DELAY_MS);
  }
  updateAdvice();
  saveState();
  reportRendered();
});

/** The Verify card's rounding advice follows the thresholds and condense.roundTo. */
function updateAdvice(): void {
  // Nothing to advise without a timing: skipped on every slider step.
  if (!status.verification?.timing) return;
  const e = store.estimate;
  const layers = e ? store.layers().map((layer) => ({ summary: layer.summary, estimate: e.layers[layer.index] })) : [];
  status.setAdvice(roundingAdvice(status.verification?.timing, store.roundTo, layers));
}

/** Tells the host what the panel now shows, so it (and its tests) can check the counts. */
function reportRendered(): void {
  const e = store.estimate;
  if (!e) return;
  vscode.postMessage({
    type: 'rendered',
    layers: e.layers.map((l) => ({ name: l.name, clusters: l.clusters, unitsAfter: l.unitsAfter })),
    ratio: e.totals.ratio,
  });
}

onThemeChange(() => {
  if (!store.analysis) return;
  control.update();
  explanation.update();
  table.redraw();
});

// ---- messages from the host ------------------------------------------------------------------------

function handle(message: HostToWebview): void {
  switch (message.type) {
    case 'analysing':
      modelPath = message.model.path;
      if (!store.analysis) header.setModel(message.model.label, message.model.path);
      status.setProgress({ layer: message.layer, done: message.done, total: message.total });
      setPhase('analysing');
      return;
    case 'analysis': {
      // The host's thresholds win: it restores them from the saved PanelState when the window reloads.
      clearTimeout(pending);
      pending = undefined;
      modelPath = message.model.path;
      const s = message.summary;
      header.setModel(message.model.label, message.model.path, `${s.format} · ${s.backend} · ${s.layers.length} layers`);
      status.setProgress(null);
      status.setError(null);
      status.setWritten(null);
      // A curve belongs to the analysis it was searched on.
      auto.show(null);
      store.load(message.model, s, message.thresholds);
      setPhase('ready');
      return;
    }
    case 'thresholds':
      clearTimeout(pending);
      pending = undefined;
      if (store.analysis) store.setThresholds(message.thresholds, 'host');
      return;
    case 'written':
      status.setWritten({ outDir: message.outDir, paramsBefore: message.paramsBefore, paramsAfter: message.paramsAfter });
      return;
    case 'verification':
      status.setVerification(message.fidelity, message.reduced, message.tolerance, message.merge, message.timing);
      updateAdvice();
      return;
    case 'rounding':
      store.setRoundTo(message.roundTo);
      return;
    case 'autoCurve':
      if (message.curve) auto.show(message.curve);
      else auto.searchEnded();
      return;
    case 'autoProgress':
      auto.showProgress(message.progress);
      return;
    case 'retrain':
      retrainView = message.view;
      retrain.show(message.view);
      return;
    case 'refit':
      refit.available = message.available;
      refit.enabled = message.enabled;
      header.setRefit(refit.available, refit.enabled);
      return;
    case 'busy':
      busy = message.what !== null;
      status.setBusy(message.what);
      document.body.dataset.busy = String(busy);
      setPhase(phase);
      return;
    case 'error':
      status.setProgress(null);
      status.setError(message.message);
      setPhase(store.analysis ? 'ready' : 'failed');
      return;
  }
}

window.addEventListener('message', (event: MessageEvent<HostToWebview>) => {
  if (event.data && typeof event.data.type === 'string') handle(event.data);
});

// ---- start -------------------------------------------------------------------------------------------

exposeSnapshot(() => ({
  phase,
  model: store.analysis?.model ?? null,
  thresholds: store.thresholds,
  layers: (store.estimate?.layers ?? []).map((e, i) => {
    const s = store.analysis!.summary.layers[i];
    return { ...e, type: s.type, reducible: s.reducible, gamma: store.gammaFor(s.name) };
  }),
  totals: store.estimate?.totals ?? null,
  progress: status.progress,
  busy: status.busy,
  error: status.error,
  written: status.written,
  verification: status.verification,
  retrain: retrainView,
  refit,
}));

const saved = vscode.getState();
if (saved) {
  // Until the host answers, show which model this panel is for (it re-sends the analysis after 'ready').
  modelPath = saved.modelPath;
  refit.enabled = saved.refit ?? true;
  header.setModel(saved.modelPath.split(/[\\/]/).slice(-2).join('/'), saved.modelPath);
}
replace(document.getElementById('app') ?? document.body, header.element, status.element, placeholder, content);
setPhase('waiting');
vscode.postMessage({ type: 'ready' });
