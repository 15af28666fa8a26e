/**
 * The pictures: a layer's similarity heatmap (units in cluster order, clusters at the current γ
 * outlined) and a histogram of each unit's highest similarity with γ marked. Both are canvases drawn
 * from theme colours; the heatmap can be read cell by cell with the mouse or the arrow keys.
 */
import type { Heatmap } from '../src/shared/protocol';
import { clusterLabels, Dendrogram } from '../src/core/similarity/cluster';
import { leafOrder } from '../src/core/similarity/heatmap';
import { h } from './dom';
import { formatGamma, int, sim } from './format';
import { css, mix, palette, Palette } from './theme';

/**
 * Sizes a canvas for crisp lines on high-DPI screens; returns a context in CSS pixels. A canvas
 * whose CSS width follows its container (fluid) keeps that width.
 */
function prepare(canvas: HTMLCanvasElement, width: number, height: number, fluid = false): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  if (!fluid) canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** Text with a halo in the background colour, legible where it crosses a line or bar. */
function haloText(ctx: CanvasRenderingContext2D, p: Palette, text: string, x: number, y: number): void {
  ctx.save();
  ctx.lineWidth = 3;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = css(p.background);
  ctx.strokeText(text, x, y);
  ctx.restore();
  ctx.fillText(text, x, y);
}

function unitList(units: number[]): string {
  if (units.length === 1) return `unit ${units[0]}`;
  if (units.length <= 4) return `units ${units.join(', ')}`;
  return `${units.length} units (${units.slice(0, 3).join(', ')}, …)`;
}

const HEATMAP_PX = 256;

export class HeatmapView {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly readout: HTMLElement;
  private readonly legendBar = h('canvas', { class: 'legend', attrs: { 'aria-hidden': 'true' } });
  /** The cell under the pointer or the keyboard cursor. */
  private cursor: { r: number; c: number } | null = null;
  /** The cells as an image at one pixel per cell, rebuilt when the theme changes. */
  private image: HTMLCanvasElement | null = null;
  private imagePalette: Palette | null = null;
  /** Dendrogram leaf at each heatmap position, to outline clusters at the current γ. */
  private readonly leaves: Int32Array | null;
  /** Fractional cell coordinate of each position boundary 0..n. */
  private readonly edge: Float64Array;
  /** Cluster label per leaf at `labelsAt`, recomputed only when γ changes (not on every pointer move). */
  private labels: Int32Array | null = null;
  private labelsAt = NaN;

  constructor(
    private readonly map: Heatmap,
    private readonly dendrogram: Dendrogram | null,
    layerName: string,
    private gamma: number,
  ) {
    const n = map.order.length;
    this.leaves = dendrogram && dendrogram.n === n ? leafOrder(dendrogram) : null;
    this.edge = new Float64Array(n + 1);
    for (let k = 0; k < map.size; k++) {
      const [start, end] = [map.bounds[k], map.bounds[k + 1]];
      for (let p = start; p <= end; p++) this.edge[p] = k + (p - start) / (end - start);
    }
    this.canvas = h('canvas', {
      class: 'heatmap',
      attrs: {
        tabindex: '0',
        role: 'img',
        'aria-label': `Similarity heatmap of layer ${layerName}: ${n} units in cluster order. Use the arrow keys to read cells.`,
      },
    });
    this.readout = h('p', { class: 'readout', attrs: { 'aria-live': 'polite' } });
    this.element = h(
      'figure',
      { class: 'chart' },
      h('figcaption', {}, 'Cosine similarity, units in cluster order'),
      this.canvas,
      h('div', { class: 'legend-row' }, h('span', {}, '−1'), this.legendBar, h('span', {}, '+1'), h('span', { class: 'legend-note' }, 'outlined: clusters at γ')),
      this.readout,
    );
    this.canvas.addEventListener('pointermove', (e) => this.point(e));
    this.canvas.addEventListener('pointerleave', () => {
      // A focused heatmap keeps its keyboard cursor.
      if (document.activeElement !== this.canvas) this.move(null);
    });
    this.canvas.addEventListener('keydown', (e) => this.key(e));
    this.canvas.addEventListener('focus', () => this.move(this.cursor ?? { r: 0, c: 0 }));
    this.canvas.addEventListener('blur', () => this.move(null));
    this.move(null);
  }

  setGamma(gamma: number): void {
    this.gamma = gamma;
    this.draw();
  }

  draw(): void {
    const p = palette();
    const ctx = prepare(this.canvas, HEATMAP_PX, HEATMAP_PX);
    if (this.imagePalette !== p) {
      this.image = this.cells(p);
      this.imagePalette = p;
      this.drawLegend(p);
    }
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image!, 0, 0, HEATMAP_PX, HEATMAP_PX);
    const cell = HEATMAP_PX / this.map.size;
    if (this.leaves && this.dendrogram) {
      // Clusters are contiguous in dendrogram order: outline each run of one label on the diagonal.
      const labels = this.clusterLabels(this.dendrogram);
      ctx.strokeStyle = css(p.foreground, 0.9);
      ctx.lineWidth = 1;
      let start = 0;
      for (let q = 1; q <= this.leaves.length; q++) {
        if (q < this.leaves.length && labels[this.leaves[q]] === labels[this.leaves[start]]) continue;
        if (q - start > 1) {
          const a = this.edge[start] * cell, b = this.edge[q] * cell;
          ctx.strokeRect(a + 0.5, a + 0.5, b - a - 1, b - a - 1);
        }
        start = q;
      }
    }
    if (this.cursor) {
      // Faint guides along the row and column, and a ring around the cell big enough to see on small cells.
      const { r, c } = this.cursor;
      ctx.fillStyle = css(p.foreground, 0.12);
      ctx.fillRect(0, r * cell, HEATMAP_PX, cell);
      ctx.fillRect(c * cell, 0, cell, HEATMAP_PX);
      const size = Math.max(cell, 8);
      const x = (c + 0.5) * cell - size / 2, y = (r + 0.5) * cell - size / 2;
      ctx.lineWidth = 3;
      ctx.strokeStyle = css(p.background);
      ctx.strokeRect(x, y, size, size);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = css(p.focus);
      ctx.strokeRect(x, y, size, size);
    }
  }

  /** Diverging scale on the theme background: orange for negative, blue for positive similarity. */
  private cells(p: Palette): HTMLCanvasElement {
    const { size, values } = this.map;
    const image = document.createElement('canvas');
    image.width = size;
    image.height = size;
    const ctx = image.getContext('2d')!;
    const data = ctx.createImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      const v = Math.max(-1, Math.min(1, values[i]));
      const [r, g, b] = mix(p.background, v >= 0 ? p.positive : p.negative, Math.abs(v));
      data.data.set([r, g, b, 255], i * 4);
    }
    ctx.putImageData(data, 0, 0);
    return image;
  }

  private clusterLabels(d: Dendrogram): Int32Array {
    if (this.labelsAt !== this.gamma || !this.labels) {
      this.labels = clusterLabels(d, this.gamma);
      this.labelsAt = this.gamma;
    }
    return this.labels;
  }

  /** The colour scale, −1 to 1, in the same colours as the cells. */
  private drawLegend(p: Palette): void {
    const ctx = prepare(this.legendBar, 120, 8);
    for (let x = 0; x < 120; x++) {
      const v = (x / 119) * 2 - 1;
      const [r, g, b] = mix(p.background, v >= 0 ? p.positive : p.negative, Math.abs(v));
      ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
      ctx.fillRect(x, 0, 1, 8);
    }
    ctx.strokeStyle = css(p.lines);
    ctx.strokeRect(0.5, 0.5, 119, 7);
  }

  private point(e: PointerEvent): void {
    const rect = this.canvas.getBoundingClientRect();
    const cell = rect.width / this.map.size;
    const c = Math.floor((e.clientX - rect.left) / cell);
    const r = Math.floor((e.clientY - rect.top) / cell);
    if (r >= 0 && c >= 0 && r < this.map.size && c < this.map.size) this.move({ r, c });
  }

  private key(e: KeyboardEvent): void {
    const last = this.map.size - 1;
    const { r, c } = this.cursor ?? { r: 0, c: 0 };
    const moves: Record<string, [number, number]> = {
      ArrowUp: [r - 1, c],
      ArrowDown: [r + 1, c],
      ArrowLeft: [r, c - 1],
      ArrowRight: [r, c + 1],
      Home: [r, 0],
      End: [r, last],
      PageUp: [0, c],
      PageDown: [last, c],
    };
    const to = moves[e.key];
    if (!to) return;
    e.preventDefault();
    this.move({ r: Math.max(0, Math.min(last, to[0])), c: Math.max(0, Math.min(last, to[1])) });
  }

  private move(cursor: { r: number; c: number } | null): void {
    this.cursor = cursor;
    this.readout.textContent = cursor ? this.describe(cursor.r, cursor.c) : 'Point at a cell, or focus the picture and use the arrow keys, to read a pair’s similarity.';
    this.draw();
  }

  private unitsOf(k: number): number[] {
    return this.map.order.slice(this.map.bounds[k], this.map.bounds[k + 1]);
  }

  private describe(r: number, c: number): string {
    const rows = this.unitsOf(r), cols = this.unitsOf(c);
    const value = this.map.values[r * this.map.size + c];
    const single = rows.length === 1 && cols.length === 1;
    let text = `${unitList(rows)} × ${unitList(cols)}: ${single ? 'similarity' : 'mean similarity'} ${sim(value)}`;
    if (single && r !== c && this.leaves && this.dendrogram) {
      const labels = this.clusterLabels(this.dendrogram);
      const same = labels[this.leaves[this.map.bounds[r]]] === labels[this.leaves[this.map.bounds[c]]];
      text += same ? ` (same cluster at γ ${formatGamma(this.gamma)})` : '';
    }
    return text;
  }
}

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
