/**
 * The threshold control for all layers: a range slider and a number field kept in sync, a reset to
 * the default, a note with a "clear" button when layers have their own γ, and the model's size as a
 * function of γ.
 */
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button';
import type { VscodeTextfield } from '@vscode-elements/elements/dist/vscode-textfield/vscode-textfield';
import { DEFAULT_THRESHOLD } from '../src/core/estimate';
import { SizeCurveView } from './charts/sizeCurve';
import { h, icon, replace, uid } from './dom';
import { formatGamma } from './format';
import { Analysis, GAMMA_MAX, GAMMA_MIN, GAMMA_STEP, parseThreshold, Store } from './state';

/** Points on the size curve: fine enough that each merge shows as its own step on typical layers. */
const CURVE_STEPS = 200;

export class ThresholdControl {
  readonly element: HTMLElement;
  private readonly slider: HTMLInputElement;
  private readonly field: VscodeTextfield;
  private readonly resetButton: VscodeButton;
  private readonly overrides = h('p', { class: 'overrides' });
  private readonly curve = new SizeCurveView(GAMMA_MIN, 120);
  /** Set while the user's own typing updates the store, so the field is not rewritten under the caret. */
  private typing = false;
  private curveFor: { analysis: Analysis | null; key: string; points: [number, number][] } | null = null;

  constructor(private readonly store: Store) {
    const id = uid('gamma');
    this.slider = h('input', {
      class: 'slider',
      attrs: { id, type: 'range', min: String(GAMMA_MIN), max: String(GAMMA_MAX), step: String(GAMMA_STEP) },
    });
    this.slider.addEventListener('input', () => store.setGlobal(Number(this.slider.value)));

    this.field = document.createElement('vscode-textfield');
    this.field.type = 'number';
    this.field.min = GAMMA_MIN;
    this.field.max = GAMMA_MAX;
    this.field.step = GAMMA_STEP;
    this.field.label = 'Similarity threshold γ for all layers';
    this.field.className = 'gamma-field';
    this.field.addEventListener('input', () => this.typed());
    this.field.addEventListener('change', () => this.update());

    this.resetButton = document.createElement('vscode-button');
    this.resetButton.secondary = true;
    this.resetButton.append(icon('discard'), ` Default ${formatGamma(DEFAULT_THRESHOLD)}`);
    this.resetButton.title = `Reset γ to the default, ${formatGamma(DEFAULT_THRESHOLD)}: merges only near-parallel units`;
    this.resetButton.addEventListener('click', () => store.setGlobal(DEFAULT_THRESHOLD));

    this.element = h(
      'section',
      { class: 'card threshold', attrs: { 'aria-label': 'Threshold' } },
      h('h2', {}, h('label', { attrs: { for: id } }, 'Similarity threshold γ')),
      h('p', { class: 'muted' }, 'Units of a layer whose input weights (bias appended) have cosine similarity ≥ γ are merged into one.'),
      h(
        'div',
        { class: 'threshold-row' },
        h('span', { class: 'bound', attrs: { 'aria-hidden': 'true' } }, String(GAMMA_MIN)),
        this.slider,
        h('span', { class: 'bound', attrs: { 'aria-hidden': 'true' } }, String(GAMMA_MAX)),
        this.field,
        this.resetButton,
      ),
      this.overrides,
      h('figure', { class: 'chart curve' }, h('figcaption', {}, 'Parameters kept at each γ'), this.curve.canvas),
    );
  }

  /** The curve depends on the analysis and the overrides only, not on the global γ the slider moves. */
  private curvePoints(): [number, number][] {
    const key = JSON.stringify(this.store.thresholds.overrides);
    if (this.curveFor?.analysis !== this.store.analysis || this.curveFor?.key !== key) {
      const points: [number, number][] = [];
      for (let i = 0; i <= CURVE_STEPS; i++) {
        const g = GAMMA_MIN + ((GAMMA_MAX - GAMMA_MIN) * i) / CURVE_STEPS;
        points.push([g, this.store.estimateAt(g, true)!.totals.ratio]);
      }
      this.curveFor = { analysis: this.store.analysis, key, points };
    }
    return this.curveFor.points;
  }

  /** Applied while typing as soon as the text is a threshold in range; left alone otherwise. */
  private typed(): void {
    const value = parseThreshold(this.field.value);
    this.field.invalid = value === null;
    if (value === null) return;
    this.typing = true;
    this.store.setGlobal(value);
    this.typing = false;
  }

  update(): void {
    const { threshold, overrides } = this.store.thresholds;
    this.slider.value = String(Math.min(GAMMA_MAX, Math.max(GAMMA_MIN, threshold)));
    this.slider.setAttribute('aria-valuetext', `γ ${formatGamma(threshold)}`);
    if (!this.typing) {
      this.field.value = formatGamma(threshold);
      this.field.invalid = false;
    }
    this.resetButton.disabled = threshold === DEFAULT_THRESHOLD;
    this.curve.set(this.curvePoints(), threshold, this.store.estimate!.totals.ratio);
    const names = Object.keys(overrides).filter((name) => this.store.layers().some((l) => l.summary.name === name));
    if (names.length === 0) {
      replace(this.overrides);
      return;
    }
    const clear = h('button', { class: 'link-button' }, 'Use γ for all layers');
    clear.addEventListener('click', () => this.store.setThresholds({ threshold, overrides: {} }, 'user'));
    replace(
      this.overrides,
      icon('info'),
      ` ${names.length === 1 ? '1 layer has its' : `${names.length} layers have their`} own γ (${names.map((n) => `${n} ${formatGamma(overrides[n])}`).join(', ')}). `,
      clear,
    );
  }
}
