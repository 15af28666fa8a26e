import { countClusters } from '../core/similarity/cluster';
import { Estimate, LayerSummary, ModelSummary } from '../core/estimate';
import type { AutoResult, CondenseReport } from '../core/reduction/report';
import type { Timing } from '../core/reduction/report';
import { fitLine, printable } from './table';

/** The `analyze --json` document; its shape is part of the CLI's contract (see README). */
export interface AnalysisJson {
  model: string;
  backend: string;
  threshold: number;
  /** The calibration inputs similarity was measured on; null: on weights. */
  calibration: string | null;
  layers: {
    name: string;
    type: string;
    units: number;
    clusters: number | null;
    reducible: boolean;
    reason: string | null;
    paramsBefore: number;
    paramsAfter: number;
    macsBefore: number;
    macsAfter: number;
    /** null where the layer is not analysed. */
    similarity: 'weights' | 'data' | null;
    biasDominated: boolean;
  }[];
  totals: { paramsBefore: number; paramsAfter: number; ratio: number };
}

export function analysisJson(summary: ModelSummary, sizes: Estimate, threshold: number, calibration: string | null = null): AnalysisJson {
  return {
    model: summary.model,
    backend: summary.backend,
    threshold,
    calibration,
    layers: summary.layers.map((layer, i) => {
      const e = sizes.layers[i];
      return {
        name: layer.name,
        type: layer.type,
        units: layer.units ?? 0,
        clusters: e.clusters,
        reducible: layer.reducible,
        reason: layer.reason,
        paramsBefore: e.paramsBefore,
        paramsAfter: e.paramsAfter,
        macsBefore: e.macsBefore,
        macsAfter: e.macsAfter,
        similarity: layer.analysed ? layer.similarity ?? 'weights' : null,
        biasDominated: !!layer.biasDominance,
      };
    }),
    totals: { paramsBefore: sizes.totals.paramsBefore, paramsAfter: sizes.totals.paramsAfter, ratio: sizes.totals.ratio },
  };
}

/** The note on a bias-dominated layer: what the weight part alone would give at γ. */
function biasNote(layer: LayerSummary, gamma: number): string {
  const b = layer.biasDominance;
  return b ? `; bias-dominated: weight-only cosine gives ${countClusters(b.weightOnly, gamma)} clusters` : '';
}

export interface TableOptions {
  /** The terminal's width: longer lines lose the end of their note. */
  columns?: number;
  /** Lines printed under the title (e.g. the assumed activation of a weights-only file). */
  header?: string[];
}

export function formatTable(summary: ModelSummary, sizes: Estimate, threshold: number, calibration: string | null = null, options: TableOptions = {}): string {
  const header = ['layer', 'type', 'units', 'clusters', 'similarity', 'dead', 'params before → after', 'MACs before → after', 'note'];
  const rows = summary.layers.map((layer, i) => {
    const e = sizes.layers[i];
    const reducible = layer.joint ? `reducible, ${layer.joint.note}` : 'reducible';
    const note = (layer.reducible ? reducible : layer.reason ?? '') + biasNote(layer, threshold);
    return [
      layer.name,
      layer.type,
      layer.units === null ? '' : String(layer.units),
      // Rounded up (--round-to): the width at γ and the width kept.
      e.clusters === null ? '' : layer.reducible && e.unitsAfter !== null && e.unitsAfter !== Math.max(1, e.clusters) ? `${e.clusters} (kept ${e.unitsAfter})` : String(e.clusters),
      layer.analysed ? layer.similarity ?? 'weights' : '',
      layer.dead ? String(layer.dead) : '',
      `${e.paramsBefore} → ${e.paramsAfter}`,
      e.macsBefore ? `${e.macsBefore} → ${e.macsAfter}` : '',
      note,
    ].map(printable); // escaped before measuring, so a hostile name's escapes keep its row aligned
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string => fitLine(cells.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd(), options.columns);
  const t = sizes.totals;
  return [
    `${summary.model}  (backend ${summary.backend}, γ = ${threshold}, similarity ${calibration ? `on ${calibration}` : 'on weights'})`,
    ...(options.header ?? []),
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `Total: ${t.paramsBefore} → ${t.paramsAfter} parameters (${(100 * t.ratio).toFixed(1)} % of the original), ` +
      `${t.macsBefore} → ${t.macsAfter} multiply-adds per sample, ${t.bytesBefore} → ${t.bytesAfter} weight bytes.`,
  ].join('\n');
}

/** How `reduce` merged: plain, or refitted (with each fit's relative residual on held-out calibration samples, next to the plain merge's). */
export function formatMerge(report: CondenseReport): string {
  const plain = 'Merge: plain (output weights of each cluster summed into its representative)';
  if (!report.refits) return `${plain}.`;
  const outputs = report.refitOutputError
    ? ` Outputs on the held-out calibration samples: relative MSE ${report.refitOutputError.fit.toExponential(2)} refitted, ${report.refitOutputError.plain.toExponential(2)} plain.`
    : '';
  const lines = [report.merge === 'plain'
    ? `${plain}: the refit on ${report.calibration} did not improve the outputs.${outputs} The fits were:`
    : `Merge: next layers refitted by least squares on ${report.calibration}.${outputs}`];
  for (const r of report.refits ?? []) {
    lines.push(r.skipped
      ? `  ${r.producer} → ${r.consumer}: plain merge kept (${r.skipped})`
      : `  ${r.producer} → ${r.consumer}: ${r.rows} rows × ${r.features} inputs` +
        (r.relativeError === null ? '' : `, relative residual on held-out samples ${r.relativeError.toExponential(2)} (plain merge ${r.plainError!.toExponential(2)})`));
  }
  return lines.join('\n');
}

/** The automatic search: its curve (largest first, the chosen point marked) and the choice. */
export function formatAuto(result: AutoResult): string {
  const mse = result.metric === 'mse';
  const metricText = (v: number): string => (mse ? v.toExponential(3) : `${(100 * v).toFixed(2)} %`);
  const change = (c: number): string => (mse ? `${c >= 0 ? '+' : ''}${(100 * c).toFixed(1)} %` : `${c > 0 ? '−' : '+'}${Math.abs(100 * c).toFixed(1)} points`);
  const limit = mse ? `MSE at most +${100 * result.tolerance} %` : `accuracy at most ${100 * result.tolerance} points lower`;
  const lines = [
    `Automatic thresholds on ${result.validation}: ${limit} (original ${mse ? 'MSE' : 'accuracy'} ${metricText(result.baseline)}; ` +
      `${result.merge === 'refit' ? 'refitted' : 'plain'} merge, run by ${result.runner === 'engine' ? "condense's evaluator" : "the format's runner"}` +
      `${result.roundTo ? `; widths rounded up to multiples of ${result.roundTo}` : ''}).`,
    '',
    `  ${'params'.padStart(10)}  ${'ratio'.padStart(7)}  ${(mse ? 'MSE' : 'accuracy').padStart(10)}  ${'change'.padStart(13)}`,
  ];
  const sorted = [...result.curve].sort((a, b) => b.paramsAfter - a.paramsAfter || a.change - b.change);
  for (const p of sorted) {
    const mark = p === result.chosen ? '*' : p.meets ? ' ' : 'x';
    lines.push(`${mark} ${String(p.paramsAfter).padStart(10)}  ${`${(100 * p.paramsRatio).toFixed(1)} %`.padStart(7)}  ${metricText(p.metric).padStart(10)}  ${change(p.change).padStart(13)}`);
  }
  lines.push('', `${result.curve.length} candidates in ${(result.milliseconds / 1000).toFixed(1)} s (* chosen, x beyond the tolerance).`);
  const c = result.chosen;
  lines.push(c
    ? `Chosen: ${c.paramsAfter} of ${result.paramsBefore} parameters (${(100 * c.paramsRatio).toFixed(1)} %), ${mse ? 'MSE' : 'accuracy'} ${metricText(c.metric)} (${change(c.change)}); ` +
        `thresholds ${Object.entries(c.thresholds).map(([layer, t]) => `${layer} ${t.toPrecision(4)}`).join(', ')}.`
    : 'No candidate meets the tolerance, not even γ = 1 everywhere.');
  return lines.join('\n');
}

/** Milliseconds with three significant digits (at least one decimal below 100). */
const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));

/** verify --timing's table: per batch size both medians, the measured speed-up and the multiply-add ratio. */
export function formatTiming(t: Timing): string {
  const macs = t.macs ? `${t.macs.ratio.toFixed(2)}×` : '—';
  const rows = [['batch', 'original ms', 'reduced ms', 'speed-up', 'MAC ratio', 'runs', 'spread']];
  for (const b of t.batches) rows.push([String(b.batch), ms(b.originalMs), ms(b.reducedMs), `${b.speedup.toFixed(2)}×`, macs, String(b.runs), `${(100 * b.spread).toFixed(0)} %`]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padStart(widths[c])).join('   '));
  return [
    `Timing (median per batch after warm-up, both models alternately):`,
    `Runtime:             ${t.runtime}`,
    `Threads:             ${t.threads}`,
    `Inputs:              ${t.inputs}`,
    ...(t.macs ? [] : ['MAC ratio:           unknown (a layer\'s output size is not known from the files)']),
    ...lines.map((line) => `  ${line}`),
    'Speed-up: original ms / reduced ms; MAC ratio: original / reduced multiply-adds per sample (the speed-up on paper); spread: interquartile range over the median.',
  ].join('\n');
}
