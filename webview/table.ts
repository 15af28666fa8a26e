/**
 * The per-layer table: counts at the current thresholds, a per-layer γ override for reducible
 * layers, and an expandable row of pictures per analysed layer. Rows are built once per analysis
 * and only their text changes with γ, so focus stays in a field while the user types.
 */
import type { LayerEstimate } from '../src/core/estimate';
import { LayerHint, layerHint } from '../src/shared/hints';
import { Change } from './change';
import { HeatmapView } from './charts/heatmap';
import { HistogramView } from './charts/histogram';
import { h, icon, replace, uid } from './dom';
import { bytes, compact, formatGamma, int, quantile, sim } from './format';
import { GAMMA_MAX, GAMMA_MIN, GAMMA_STEP, LayerView, parseThreshold, Store } from './state';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield';

const COLUMNS = ['', 'Layer', 'Type', 'Units', 'Clusters', 'Reducible', 'γ', 'Parameters before → after'];

/**
 * A reducible layer's γ: the global value as a quiet button until the user edits it, then a number
 * field (an override) with a reset. Only edited layers carry a textfield, whose re-render on every
 * slider move would cost more than the rest of the row.
 */
class GammaCell {
  readonly element = h('td', { class: 'gamma' });
  private readonly inheritValue = h('span');
  private readonly inherit: HTMLButtonElement;
  private readonly field: VscodeTextfield;
  private readonly reset: HTMLButtonElement;
  /** The field is open without an override yet (the user clicked but has not typed). */
  private editing = false;
  /** Set while the user's own typing updates the store, so the field is not rewritten under the caret. */
  private typing = false;

  constructor(
    private readonly name: string,
    private readonly store: Store,
  ) {
    this.inherit = h('button', { class: 'gamma-inherit', attrs: { title: 'Set a threshold for this layer only', 'aria-label': `Set γ for layer ${name} (now the global γ)` } }, this.inheritValue, icon('edit'));
    this.inherit.addEventListener('click', () => {
      this.editing = true;
      this.update();
      this.field.focus();
    });
    this.field = document.createElement('vscode-textfield');
    this.field.type = 'number';
    this.field.min = GAMMA_MIN;
    this.field.max = GAMMA_MAX;
    this.field.step = GAMMA_STEP;
    this.field.label = `Threshold γ for layer ${name}`;
    this.field.className = 'gamma-field';
    this.field.addEventListener('input', () => this.typed());
    this.field.addEventListener('change', () => this.update());
    this.field.addEventListener('focusout', () => {
      this.editing = false;
      this.update();
    });
    this.reset = h('button', { class: 'icon-button reset', attrs: { title: 'Use the global threshold', 'aria-label': `Use the global threshold for layer ${name}` } }, icon('discard'));
    this.reset.addEventListener('click', () => {
      store.setOverride(name, null);
      this.inherit.focus();
    });
    this.element.append(this.inherit, this.field, this.reset);
  }

  /** Applied as soon as the text is a threshold in range. */
  private typed(): void {
    const value = parseThreshold(this.field.value);
    this.field.invalid = value === null;
    if (value === null) return;
    this.typing = true;
    this.store.setOverride(this.name, value);
    this.typing = false;
  }

  update(): void {
    const overridden = this.name in this.store.thresholds.overrides;
    const gamma = this.store.gammaFor(this.name);
    const open = overridden || this.editing;
    this.inherit.hidden = open;
    this.field.hidden = !open;
    this.reset.hidden = !overridden;
    if (!open) this.inheritValue.textContent = formatGamma(gamma);
    else if (!this.typing) {
      this.field.value = formatGamma(gamma);
      this.field.invalid = false;
    }
  }
}

class Row {
  readonly rows: HTMLTableRowElement[];
  private readonly main: HTMLTableRowElement;
  private readonly detail: HTMLTableRowElement | null = null;
  private readonly clusters = h('td', { class: 'num' });
  private readonly params = h('td', { class: 'params' });
  private readonly paramsChange = new Change();
  /** What the row last showed, to skip rows whose numbers did not move. */
  private shown = '';
  private readonly gamma: GammaCell | null = null;
  private readonly toggle: HTMLButtonElement | null = null;
  private readonly hint = h('div', { class: 'hint' });
  private readonly histogramStats = h('p', { class: 'stats' });
  private heatmap: HeatmapView | null = null;
  private histogram: HistogramView | null = null;

  constructor(
    private readonly layer: LayerView,
    private readonly store: Store,
  ) {
    const { summary: s, wire } = layer;
    const hasPictures = wire.heatmap !== null || wire.highest !== null;
    const detailId = uid('layer-detail');
    if (hasPictures) {
      this.toggle = h('button', { class: 'icon-button expand', attrs: { 'aria-expanded': 'false', 'aria-controls': detailId, 'aria-label': `Pictures for layer ${s.name}` } }, icon('chevron-right'));
      this.toggle.addEventListener('click', (e) => {
        e.stopPropagation();
        this.setOpen(!this.isOpen());
      });
    }
    if (s.reducible) this.gamma = new GammaCell(s.name, store);
    const reducible = s.reducible
      ? h('span', { class: 'yes' }, icon('pass'), ' yes')
      : s.units === null && s.reason === null
        ? h('span', { class: 'muted' }, '—')
        : h('span', { class: 'no' }, s.analysed ? 'no: ' : '', s.reason ?? 'not analysed');
    this.main = h(
      'tr',
      { class: s.analysed ? 'layer analysed' : 'layer' },
      h('td', { class: 'toggle' }, this.toggle),
      h('td', { class: 'name' },
        h('span', { class: 'layer-name' }, s.name),
        s.activation ? h('span', { class: 'activation' }, s.activation) : null,
        // How similarity was measured; a bias-dominated layer is marked (details in its hint).
        s.similarity === 'data' ? h('span', { class: 'activation', attrs: { title: 'Similarity measured on the calibration data' } }, 'on data') : null,
        s.biasDominance ? h('span', { class: 'activation', attrs: { title: 'The bias dominates the weights: see the layer’s details' } }, icon('warning'), ' bias-dominated') : null),
      h('td', { class: 'type' }, s.type),
      h('td', { class: 'num' }, s.units === null ? '—' : int(s.units)),
      this.clusters,
      h('td', { class: 'reducible' }, reducible),
      this.gamma?.element ?? h('td'),
      this.params,
    );
    // Parameters before do not depend on γ: a layer without any shows a dash for good.
    if (store.estimate!.layers[layer.index].paramsBefore > 0) this.params.append(...this.paramsChange.elements);
    else this.params.textContent = '—';
    this.main.addEventListener('pointerenter', () => this.updateTitle());
    // A click anywhere on the row (but on its controls) opens the pictures, for the mouse.
    if (hasPictures) {
      this.main.addEventListener('click', (e) => {
        if (!(e.target as Element).closest('button, vscode-textfield')) this.setOpen(!this.isOpen());
      });
      this.detail = h('tr', { class: 'detail', attrs: { id: detailId } }, h('td', { attrs: { colspan: String(COLUMNS.length) } }));
      this.detail.hidden = true;
    }
    this.rows = this.detail ? [this.main, this.detail] : [this.main];
  }

  private isOpen(): boolean {
    return this.detail !== null && !this.detail.hidden;
  }

  setOpen(open: boolean): void {
    if (!this.detail || !this.toggle) return;
    this.detail.hidden = !open;
    this.toggle.setAttribute('aria-expanded', String(open));
    this.toggle.firstElementChild!.className = `codicon codicon-${open ? 'chevron-down' : 'chevron-right'}`;
    this.main.classList.toggle('open', open);
    if (open && !this.heatmap && !this.histogram) this.buildPictures();
    this.update();
  }

  private buildPictures(): void {
    const { summary: s, wire } = this.layer;
    const gamma = this.store.gammaFor(s.name);
    const figures: HTMLElement[] = [];
    if (wire.heatmap) {
      this.heatmap = new HeatmapView(wire.heatmap, s.dendrogram, s.name, gamma);
      figures.push(this.heatmap.element);
    }
    if (s.highest && s.highest.length > 0) {
      this.histogram = new HistogramView(s.highest, gamma, { width: 340, height: 150, label: `each unit’s highest similarity in layer ${s.name}` });
      figures.push(h('figure', { class: 'chart' }, h('figcaption', {}, 'Each unit’s highest similarity to another unit'), this.histogram.canvas, this.histogramStats));
    }
    replace(this.detail!.firstElementChild!, h('div', { class: 'detail-body' }, this.hint, h('div', { class: 'charts' }, ...figures)));
  }

  update(): void {
    const est = this.store.estimate!.layers[this.layer.index];
    const s = this.layer.summary;
    const gamma = this.store.gammaFor(s.name);
    const overridden = s.name in this.store.thresholds.overrides;
    const roundTo = this.store.roundTo;
    const shown = `${est.clusters} ${est.unitsAfter} ${est.paramsAfter} ${gamma} ${overridden} ${roundTo}`;
    if (shown === this.shown && !this.isOpen()) return;
    this.shown = shown;
    // With rounding on, the width kept at γ and the width written (rounded up) side by side.
    const kept = s.reducible && est.clusters !== null ? Math.max(1, est.clusters) : null;
    const rounded = roundTo > 1 && kept !== null && est.unitsAfter !== null && est.unitsAfter !== kept
      ? h('span', { class: 'rounded', attrs: { title: `Written with ${est.unitsAfter} units: ${kept} rounded up to a multiple of ${roundTo} (condense.roundTo)` } }, ` → ${int(est.unitsAfter)}`)
      : null;
    replace(this.clusters, est.clusters === null ? '—' : int(est.clusters), rounded, s.dead ? h('span', { class: 'muted' }, ` +${s.dead} dead`) : null);
    this.paramsChange.set(est.paramsBefore, est.paramsAfter);
    this.gamma?.update();
    // The hint costs a sort per layer: computed for the row under the pointer and open rows only.
    if (this.main.matches(':hover')) this.updateTitle();
    if (this.isOpen()) this.updatePictures(est, gamma);
  }

  private hintNow(): LayerHint {
    const s = this.layer.summary;
    return layerHint(s, this.store.estimate!.layers[this.layer.index], this.store.gammaFor(s.name));
  }

  private updateTitle(): void {
    const hint = this.hintNow();
    this.main.title = [hint.headline, ...hint.details].join('\n');
  }

  private updatePictures(est: LayerEstimate, gamma: number): void {
    const s = this.layer.summary;
    const { headline, details } = this.hintNow();
    replace(this.hint, h('p', { class: 'headline' }, headline), details.length ? h('ul', {}, ...details.map((d) => h('li', {}, d))) : null);
    if (est.macsBefore > 0) this.hint.append(h('p', { class: 'muted' }, `Multiply-adds per sample: ${compact(est.macsBefore)} → ${compact(est.macsAfter)}; weights: ${bytes(est.bytesBefore)} → ${bytes(est.bytesAfter)}.`));
    this.heatmap?.setGamma(gamma);
    if (this.histogram && s.highest) {
      this.histogram.setGamma(gamma);
      const sorted = Float32Array.from(s.highest).sort();
      replace(
        this.histogramStats,
        `${this.histogram.atLeast(gamma)} of ${sorted.length} units have a partner at γ ${formatGamma(gamma)} or above; ` +
          `median ${sim(quantile(sorted, 0.5))}, 90th percentile ${sim(quantile(sorted, 0.9))}.`,
      );
    }
  }

  redraw(): void {
    if (!this.isOpen()) return;
    this.heatmap?.draw();
    this.histogram?.draw();
  }
}

export class LayerTable {
  readonly element: HTMLElement;
  private readonly body = h('tbody');
  private readonly foot = h('tfoot');
  private readonly totals = { params: new Change(int), macs: new Change(int), bytes: new Change(bytes) };
  private rows: Row[] = [];

  constructor(private readonly store: Store) {
    const table = h(
      'table',
      { class: 'layers' },
      h('caption', { class: 'sr-only' }, 'Layers, with their clusters and parameters at the current thresholds'),
      h('thead', {}, h('tr', {}, ...COLUMNS.map((c, i) => h('th', { class: `col-${i}`, attrs: { scope: 'col' } }, c === '' ? h('span', { class: 'sr-only' }, 'Pictures') : c)))),
      this.body,
      this.foot,
    );
    this.element = h('section', { class: 'card layers-card', attrs: { 'aria-label': 'Layers' } }, h('div', { class: 'table-wrap' }, table));
    const line = (label: string, change: Change): HTMLTableRowElement =>
      h('tr', {}, h('td'), h('th', { attrs: { scope: 'row', colspan: String(COLUMNS.length - 2) } }, label), h('td', { class: 'params' }, ...change.elements));
    this.foot.append(line('Total parameters', this.totals.params), line('Multiply-adds per sample', this.totals.macs), line('Weight bytes', this.totals.bytes));
  }

  /** Builds the rows for a new analysis; update() fills them in. */
  render(): void {
    this.rows = this.store.layers().map((layer) => new Row(layer, this.store));
    replace(this.body, ...this.rows.flatMap((r) => r.rows));
  }

  update(): void {
    for (const row of this.rows) row.update();
    const t = this.store.estimate!.totals;
    this.totals.params.set(t.paramsBefore, t.paramsAfter);
    this.totals.macs.set(t.macsBefore, t.macsAfter);
    this.totals.bytes.set(t.bytesBefore, t.bytesAfter);
  }

  redraw(): void {
    for (const row of this.rows) row.redraw();
  }
}
