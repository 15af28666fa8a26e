import { Estimate, ModelSummary } from '../core/summary';

/** The `analyze --json` document; its shape is part of the CLI's contract (see README). */
export interface AnalysisJson {
  model: string;
  backend: string;
  threshold: number;
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
  }[];
  totals: { paramsBefore: number; paramsAfter: number; ratio: number };
}

export function analysisJson(summary: ModelSummary, sizes: Estimate, threshold: number): AnalysisJson {
  return {
    model: summary.model,
    backend: summary.backend,
    threshold,
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
      };
    }),
    totals: { paramsBefore: sizes.totals.paramsBefore, paramsAfter: sizes.totals.paramsAfter, ratio: sizes.totals.ratio },
  };
}

export function formatTable(summary: ModelSummary, sizes: Estimate, threshold: number): string {
  const header = ['layer', 'type', 'units', 'clusters', 'dead', 'params before → after', 'MACs before → after', 'note'];
  const rows = summary.layers.map((layer, i) => {
    const e = sizes.layers[i];
    const note = layer.reducible ? 'reducible' : layer.reason ?? '';
    return [
      layer.name,
      layer.type,
      layer.units === null ? '' : String(layer.units),
      e.clusters === null ? '' : String(e.clusters),
      layer.dead ? String(layer.dead) : '',
      `${e.paramsBefore} → ${e.paramsAfter}`,
      e.macsBefore ? `${e.macsBefore} → ${e.macsAfter}` : '',
      note,
    ];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string => cells.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd();
  const t = sizes.totals;
  return [
    `${summary.model}  (backend ${summary.backend}, γ = ${threshold})`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `Total: ${t.paramsBefore} → ${t.paramsAfter} parameters (${(100 * t.ratio).toFixed(1)} % of the original), ` +
      `${t.macsBefore} → ${t.macsAfter} multiply-adds per sample, ${t.bytesBefore} → ${t.bytesAfter} weight bytes.`,
  ].join('\n');
}
