/** The whole model before → after: a headline factor and one size bar per measure. */
import { Change } from './change';
import { h, replace } from './dom';
import { bytes, formatGamma, int, percent } from './format';
import { Store } from './state';

export class Overview {
  readonly element: HTMLElement;
  private readonly title = h('h2');
  private readonly headline = h('div', { class: 'headline' });
  private readonly changes = { params: new Change(int), macs: new Change(int), bytes: new Change(bytes) };

  constructor(private readonly store: Store) {
    const bar = (label: string, change: Change): HTMLElement =>
      h('div', { class: 'size-row' }, h('span', { class: 'size-label' }, label), h('div', { class: 'size-value' }, ...change.elements));
    this.element = h(
      'section',
      { class: 'card overview', attrs: { 'aria-label': 'Model size' } },
      this.title,
      this.headline,
      h('div', { class: 'size-bars' }, bar('Parameters', this.changes.params), bar('Multiply-adds / sample', this.changes.macs), bar('Weight bytes', this.changes.bytes)),
    );
  }

  update(): void {
    const t = this.store.estimate!.totals;
    const overrides = Object.keys(this.store.thresholds.overrides).length;
    replace(this.title, `Model size at γ ${formatGamma(this.store.thresholds.threshold)}${overrides ? ' (with per-layer γ)' : ''}`);
    const factor = t.paramsAfter > 0 ? t.paramsBefore / t.paramsAfter : 1;
    replace(
      this.headline,
      factor >= 1.005 ? h('span', { class: 'factor' }, `${factor.toFixed(factor < 10 ? 2 : 1)}× smaller`) : h('span', { class: 'factor none' }, 'no reduction'),
      h('span', { class: 'muted' }, `${int(t.paramsAfter)} of ${int(t.paramsBefore)} parameters (${percent(t.ratio)})`),
    );
    this.changes.params.set(t.paramsBefore, t.paramsAfter);
    this.changes.macs.set(t.macsBefore, t.macsAfter);
    this.changes.bytes.set(t.bytesBefore, t.bytesAfter);
  }
}
