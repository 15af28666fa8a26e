/** A histogram of each unit's highest similarity, with γ marked. */
import { h } from '../dom';
import { formatGamma, int } from '../format';
import { css, palette } from '../theme';
import { haloText, prepare } from './canvas';

export interface HistogramOptions {
  width: number;
  height: number;
  /** What the values are, for the accessible label. */
  label: string;
}

/** Bins of 0.02 from a round lower bound up to 1: fine enough to place γ, coarse enough to show a shape. */
const BIN = 0.02;

export class HistogramView {
  readonly canvas: HTMLCanvasElement;
  private readonly lo: number;
  private readonly counts: number[];

  constructor(
    private readonly values: ArrayLike<number>,
    private gamma: number,
    private readonly options: HistogramOptions,
  ) {
    let min = 1;
    for (let i = 0; i < values.length; i++) min = Math.min(min, values[i]);
    // From a round value below the lowest, but never narrower than [0.5, 1], where γ lives.
    this.lo = Math.max(-1, Math.min(0.5, Math.floor(min * 10) / 10));
    this.counts = new Array<number>(Math.round((1 - this.lo) / BIN)).fill(0);
    for (let i = 0; i < values.length; i++) {
      const bin = Math.min(this.counts.length - 1, Math.max(0, Math.floor((values[i] - this.lo) / BIN)));
      this.counts[bin]++;
    }
    this.canvas = h('canvas', { class: 'histogram', attrs: { role: 'img' } });
  }

  setGamma(gamma: number): void {
    this.gamma = gamma;
    this.draw();
  }

  /** Units whose highest similarity reaches γ: the ones that have a partner to merge with. */
  atLeast(gamma: number): number {
    let count = 0;
    for (let i = 0; i < this.values.length; i++) if (this.values[i] >= gamma) count++;
    return count;
  }

  draw(): void {
    const p = palette();
    const { width, height } = this.options;
    const ctx = prepare(this.canvas, width, height);
    const left = 30, right = 8, top = 16, bottom = 18;
    const plotW = width - left - right, plotH = height - top - bottom;
    const x = (v: number): number => left + ((v - this.lo) / (1 - this.lo)) * plotW;
    const max = Math.max(1, ...this.counts);
    ctx.font = p.font;
    ctx.textBaseline = 'middle';

    // Axes and the count scale.
    ctx.strokeStyle = css(p.lines);
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(left, top + plotH + 0.5);
    ctx.lineTo(left + plotW, top + plotH + 0.5);
    ctx.moveTo(left, top + 0.5);
    ctx.lineTo(left + plotW, top + 0.5);
    ctx.stroke();
    ctx.fillStyle = css(p.muted);
    ctx.textAlign = 'right';
    ctx.fillText(int(max), left - 4, top);
    ctx.fillText('0', left - 4, top + plotH);

    // Bars: those at or above γ (units with a partner to merge with) in the accent colour.
    const barW = plotW / this.counts.length;
    this.counts.forEach((count, i) => {
      if (!count) return;
      const hgt = Math.max(1, (count / max) * plotH);
      const centre = this.lo + (i + 0.5) * BIN;
      ctx.fillStyle = centre >= this.gamma ? css(p.positive) : css(p.muted, 0.55);
      ctx.fillRect(left + i * barW + 0.5, top + plotH - hgt, Math.max(1, barW - 1), hgt);
    });

    // Similarity ticks.
    const step = 1 - this.lo > 1 ? 0.5 : plotW < 300 ? 0.2 : 0.1;
    ctx.textAlign = 'center';
    ctx.fillStyle = css(p.muted);
    for (let v = Math.ceil(this.lo / step) * step; v <= 1.0001; v += step) {
      ctx.fillText(v.toFixed(1), x(v), top + plotH + 10);
    }

    // γ.
    const gx = Math.round(x(Math.max(this.lo, Math.min(1, this.gamma)))) + 0.5;
    ctx.strokeStyle = css(p.marker);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(gx, top - 2);
    ctx.lineTo(gx, top + plotH);
    ctx.stroke();
    ctx.fillStyle = css(p.marker);
    const label = `γ ${formatGamma(this.gamma)}`;
    ctx.textAlign = gx + ctx.measureText(label).width + 4 > width ? 'right' : 'left';
    haloText(ctx, p, label, ctx.textAlign === 'right' ? gx - 4 : gx + 4, top - 8);

    this.canvas.setAttribute(
      'aria-label',
      `Histogram of ${this.options.label}: ${this.atLeast(this.gamma)} of ${this.values.length} at or above γ ${formatGamma(this.gamma)}.`,
    );
  }
}
