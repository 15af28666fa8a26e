/**
 * Shown when the model barely condenses at the chosen γ (typical after training from a standard
 * initialisation): why, the distribution of highest similarities, and what lower thresholds would give.
 */
import { HistogramView } from './charts/histogram';
import { h, icon, replace } from './dom';
import { formatGamma, int, percent, quantile, sim } from './format';
import { Store } from './state';

/** Above this share of the original parameters, the panel explains instead of just showing a ratio. */
const BARELY = 0.9;
const WHAT_IF = [0.9, 0.8, 0.7];

export class Explanation {
  readonly element: HTMLElement;
  private readonly summary = h('p');
  private readonly body = h('div', { class: 'explain-body' });
  private histogram: HistogramView | null = null;
  private sorted = new Float32Array(0);

  constructor(private readonly store: Store) {
    this.element = h(
      'section',
      { class: 'card explain', attrs: { 'aria-label': 'Why this model barely condenses' } },
      h('h2', {}, icon('lightbulb'), ' This model barely condenses at this threshold'),
      this.summary,
      this.body,
    );
    this.element.hidden = true;
  }

  /** Built once per analysis: the pooled highest similarities of all reducible layers, and the what-if table. */
  render(): void {
    const values = this.store.layers().flatMap((l) => (l.summary.reducible && l.summary.highest ? Array.from(l.summary.highest) : []));
    this.sorted = Float32Array.from(values).sort();
    if (!values.length) {
      this.histogram = null;
      replace(this.body);
      return;
    }
    this.histogram = new HistogramView(this.sorted, this.store.thresholds.threshold, { width: 420, height: 150, label: 'each unit’s highest similarity, all reducible layers' });
    const rows = WHAT_IF.map((g) => {
      const e = this.store.estimateAt(g)!.totals;
      const use = h('button', { class: 'link-button', attrs: { 'aria-label': `Set γ to ${g} for all layers` } }, 'Use');
      use.addEventListener('click', () => this.store.setGlobal(g));
      return h('tr', {}, h('th', { attrs: { scope: 'row' } }, `γ ${formatGamma(g)}`), h('td', { class: 'num' }, int(e.paramsAfter)), h('td', { class: 'num' }, percent(e.ratio)), h('td', {}, use));
    });
    const head = h('tr', {}, ...['Threshold', 'Parameters', 'Of original'].map((c) => h('th', { attrs: { scope: 'col' } }, c)), h('td'));
    replace(
      this.body,
      h('div', { class: 'explain-grid' },
        h('figure', { class: 'chart' }, h('figcaption', {}, 'Each unit’s highest similarity to another unit (all reducible layers)'), this.histogram.canvas),
        h('div', { class: 'what-if' },
          h('table', { class: 'small' }, h('caption', {}, 'At lower thresholds (all layers)'), h('thead', {}, head), h('tbody', {}, ...rows)),
          h('p', { class: 'muted' }, 'Lower thresholds merge units that are less alike, so the reduced model deviates more: verify it after writing.'),
        ),
      ),
      h('p', {},
        'This is usual for a network trained from a standard initialisation: its units stay spread out. Condensation grows when the network is ' +
          'trained from a small initialisation or with dropout, and when it is retrained after a reduction (reduce, retrain, reduce again).',
      ),
    );
  }

  update(): void {
    const t = this.store.estimate!.totals;
    this.element.hidden = !(t.ratio > BARELY && this.histogram);
    if (this.element.hidden || !this.histogram) return;
    const gamma = this.store.thresholds.threshold;
    this.histogram.setGamma(gamma);
    replace(
      this.summary,
      `At γ ${formatGamma(gamma)} the reduced model keeps ${percent(t.ratio)} of the parameters: only ${this.histogram.atLeast(gamma)} of ${this.sorted.length} ` +
        `units in reducible layers have another unit whose weights point the same way that closely. Each unit’s highest similarity has median ` +
        `${sim(quantile(this.sorted, 0.5))} and 90th percentile ${sim(quantile(this.sorted, 0.9))}.`,
    );
  }
}
