/**
 * The panel's data: the analysis as received, the thresholds, and the estimate at those thresholds.
 * Threshold changes re-count locally (estimate() is a binary search per layer), so the views update
 * on every slider move without a round trip to the host.
 */
import { fromWire, PanelModel, ThresholdState, WireLayer, WireSummary } from '../src/shared/protocol';
import { DEFAULT_THRESHOLD, Estimate, estimate, LayerSummary, ModelSummary } from '../src/core/estimate';

export const GAMMA_MIN = 0.5;
export const GAMMA_MAX = 1;
export const GAMMA_STEP = 0.001;

/** The threshold `text` spells, or null unless it is a number in [GAMMA_MIN, GAMMA_MAX]. */
export function parseThreshold(text: string): number | null {
  const value = Number(text);
  return text.trim() !== '' && Number.isFinite(value) && value >= GAMMA_MIN && value <= GAMMA_MAX ? value : null;
}

export interface Analysis {
  model: PanelModel;
  wire: WireSummary;
  summary: ModelSummary;
}

/** One layer with everything a view needs, kept in summary order. */
export interface LayerView {
  index: number;
  summary: LayerSummary;
  wire: WireLayer;
}

/** Who changed the thresholds: user changes go to the host, host changes are only shown. */
export type Origin = 'user' | 'host';

export type Change = { kind: 'load' } | { kind: 'thresholds'; origin: Origin };

export class Store {
  analysis: Analysis | null = null;
  thresholds: ThresholdState = { threshold: DEFAULT_THRESHOLD, overrides: {} };
  estimate: Estimate | null = null;
  /** condense.roundTo: the estimate counts widths rounded up to a multiple of it, as Write writes them (1: off). */
  roundTo = 1;
  private listeners: ((change: Change) => void)[] = [];

  subscribe(listener: (change: Change) => void): void {
    this.listeners.push(listener);
  }

  /** The threshold in effect for a layer: its override, else the global one. */
  gammaFor(layer: string): number {
    return this.thresholds.overrides[layer] ?? this.thresholds.threshold;
  }

  layers(): LayerView[] {
    if (!this.analysis) return [];
    const { summary, wire } = this.analysis;
    return summary.layers.map((s, index) => ({ index, summary: s, wire: wire.layers[index] }));
  }

  load(model: PanelModel, wire: WireSummary, thresholds: ThresholdState): void {
    this.analysis = { model, wire, summary: fromWire(wire) };
    this.thresholds = copy(thresholds);
    this.recount();
    this.emit({ kind: 'load' });
  }

  setThresholds(thresholds: ThresholdState, origin: Origin): void {
    this.thresholds = copy(thresholds);
    this.recount();
    this.emit({ kind: 'thresholds', origin });
  }

  setGlobal(gamma: number): void {
    this.setThresholds({ ...this.thresholds, threshold: gamma }, 'user');
  }

  /** null removes the layer's override. */
  setOverride(layer: string, gamma: number | null): void {
    const overrides = { ...this.thresholds.overrides };
    if (gamma === null) delete overrides[layer];
    else overrides[layer] = gamma;
    this.setThresholds({ ...this.thresholds, overrides }, 'user');
  }

  setRoundTo(roundTo: number): void {
    if (roundTo === this.roundTo) return;
    this.roundTo = roundTo;
    this.recount();
    this.emit({ kind: 'thresholds', origin: 'host' });
  }

  /** The estimate at another global threshold, with or without the per-layer overrides ("what would γ give"). */
  estimateAt(gamma: number, keepOverrides = false): Estimate | null {
    if (!this.analysis) return null;
    return estimate(this.analysis.summary, keepOverrides ? (layer) => this.thresholds.overrides[layer] ?? gamma : gamma, this.roundTo);
  }

  private recount(): void {
    this.estimate = this.analysis ? estimate(this.analysis.summary, (layer) => this.gammaFor(layer), this.roundTo) : null;
  }

  private emit(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }
}

const copy = (t: ThresholdState): ThresholdState => ({ threshold: t.threshold, overrides: { ...t.overrides } });
