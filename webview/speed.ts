/**
 * The Verify card's timing: per batch size both models' median latency, the measured speed-up and the
 * multiply-add ratio (as `condense verify --timing` prints them), and the advice to round conv widths
 * to multiples of 8 when the measured speed-up falls short of the multiply-add ratio.
 */
import type { LayerEstimate, LayerSummary } from '../src/core/estimate';
import type { Timing } from '../src/core/reduction/report';
import { h } from './dom';
import { int } from './format';

/** The width hardware tends to run convolutions fastest at multiples of (the setting's suggested value). */
const SUGGESTED_ROUND_TO = 8;

const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const times = (v: number): string => `${v.toFixed(2)}×`;

export function timingTable(t: Timing): HTMLElement {
  const head = ['Batch', 'Original ms', 'Reduced ms', 'Speed-up', 'MAC ratio'].map((c) => h('th', { attrs: { scope: 'col' } }, c));
  const rows = t.batches.map((b) =>
    h('tr', {},
      h('td', { class: 'num' }, int(b.batch)),
      h('td', { class: 'num' }, ms(b.originalMs)),
      h('td', { class: 'num' }, ms(b.reducedMs)),
      h('td', { class: 'num' }, times(b.speedup)),
      h('td', { class: 'num' }, t.macs ? times(t.macs.ratio) : '—'),
    ));
  return h('div', { class: 'timing' },
    h('table', { class: 'small timing-table' },
      h('caption', {}, 'Measured latency (median per batch after warm-up)'),
      h('thead', {}, h('tr', {}, ...head)),
      h('tbody', {}, ...rows)),
    h('p', { class: 'muted' }, `${t.runtime}; ${t.threads}. Inputs: ${t.inputs}.`));
}

/**
 * Advice when the best measured speed-up is below the multiply-add ratio and rounding is not already
 * at a multiple of 8: the reduced conv layers whose kept width is not a multiple of 8 are named.
 * null when there is nothing to advise.
 */
export function roundingAdvice(t: Timing | undefined, roundTo: number, layers: { summary: LayerSummary; estimate: LayerEstimate }[]): string | null {
  if (!t?.macs || roundTo % SUGGESTED_ROUND_TO === 0) return null;
  const best = Math.max(...t.batches.map((b) => b.speedup));
  if (best >= t.macs.ratio) return null;
  const odd = layers.filter(({ summary, estimate }) =>
    summary.type === 'Conv2D' && summary.reducible && estimate.unitsAfter !== null && estimate.unitsBefore !== null &&
    estimate.unitsAfter < estimate.unitsBefore && estimate.unitsAfter % SUGGESTED_ROUND_TO !== 0);
  if (odd.length === 0) return null;
  const named = odd.slice(0, 3).map(({ summary, estimate }) => `${summary.name} keeps ${estimate.unitsAfter}`).join(', ');
  return `The measured speed-up (${times(best)} at best) is below the multiply-add ratio (${times(t.macs.ratio)}). ` +
    `On GPUs and wide vector units, convolutions often run faster at widths that are multiples of ${SUGGESTED_ROUND_TO} (${named}${odd.length > 3 ? ', …' : ''}): ` +
    `set condense.roundTo to ${SUGGESTED_ROUND_TO}, write again and verify whether it pays where the model runs (on 2 CPU cores it did not: the rounded models ran as fast as the plain ones despite their extra multiply-adds).`;
}
