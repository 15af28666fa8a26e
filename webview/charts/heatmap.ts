/**
 * A layer's similarity heatmap: units in cluster order, clusters at the current γ outlined, drawn
 * from theme colours; it can be read cell by cell with the mouse or the arrow keys.
 */
import type { Heatmap } from '../../src/shared/protocol';
import { clusterLabels, Dendrogram } from '../../src/core/similarity/cluster';
import { leafOrder } from '../../src/core/similarity/heatmap';
import { h } from '../dom';
import { formatGamma, sim } from '../format';
import { css, mix, palette, Palette } from '../theme';
import { prepare } from './canvas';

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
