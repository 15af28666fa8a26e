/**
 * What the panel currently shows, as plain data, for tests: `window.__condensePanel` returns a fresh
 * snapshot (the integration tests compare its counts and totals with the engine's).
 */
import type { Estimate, LayerEstimate } from '../src/core/estimate';
import type { PanelModel, RetrainView, ThresholdState } from '../src/shared/protocol';
import type { Progress, Verification, Written } from './status';

export type PanelPhase = 'waiting' | 'analysing' | 'ready' | 'failed';

interface LayerSnapshot extends LayerEstimate {
  type: string;
  reducible: boolean;
  /** The threshold in effect for the layer. */
  gamma: number;
}

export interface PanelSnapshot {
  phase: PanelPhase;
  model: PanelModel | null;
  thresholds: ThresholdState;
  layers: LayerSnapshot[];
  totals: Estimate['totals'] | null;
  progress: Progress | null;
  busy: string | null;
  error: string | null;
  written: Written | null;
  verification: Verification | null;
  /** The retrain run as last received from the host. */
  retrain: RetrainView | null;
  /** The "Refit on calibration data" toggle: shown (calibration data set) and on. */
  refit: { available: boolean; enabled: boolean };
}

declare global {
  interface Window {
    readonly __condensePanel: PanelSnapshot;
  }
}

export function exposeSnapshot(take: () => PanelSnapshot): void {
  Object.defineProperty(window, '__condensePanel', { get: () => JSON.parse(JSON.stringify(take())) as PanelSnapshot, configurable: true });
}
