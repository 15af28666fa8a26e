/**
 * The one message protocol between the extension host, the analysis worker and the panel webview.
 * Every message is a discriminated union on `type`. This file is pure (no Node, no DOM, no vscode).
 */
import type { AutoMetric, AutoResult } from '../core/autoReduce';
import type { Dendrogram } from '../core/cluster';
import type { Heatmap } from '../core/heatmap';
import type { BiasDominance, LayerSummary, ModelSummary } from '../core/summary';
import type { Fidelity } from '../core/verify';

// ---- wire form of the analysis ---------------------------------------------------------------------

export type { Heatmap };

export interface WireDendrogram {
  n: number;
  a: number[];
  b: number[];
  sim: number[];
}

export interface WireLayer extends Omit<LayerSummary, 'dendrogram' | 'highest' | 'biasDominance'> {
  dendrogram: WireDendrogram | null;
  highest: number[] | null;
  heatmap: Heatmap | null;
  biasDominance?: (Omit<BiasDominance, 'weightOnly'> & { weightOnly: WireDendrogram }) | null;
}

const dendrogramToWire = (d: Dendrogram): WireDendrogram => ({ n: d.n, a: Array.from(d.a), b: Array.from(d.b), sim: Array.from(d.sim) });
const dendrogramFromWire = (d: WireDendrogram): Dendrogram => ({ n: d.n, a: Int32Array.from(d.a), b: Int32Array.from(d.b), sim: Float64Array.from(d.sim) });

export interface WireSummary extends Omit<ModelSummary, 'layers'> {
  layers: WireLayer[];
}

/** Typed arrays become plain arrays so the summary survives any serialisation (webview state, JSON). */
export function toWire(summary: ModelSummary, heatmaps: Map<string, Heatmap> = new Map()): WireSummary {
  return {
    ...summary,
    layers: summary.layers.map((l) => ({
      ...l,
      dendrogram: l.dendrogram ? dendrogramToWire(l.dendrogram) : null,
      highest: l.highest ? Array.from(l.highest) : null,
      heatmap: heatmaps.get(l.name) ?? null,
      biasDominance: l.biasDominance ? { ...l.biasDominance, weightOnly: dendrogramToWire(l.biasDominance.weightOnly) } : null,
    })),
  };
}

export function fromWire(wire: WireSummary): ModelSummary {
  return {
    ...wire,
    layers: wire.layers.map((l): LayerSummary => {
      const d = l.dendrogram ? dendrogramFromWire(l.dendrogram) : null;
      return {
        name: l.name,
        type: l.type,
        units: l.units,
        analysed: l.analysed,
        reducible: l.reducible,
        reason: l.reason,
        activation: l.activation,
        dead: l.dead,
        dendrogram: d,
        highest: l.highest ? Float32Array.from(l.highest) : null,
        params: l.params,
        macs: l.macs,
        bytesPerParam: l.bytesPerParam,
        similarity: l.similarity ?? 'weights',
        biasDominance: l.biasDominance ? { ...l.biasDominance, weightOnly: dendrogramFromWire(l.biasDominance.weightOnly) } : null,
        ...(l.joint ? { joint: l.joint } : {}),
      };
    }),
  };
}

/** Threshold settings: one for all layers, and per-layer overrides. */
export interface ThresholdState {
  threshold: number;
  overrides: Record<string, number>;
}

export type BackendName = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

// ---- wire form of the automatic threshold search ----------------------------------------------------

/** One evaluated candidate: a whole reduced model measured on the validation set. */
export interface AutoCurvePoint {
  /** Parameters after / before. */
  paramsRatio: number;
  /** Validation MSE, or accuracy. */
  metric: number;
  /** Against the original: relative MSE increase, or accuracy drop. */
  change: number;
  /** Per reduced layer (a joint group by its lead); layers not named stay at γ = 1. */
  thresholds: Record<string, number>;
  meets: boolean;
}

/** The size–error curve as plain JSON data (worker → host → webview, and the command's result). */
export interface AutoCurve {
  metric: AutoMetric;
  baseline: number;
  tolerance: number;
  validation: string;
  merge: 'refit' | 'plain';
  points: AutoCurvePoint[];
  /** Index into `points` of the smallest candidate within the tolerance; null when none is. */
  chosen: number | null;
}

export function autoCurveToWire(result: AutoResult): AutoCurve {
  return {
    metric: result.metric,
    baseline: result.baseline,
    tolerance: result.tolerance,
    validation: result.validation,
    merge: result.merge,
    points: result.curve.map((p) => ({ paramsRatio: p.ratio, metric: p.value, change: p.change, thresholds: { ...p.thresholds }, meets: p.meets })),
    chosen: result.chosen ? result.curve.indexOf(result.chosen) : null,
  };
}

// ---- host ⇄ worker -------------------------------------------------------------------------------------

/**
 * `activation`: between the layers of weights-only files (PyTorch state dicts), which do not record it.
 * `calibration`: a file of unlabelled inputs: similarity is measured on them and reduce refits the next layers.
 */
export type WorkerRequest =
  | { type: 'analyze'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string }
  | { type: 'reduce'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string; thresholds: ThresholdState; outDir: string; overwrite: boolean }
  | { type: 'verify'; id: number; original: string; reduced: string; backend: BackendName; activation?: string; samples: number; data?: string }
  /** The automatic threshold search on the (cached) analysis; `valTargets`: outputs per row, or class indices. */
  | { type: 'auto'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string; tolerance: number; valInputs: string; valTargets: string };

export type WorkerResponse =
  | { type: 'progress'; id: number; layer: string; done: number; total: number }
  /** `files`: model.json and its weight shards; a change to any of them makes the analysis stale. */
  | { type: 'analyzed'; id: number; summary: WireSummary; files: string[] }
  /** `merge`: "refit" when the next layers were solved on the calibration data. */
  | { type: 'reduced'; id: number; outDir: string; mainFile: string; paramsBefore: number; paramsAfter: number; merge?: 'refit' | 'plain' }
  | { type: 'verified'; id: number; fidelity: Fidelity; backend: string }
  | { type: 'autoResult'; id: number; result: AutoCurve }
  /** `input` marks a problem with the user's file (vs. a bug): the message names the file. */
  | { type: 'failed'; id: number; message: string; input: boolean };

// ---- host ⇄ webview ------------------------------------------------------------------------------------

export interface PanelModel {
  path: string;
  /** Short name for titles: the model's folder and file. */
  label: string;
}

export type HostToWebview =
  | { type: 'analysing'; model: PanelModel; layer: string; done: number; total: number }
  | { type: 'analysis'; model: PanelModel; summary: WireSummary; thresholds: ThresholdState }
  | { type: 'thresholds'; thresholds: ThresholdState }
  | { type: 'written'; outDir: string; paramsBefore: number; paramsAfter: number }
  | { type: 'verification'; fidelity: Fidelity; reduced: string; tolerance: number }
  | { type: 'busy'; what: string | null }
  | { type: 'autoCurve'; curve: AutoCurve }
  | { type: 'error'; message: string };

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'thresholds'; thresholds: ThresholdState }
  | { type: 'write' }
  | { type: 'verify' }
  | { type: 'reanalyze' }
  /** "Find thresholds…": run the automatic search (the host reads the validation settings). */
  | { type: 'auto' }
  /** What the panel now shows, after every render: lets the host (and its tests) check it. */
  | { type: 'rendered'; layers: { name: string; clusters: number | null; unitsAfter: number | null }[]; ratio: number };

/** What the webview persists with setState, so a reloaded window restores the panel. */
export interface PanelState {
  modelPath: string;
  thresholds: ThresholdState;
}
