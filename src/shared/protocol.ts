/**
 * The one message protocol between the extension host, the analysis worker and the panel webview.
 * Every message is a discriminated union on `type`. This file is pure (no Node, no DOM, no vscode).
 */
import type { Dendrogram } from '../core/similarity/cluster';
import type { Heatmap } from '../core/similarity/heatmap';
import type { RetrainEpoch } from '../core/retrain';
import type { TrainerChoice } from '../core/train/choice';
import type { BiasDominance, LayerSummary, ModelSummary } from '../core/estimate';
import type { Fidelity } from '../core/verify';
import type { AutoMetric, AutoPoint, AutoResult, RetrainRound, RetrainSummary, Timing } from '../core/reduction/report';
import type { Choosable } from './retrainSettings';

// ---- wire form of the analysis ---------------------------------------------------------------------

export type { Heatmap };

interface WireDendrogram {
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

export const autoPointToWire = (p: AutoPoint): AutoCurvePoint => ({ paramsRatio: p.paramsRatio, metric: p.metric, change: p.change, thresholds: { ...p.thresholds }, meets: p.meets });

export function autoCurveToWire(result: AutoResult): AutoCurve {
  return {
    metric: result.metric,
    baseline: result.baseline,
    tolerance: result.tolerance,
    validation: result.validation,
    merge: result.merge,
    points: result.curve.map(autoPointToWire),
    chosen: result.chosen ? result.curve.indexOf(result.chosen) : null,
  };
}

/** The search while it runs: the candidates measured so far (their metric's baseline is not known yet). */
export interface AutoSearchProgress {
  points: AutoCurvePoint[];
  /** At most this many candidates in all. */
  budget: number;
  tolerance: number;
}

// ---- condense–retrain cycles ---------------------------------------------------------------------------

/**
 * What a retrain run reports while it runs (worker → host). `workDir`: the run's temporary folder, so
 * the host can remove it even when the worker is gone. A round comes with the summary after it.
 */
export type RetrainEvent =
  | { kind: 'start'; summary: RetrainSummary; workDir: string }
  | { kind: 'epoch'; epoch: RetrainEpoch }
  /** Training reached the pause gate and waits (a pause takes effect after the current batch). */
  | { kind: 'paused' }
  | { kind: 'round'; round: RetrainRound; summary: RetrainSummary };

/**
 * What a retrain run is asked to do (the settings, for the panel and the report). "auto": the engine
 * chooses — each round's γ cut from the clustering trees, the learning rate by a range test, the batch
 * size from the training data (the run's summary says what it chose).
 */
export interface RetrainPlan {
  threshold: Choosable;
  tolerance: number;
  epochs: number;
  rounds: number;
  learningRate: Choosable;
  batchSize: Choosable;
  /** "refit" when each condensation refits the next layers on the calibration data. */
  merge: 'refit' | 'plain';
  /** The four data files (absolute paths). */
  trainInputs: string;
  trainTargets: string;
  valInputs: string;
  valTargets: string;
}

export type RetrainStatus = 'starting' | 'running' | 'paused' | 'completed' | 'cancelled' | 'failed';

/** A run as the panel shows it (host → webview, whole on every change). */
export interface RetrainView {
  status: RetrainStatus;
  plan: RetrainPlan;
  /** The original's metric and the finished rounds; null until the original is measured. */
  summary: RetrainSummary | null;
  epochs: RetrainEpoch[];
  /** Rounds written, with where. */
  written: { round: number; outDir: string }[];
  /** Why it failed (status 'failed'). */
  error?: string;
  /** The worker that kept the rounds' models stopped unexpectedly: none can be written any more. */
  lost?: boolean;
}

/** What verify's timing measures: batch sizes, and intra-op threads where the runtime takes them (absent: its default). */
export interface TimingRequest {
  batches: number[];
  threads?: number;
}

// ---- host ⇄ worker -------------------------------------------------------------------------------------

/**
 * `activation`: between the layers of weights-only files (PyTorch state dicts), which do not record it.
 * `calibration`: a file of unlabelled inputs: similarity is measured on them and reduce refits the next layers.
 */
export type WorkerRequest =
  | { type: 'analyze'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string }
  /** `refit: false`: the plain merge even with calibration data (the panel's toggle); similarity is still measured on it. */
  | { type: 'reduce'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string; refit?: boolean; thresholds: ThresholdState; outDir: string; overwrite: boolean; roundTo?: number }
  /** `timing`: also measure both models' latency at these batch sizes (see core/timing.ts), kept in the reduced folder's report. */
  | { type: 'verify'; id: number; original: string; reduced: string; backend: BackendName; activation?: string; samples: number; data?: string; timing?: TimingRequest }
  /** The automatic threshold search on the (cached) analysis; `valTargets`: outputs per row, or class indices. */
  | { type: 'auto'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string; tolerance: number; valInputs: string; valTargets: string; roundTo?: number }
  /** Condense–retrain rounds; the run's rounds stay writable (retrainWrite) until retrainDispose. */
  | ({ type: 'retrain'; id: number; file: string; backend: BackendName; activation?: string; calibration?: string; targetRatio?: number; trainer?: TrainerChoice } & Omit<RetrainPlan, 'merge'>)
  /** Writes round `round` of the run started by request `run`; answered even while that run still trains. */
  | { type: 'retrainWrite'; id: number; run: number; round: number; outDir: string; overwrite: boolean };

/**
 * Host → worker, answered by nothing and acted on at once (not queued behind the running request):
 * `abort` cancels request `id` alone — a queued one is answered 'cancelled' at once, a running analysis,
 * write or verification stops at its next check (between layers) and answers 'cancelled', the auto
 * search and retraining stop between candidates or batches and answer with what they have;
 * `pause`/`resume` hold a retrain run between batches, `retrainDispose` removes a run's kept models.
 */
export type WorkerControl =
  | { type: 'abort'; id: number }
  | { type: 'pause'; id: number }
  | { type: 'resume'; id: number }
  | { type: 'retrainDispose'; run: number };

/** Every control message type, once: the compiler requires exactly the union's. */
const CONTROL_TYPES: Record<WorkerControl['type'], true> = { abort: true, pause: true, resume: true, retrainDispose: true };

export const isWorkerControl = (message: WorkerRequest | WorkerControl): message is WorkerControl => Object.hasOwn(CONTROL_TYPES, message.type);

export type WorkerResponse =
  | { type: 'progress'; id: number; layer: string; done: number; total: number }
  /** `files`: model.json and its weight shards; a change to any of them makes the analysis stale. */
  | { type: 'analyzed'; id: number; summary: WireSummary; files: string[] }
  /** `merge`: "refit" when the next layers were solved on the calibration data. */
  | { type: 'reduced'; id: number; outDir: string; mainFile: string; paramsBefore: number; paramsAfter: number; merge?: 'refit' | 'plain' }
  | { type: 'verified'; id: number; fidelity: Fidelity; backend: string; timing?: Timing }
  /** `cancelled`: stopped by an abort; the curve holds the candidates measured until then. */
  | { type: 'autoResult'; id: number; result: AutoCurve; cancelled: boolean }
  /** After every measured candidate of an auto search. */
  | { type: 'candidate'; id: number; point: AutoCurvePoint; measured: number; budget: number }
  | { type: 'retrainProgress'; id: number; event: RetrainEvent }
  /** The run ended ('cancelled': by an abort; 'failed': a round threw, `error` says why); its finished rounds stay writable. */
  | { type: 'retrained'; id: number; summary: RetrainSummary; outcome: 'completed' | 'cancelled' | 'failed'; error?: string }
  | { type: 'retrainWritten'; id: number; round: number; outDir: string; mainFile: string; paramsBefore: number; paramsAfter: number }
  /** `input` marks a problem with the user's file (vs. a bug): the message names the file. */
  | { type: 'failed'; id: number; message: string; input: boolean }
  /** The request stopped on its abort before it finished (or began): nothing of it is kept. */
  | { type: 'cancelled'; id: number };

/** The worker's memory cap in MiB, passed to the worker process as this argument followed by the number. */
export const MEMORY_LIMIT_ARGUMENT = '--memory-limit-mib=';
/** What the worker process writes to its standard error just before its memory watch ends it. */
export const OUT_OF_MEMORY_MARKER = 'condense-worker: memory limit exceeded';

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
  /** `merge`: how the verified model was merged, from its report (unknown without one). */
  | { type: 'verification'; fidelity: Fidelity; reduced: string; tolerance: number; merge?: 'refit' | 'plain'; timing?: Timing }
  | { type: 'busy'; what: string | null }
  /** null: the search ended without a curve (it failed); the card shows what it showed before the search. */
  | { type: 'autoCurve'; curve: AutoCurve | null }
  /** The running search's candidates so far; the final curve follows as autoCurve. */
  | { type: 'autoProgress'; progress: AutoSearchProgress }
  /** null clears the section (no run for this model). */
  | { type: 'retrain'; view: RetrainView | null }
  /** `available`: a calibration file is set, so writing can refit; `enabled`: this panel's choice. */
  | { type: 'refit'; available: boolean; enabled: boolean }
  /** The setting condense.roundTo: reduced widths are rounded up to a multiple of it when writing (1: off). */
  | { type: 'rounding'; roundTo: number }
  | { type: 'error'; message: string };

export type WebviewToHost =
  | { type: 'ready' }
  | { type: 'thresholds'; thresholds: ThresholdState }
  | { type: 'write' }
  /** "Export as C / Fortran…": the host asks for the model and language. */
  | { type: 'export' }
  | { type: 'verify' }
  | { type: 'reanalyze' }
  /** "Find thresholds…": run the automatic search (the host reads the validation settings). */
  | { type: 'auto' }
  /** "Condense and Retrain…": the host asks for the data files and starts a run. */
  | { type: 'retrain' }
  | { type: 'retrainControl'; action: 'pause' | 'resume' | 'cancel' }
  | { type: 'retrainWrite'; round: number }
  /** The panel's "Refit on calibration data" toggle (for Write and Verify from this panel). */
  | { type: 'refit'; enabled: boolean }
  /** What the panel now shows, after every render: lets the host (and its tests) check it. */
  | { type: 'rendered'; layers: { name: string; clusters: number | null; unitsAfter: number | null }[]; ratio: number };

/** What the webview persists with setState, so a reloaded window restores the panel. */
export interface PanelState {
  modelPath: string;
  thresholds: ThresholdState;
  /** The "Refit on calibration data" toggle (absent: on). */
  refit?: boolean;
}
