/**
 * "before → after", the share kept and a meter (the track is the original, the fill what remains),
 * as layer rows, totals and the size overview show it. Built once and updated in place, so moving
 * the slider rewrites a few text nodes rather than rebuilding rows.
 */
import { h } from './dom';
import { int, percent } from './format';

export class Change {
  readonly elements: HTMLElement[];
  private readonly before = h('span', { class: 'before' });
  private readonly after = h('span', { class: 'after' });
  private readonly ratio = h('span', { class: 'ratio' });
  private readonly fill = h('div', { class: 'fill' });

  constructor(private readonly show: (n: number) => string = int) {
    this.elements = [
      h('div', { class: 'change' }, this.before, h('span', { class: 'arrow' }, ' → '), this.after, this.ratio),
      h('div', { class: 'meter', attrs: { 'aria-hidden': 'true' } }, this.fill),
    ];
  }

  set(before: number, after: number): void {
    const ratio = before > 0 ? after / before : 1;
    this.before.textContent = this.show(before);
    this.after.textContent = this.show(after);
    this.after.classList.toggle('smaller', after < before);
    this.ratio.textContent = percent(ratio);
    this.fill.style.width = `${(100 * ratio).toFixed(2)}%`;
  }
}
