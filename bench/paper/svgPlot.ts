/**
 * A tiny SVG line-plot writer for the benchmark figures: several series of (x, y) points on linear or
 * log10 axes, with ticks, a legend and optional horizontal reference lines. Plain strings, no
 * dependencies; the output is deterministic for the same input.
 */

export interface Series {
  label: string;
  points: [number, number][];
  color: string;
  /** Dashed line (e.g. "before retraining"). */
  dashed?: boolean;
}

interface ReferenceLine {
  y: number;
  label: string;
}

export interface PlotSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
  /** Reversed x axis: sizes shrink to the right, as rounds proceed. */
  reverseX?: boolean;
  references?: ReferenceLine[];
  /** Where the legend goes, away from the curves (default bottom left). */
  legend?: 'top-left' | 'bottom-left';
  width?: number;
  height?: number;
}

const MARGIN = { left: 72, right: 16, top: 36, bottom: 48 };

export function linePlot(spec: PlotSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 400;
  const points = spec.series.flatMap((s) => s.points);
  if (points.length === 0) throw new Error(`linePlot "${spec.title}": no points`);
  const toY = (v: number): number => {
    if (!spec.logY) return v;
    if (!(v > 0)) throw new Error(`linePlot "${spec.title}": ${v} cannot be shown on a log axis`);
    return Math.log10(v);
  };
  const ys = [...points.map((p) => toY(p[1])), ...(spec.references ?? []).map((r) => toY(r.y))];
  const [xLow, xHigh] = padded(Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0])), 0.05);
  const [yLow, yHigh] = spec.logY ? [Math.floor(Math.min(...ys) * 4) / 4, Math.ceil(Math.max(...ys) * 4) / 4] : padded(Math.min(...ys), Math.max(...ys), 0.08);
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number): number => {
    const t = (x - xLow) / (xHigh - xLow || 1);
    return MARGIN.left + (spec.reverseX ? 1 - t : t) * plotW;
  };
  const py = (y: number): number => MARGIN.top + (1 - (toY(y) - yLow) / (yHigh - yLow || 1)) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(spec.title)}</text>`);
  // Grid and ticks.
  for (const x of ticks(xLow, xHigh)) {
    out.push(`<line x1="${f(px(x))}" y1="${MARGIN.top}" x2="${f(px(x))}" y2="${MARGIN.top + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${f(px(x))}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${tickLabel(x)}</text>`);
  }
  const yTicks = spec.logY ? logTicks(yLow, yHigh) : ticks(yLow, yHigh);
  for (const y of yTicks) {
    out.push(`<line x1="${MARGIN.left}" y1="${f(py(y))}" x2="${MARGIN.left + plotW}" y2="${f(py(y))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${f(py(y) + 4)}" text-anchor="end">${spec.logY ? y.toExponential(0) : tickLabel(y)}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escape(spec.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(spec.yLabel)}</text>`);
  // Reference labels alternate above and below their lines, top down, so close lines keep readable labels.
  [...(spec.references ?? [])].sort((a, b) => b.y - a.y).forEach((r, i) => {
    out.push(`<line x1="${MARGIN.left}" y1="${f(py(r.y))}" x2="${MARGIN.left + plotW}" y2="${f(py(r.y))}" stroke="#888" stroke-dasharray="2 3"/>`);
    out.push(`<text x="${MARGIN.left + plotW - 4}" y="${f(py(r.y) + (i % 2 ? 13 : -4))}" text-anchor="end" fill="#555">${escape(r.label)}</text>`);
  });
  for (const s of spec.series) {
    const path = s.points.map(([x, y], i) => `${i ? 'L' : 'M'}${f(px(x))} ${f(py(y))}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${f(px(x))}" cy="${f(py(y))}" r="3" fill="${s.color}"/>`);
  }
  spec.series.forEach((s, i) => {
    const y = spec.legend === 'top-left' ? MARGIN.top + 14 + i * 16 : MARGIN.top + plotH - 8 - (spec.series.length - 1 - i) * 16;
    const x = MARGIN.left + 10;
    out.push(`<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    out.push(`<text x="${x + 28}" y="${y}" paint-order="stroke" stroke="white" stroke-width="3">${escape(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function padded(low: number, high: number, fraction: number): [number, number] {
  const span = high - low || Math.abs(high) || 1;
  return [low - span * fraction, high + span * fraction];
}

/** About six round-numbered ticks inside [low, high]. */
export function ticks(low: number, high: number): number[] {
  const raw = (high - low) / 6 || 1;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  // toPrecision drops the binary rounding of k·step (0.6000000000000001).
  return range(Math.ceil(low / step), Math.floor(high / step)).map((k) => Number((k * step).toPrecision(12)));
}

/** Powers of ten in [low, high] (log10 units); 2× and 5× too when the axis spans less than three decades. */
function logTicks(low: number, high: number): number[] {
  const multiples = high - low < 3 ? [1, 2, 5] : [1];
  return range(Math.floor(low), Math.ceil(high))
    .flatMap((e) => multiples.map((m) => Number((m * 10 ** e).toPrecision(12))))
    .filter((v) => Math.log10(v) >= low - 1e-9 && Math.log10(v) <= high + 1e-9);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

function tickLabel(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

function f(v: number): string {
  return v.toFixed(1);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
