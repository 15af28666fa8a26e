import { h } from '../dom';
import { formatGamma } from '../format';
import { css, palette } from '../theme';
import { haloText, prepare } from './canvas';

/**
 * Share of the parameters kept at each global γ (per-layer overrides held fixed), as a step line,
 * with the current γ marked: how the size responds to the slider.
 */
export class SizeCurveView {
  readonly canvas = h('canvas', { class: 'size-curve', attrs: { role: 'img' } });
  private points: [number, number][] = [];
  private gamma = 1;
  private ratio = 1;
  /** The canvas's CSS width as last laid out; reading it in draw() would force a layout on every slider move. */
  private width = 0;

  constructor(
    private readonly lo: number,
    private readonly height: number,
  ) {
    // Fills its container's width, so it redraws when the panel is resized.
    this.canvas.style.width = '100%';
    new ResizeObserver(([entry]) => {
      this.width = entry.contentRect.width;
      this.draw();
    }).observe(this.canvas);
  }

  set(points: [number, number][], gamma: number, ratio: number): void {
    this.points = points;
    this.gamma = gamma;
    this.ratio = ratio;
    this.draw();
  }

  draw(): void {
    const width = this.width;
    if (!width || !this.points.length) return;
    const p = palette();
    const ctx = prepare(this.canvas, width, this.height, true);
    const left = 38, right = 10, top = 10, bottom = 18;
    const plotW = width - left - right, plotH = this.height - top - bottom;
    const x = (g: number): number => left + ((g - this.lo) / (1 - this.lo)) * plotW;
    const y = (ratio: number): number => top + (1 - ratio) * plotH;
    ctx.font = p.font;
    ctx.textBaseline = 'middle';

    ctx.strokeStyle = css(p.lines, 0.6);
    ctx.lineWidth = 1;
    ctx.fillStyle = css(p.muted);
    ctx.textAlign = 'right';
    for (const r of [0, 0.5, 1]) {
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y(r)) + 0.5);
      ctx.lineTo(left + plotW, Math.round(y(r)) + 0.5);
      ctx.stroke();
      ctx.fillText(`${r * 100} %`, left - 5, y(r));
    }
    ctx.textAlign = 'center';
    for (let g = this.lo; g <= 1.0001; g += 0.1) ctx.fillText(g.toFixed(1), x(g), top + plotH + 11);

    ctx.strokeStyle = css(p.positive);
    ctx.lineWidth = 2;
    ctx.beginPath();
    this.points.forEach(([g, ratio], i) => {
      if (i === 0) ctx.moveTo(x(g), y(ratio));
      else {
        ctx.lineTo(x(g), y(this.points[i - 1][1]));
        ctx.lineTo(x(g), y(ratio));
      }
    });
    ctx.stroke();

    const gx = x(Math.max(this.lo, Math.min(1, this.gamma)));
    ctx.strokeStyle = css(p.marker);
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    ctx.beginPath();
    ctx.moveTo(Math.round(gx) + 0.5, top);
    ctx.lineTo(Math.round(gx) + 0.5, top + plotH);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = css(p.marker);
    ctx.beginPath();
    ctx.arc(gx, y(this.ratio), 4, 0, 2 * Math.PI);
    ctx.fill();
    const label = `${(100 * this.ratio).toFixed(1)} % at γ ${formatGamma(this.gamma)}`;
    const below = y(this.ratio) < top + 14;
    ctx.textAlign = gx + ctx.measureText(label).width + 10 > width ? 'right' : 'left';
    haloText(ctx, p, label, ctx.textAlign === 'right' ? gx - 8 : gx + 8, y(this.ratio) + (below ? 10 : -10));
    this.canvas.setAttribute('aria-label', `Parameters kept as a function of γ: ${label}.`);
  }
}
