/**
 * The automatic threshold search in the panel: a button that asks the host to run it, and its
 * size–error curve as a scatter plot — one point per evaluated candidate (parameters kept vs the
 * validation metric), within the tolerance or not, the search's choice ringed. A point is read by
 * hovering or focusing it (arrow keys move between points in size order) and applied by a click or
 * Enter: its per-layer thresholds become the panel's, ready for "Write Reduced Model". While the
 * search runs, its candidates appear as they are measured, against their change from the original
 * (the original's metric is only known with the result).
 * SVG rather than canvas: each point is an element that can take focus and a click, and theme colours
 * apply through CSS without redrawing.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button';
import type { AutoCurve, AutoCurvePoint, AutoSearchProgress, WebviewToHost } from '../src/shared/protocol';
import { h, icon, replace, svg } from './dom';
import { changeText, formatGamma, metricText, percent } from './format';
import { Store } from './state';

const WIDTH = 360, HEIGHT = 170;
const LEFT = 58, RIGHT = 12, TOP = 10, BOTTOM = 30;

/** How a plot maps its points' values: the tolerance line, what else the axis must show, and which way is worse. */
interface Scale {
  value: (p: AutoCurvePoint) => number;
  limit: number;
  alsoShow: number[];
  /** Higher values are worse (MSE, change); accuracy is drawn upside down so that worse is always up. */
  higherIsWorse: boolean;
  format: (v: number) => string;
}

export class AutoCurveCard {
  readonly element: HTMLElement;
  private readonly button: VscodeButton;
  private readonly summary = h('p', { class: 'muted' });
  private readonly plot = svg('svg', { class: 'auto-plot', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'group' });
  private readonly readout = h('p', { class: 'auto-readout', attrs: { 'aria-live': 'polite' } });
  private readonly figure: HTMLElement;
  private curve: AutoCurve | null = null;
  /** The last search's curve, kept while a new search shows its progress (cleared by a new analysis). */
  private result: AutoCurve | null = null;
  /** The points' elements in size order (what the arrow keys walk), with their index in the curve. */
  private dots: { el: SVGCircleElement; index: number }[] = [];

  /** `send` posts the request; the host answers with busy, then autoCurve or error. */
  constructor(
    private readonly store: Store,
    send: (message: WebviewToHost) => void,
  ) {
    this.button = document.createElement('vscode-button');
    this.button.secondary = true;
    this.button.append(icon('graph-scatter'), ' Find thresholds…');
    this.button.title = 'Search per-layer thresholds for the smallest model within the tolerance on the validation data (settings condense.auto.*)';
    this.button.addEventListener('click', () => send({ type: 'auto' }));
    this.plot.setAttribute('aria-label', 'Size–error curve: one point per candidate reduction');
    this.plot.addEventListener('pointerleave', () => this.describe(this.curve?.chosen ?? null));
    this.figure = h('figure', { class: 'chart auto-figure' }, h('figcaption', {}, 'Candidates: parameters kept vs validation error'), this.plot, this.readout);
    this.element = h(
      'section',
      { class: 'card auto', attrs: { 'aria-label': 'Automatic thresholds' } },
      h('div', { class: 'auto-head' }, h('h2', {}, 'Automatic thresholds'), this.button),
      this.summary,
      this.figure,
    );
    this.show(null);
  }

  setEnabled(enabled: boolean): void {
    this.button.disabled = !enabled;
  }

  /** A search that failed: back to the curve shown before it (or none). */
  searchEnded(): void {
    this.show(this.result);
  }

  /** The running search's candidates so far (not yet selectable: the result follows). */
  showProgress(progress: AutoSearchProgress): void {
    this.curve = null;
    this.figure.hidden = false;
    replace(this.summary, `Searching: ${progress.points.length} of at most ${progress.budget} candidates measured, shown by their change from the original.`);
    const scale: Scale = { value: (p) => p.change, limit: progress.tolerance, alsoShow: [0], higherIsWorse: true, format: (v) => v.toPrecision(2) };
    this.draw(progress.points, null, scale, false);
    replace(this.readout);
  }

  /** null clears the curve (a new analysis makes it stale). */
  show(curve: AutoCurve | null): void {
    this.curve = this.result = curve;
    this.figure.hidden = curve === null;
    if (!curve) {
      replace(this.summary, 'The smallest per-layer thresholds whose error on labelled validation data stays within a tolerance.');
      replace(this.plot);
      this.dots = [];
      return;
    }
    const chosen = curve.chosen === null ? null : curve.points[curve.chosen];
    const within = `${curve.metric === 'mse' ? 'relative MSE increase' : 'accuracy drop'} ≤ ${curve.tolerance}`;
    replace(
      this.summary,
      `${curve.points.length} candidates on ${curve.validation} (${within}; original ${metricText(curve.metric, curve.baseline)}). `,
      chosen ? `The ringed point is the smallest within it: ${percent(chosen.paramsRatio)} of the parameters.` : 'None is within it.',
      ' Click a point or press Enter on it to use its thresholds.',
    );
    const mse = curve.metric === 'mse';
    this.draw(curve.points, curve.chosen, {
      value: (p) => p.metric,
      limit: mse ? curve.baseline * (1 + curve.tolerance) : curve.baseline - curve.tolerance,
      alsoShow: [curve.baseline],
      higherIsWorse: mse,
      format: (v) => (mse ? v.toPrecision(2) : `${(100 * v).toFixed(0)} %`),
    }, true);
    this.describe(curve.chosen);
  }

  /** `selectable`: points take focus and clicks (the final curve); `chosen` is ringed. */
  private draw(points: AutoCurvePoint[], chosen: number | null, scale: Scale, selectable: boolean): void {
    const { limit, format } = scale;
    const xs = points.map((p) => p.paramsRatio);
    const ys = points.map(scale.value).filter(Number.isFinite);
    const [x0, x1] = span([...xs, 1]);
    const [y0, y1] = span([...ys, ...scale.alsoShow, limit]);
    const plotW = WIDTH - LEFT - RIGHT, plotH = HEIGHT - TOP - BOTTOM;
    const x = (r: number): number => LEFT + ((r - x0) / (x1 - x0)) * plotW;
    // Error grows upwards: MSE as it is, accuracy upside down, so "worse" is always up.
    const up = scale.higherIsWorse ? (v: number): number => (v - y0) / (y1 - y0) : (v: number): number => (y1 - v) / (y1 - y0);
    const y = (v: number): number => TOP + (1 - up(Math.min(y1, Math.max(y0, v)))) * plotH;

    const axes = svg('g', { class: 'auto-axes', 'aria-hidden': 'true' });
    axes.append(
      svg('line', { x1: LEFT, y1: TOP + plotH, x2: LEFT + plotW, y2: TOP + plotH }),
      svg('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: TOP + plotH }),
      svg('line', { class: 'auto-limit', x1: LEFT, y1: y(limit), x2: LEFT + plotW, y2: y(limit) }),
      svg('text', { x: LEFT + plotW, y: y(limit) - 3, 'text-anchor': 'end' }, 'tolerance'),
      svg('text', { x: LEFT - 4, y: TOP + 4, 'text-anchor': 'end' }, format(scale.higherIsWorse ? y1 : y0)),
      svg('text', { x: LEFT - 4, y: TOP + plotH, 'text-anchor': 'end' }, format(scale.higherIsWorse ? y0 : y1)),
      svg('text', { x: LEFT, y: HEIGHT - 4, 'text-anchor': 'start' }, percent(x0)),
      svg('text', { x: LEFT + plotW, y: HEIGHT - 4, 'text-anchor': 'end' }, percent(x1)),
      svg('text', { x: LEFT + plotW / 2, y: HEIGHT - 4, 'text-anchor': 'middle' }, 'parameters kept'),
    );
    const order = points.map((p, index) => ({ p, index })).sort((a, b) => a.p.paramsRatio - b.p.paramsRatio || scale.value(a.p) - scale.value(b.p));
    this.dots = order.map(({ p, index }) => {
      const el = svg('circle', {
        class: `auto-point ${p.meets ? 'meets' : 'fails'}${index === chosen ? ' chosen' : ''}${selectable ? '' : ' pending'}`,
        cx: x(p.paramsRatio),
        cy: y(scale.value(p)),
        r: index === chosen ? 6 : 4,
        'data-index': index,
      });
      if (selectable) {
        el.setAttribute('role', 'button');
        el.setAttribute('tabindex', index === (chosen ?? order[0].index) ? '0' : '-1');
        el.setAttribute('aria-label', this.label(this.curve!, p));
        el.addEventListener('pointerenter', () => this.describe(index));
        el.addEventListener('focus', () => this.describe(index));
        el.addEventListener('click', () => this.apply(index));
        el.addEventListener('keydown', (e) => this.key(e, index));
      }
      return { el, index };
    });
    // The chosen point last, so it is drawn on top of any it overlaps.
    const dots = this.dots.map((d) => d.el).sort((a, b) => Number(a.classList.contains('chosen')) - Number(b.classList.contains('chosen')));
    replace(this.plot, axes, ...dots);
    if (!selectable) this.dots = [];
  }

  private label(curve: AutoCurve, p: AutoCurvePoint): string {
    return `${percent(p.paramsRatio)} of the parameters, ${metricText(curve.metric, p.metric)} (${changeText(curve.metric, p.change, 'the original')}), ${p.meets ? 'within' : 'beyond'} the tolerance`;
  }

  private describe(index: number | null): void {
    const curve = this.curve;
    if (!curve || index === null) {
      replace(this.readout);
      return;
    }
    const p = curve.points[index];
    const layers = Object.entries(p.thresholds).map(([name, g]) => `${name} ${formatGamma(g)}`).join(', ');
    replace(this.readout, `${index === curve.chosen ? 'Chosen: ' : ''}${this.label(curve, p)}. γ per layer: ${layers || 'none'}.`);
  }

  private key(e: KeyboardEvent, index: number): void {
    const at = this.dots.findIndex((d) => d.index === index);
    const next = { ArrowRight: at + 1, ArrowUp: at + 1, ArrowLeft: at - 1, ArrowDown: at - 1, Home: 0, End: this.dots.length - 1 }[e.key];
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      this.apply(index);
    } else if (next !== undefined) {
      e.preventDefault();
      const target = this.dots[Math.max(0, Math.min(this.dots.length - 1, next))];
      this.dots.forEach((d) => d.el.setAttribute('tabindex', d === target ? '0' : '-1'));
      target.el.focus();
    }
  }

  /** Layers the point does not name were searched at γ = 1, so that is the global threshold (as the CLI writes it). */
  private apply(index: number): void {
    const p = this.curve!.points[index];
    this.store.setThresholds({ threshold: 1, overrides: { ...p.thresholds } }, 'user');
  }
}

/** [lo, hi] around the values with a little margin, never empty. */
function span(values: number[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const pad = (hi - lo) * 0.06 || Math.abs(hi) * 0.05 || 0.01;
  return [lo - pad, hi + pad];
}
