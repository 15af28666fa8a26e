/**
 * The panel's messages are checked in the host before anything acts on them: the webview is a web
 * page, and what it sends is data, not trusted calls. A message of an unknown type or of the wrong
 * shape is dropped (the caller logs it). Free of `vscode` so it is unit-tested directly.
 */
import type { PanelState, ThresholdState, WebviewToHost } from '../shared/protocol';

type Fields = Record<string, unknown>;

const isRecord = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isGamma = (v: unknown): v is number => isFiniteNumber(v) && v >= 0 && v <= 1;
const isCount = (v: unknown): v is number | null => v === null || (Number.isInteger(v) && (v as number) >= 0);

/** Thresholds as the panel sends them; the overrides come back in a map without a prototype (layer names are the model's). */
function parseThresholds(value: unknown): ThresholdState | undefined {
  if (!isRecord(value) || !isGamma(value.threshold) || !isRecord(value.overrides)) return undefined;
  const overrides = Object.create(null) as Record<string, number>;
  for (const [layer, gamma] of Object.entries(value.overrides)) {
    if (!isGamma(gamma)) return undefined;
    overrides[layer] = gamma;
  }
  return { threshold: value.threshold, overrides };
}

/** What the panel persisted for a reload; undefined when it is not a panel state. */
export function parsePanelState(value: unknown): PanelState | undefined {
  if (!isRecord(value) || typeof value.modelPath !== 'string' || value.modelPath === '') return undefined;
  const thresholds = parseThresholds(value.thresholds);
  if (!thresholds || (value.refit !== undefined && typeof value.refit !== 'boolean')) return undefined;
  return { modelPath: value.modelPath, thresholds, ...(value.refit === undefined ? {} : { refit: value.refit }) };
}

const SIMPLE = new Set(['ready', 'write', 'verify', 'reanalyze', 'auto', 'retrain']);
const RETRAIN_ACTIONS = new Set(['pause', 'resume', 'cancel']);

/** The message as the protocol types it, or undefined for anything else. */
export function parseWebviewMessage(value: unknown): WebviewToHost | undefined {
  if (!isRecord(value) || typeof value.type !== 'string') return undefined;
  const { type } = value;
  if (SIMPLE.has(type)) return { type } as WebviewToHost;
  switch (type) {
    case 'thresholds': {
      const thresholds = parseThresholds(value.thresholds);
      return thresholds && { type, thresholds };
    }
    case 'retrainControl':
      return typeof value.action === 'string' && RETRAIN_ACTIONS.has(value.action) ? { type, action: value.action as 'pause' | 'resume' | 'cancel' } : undefined;
    case 'retrainWrite':
      return Number.isInteger(value.round) && (value.round as number) >= 0 ? { type, round: value.round as number } : undefined;
    case 'refit':
      return typeof value.enabled === 'boolean' ? { type, enabled: value.enabled } : undefined;
    case 'rendered': {
      if (!Array.isArray(value.layers) || !isFiniteNumber(value.ratio)) return undefined;
      const layers: Extract<WebviewToHost, { type: 'rendered' }>['layers'] = [];
      for (const layer of value.layers) {
        if (!isRecord(layer) || typeof layer.name !== 'string' || !isCount(layer.clusters) || !isCount(layer.unitsAfter)) return undefined;
        layers.push({ name: layer.name, clusters: layer.clusters, unitsAfter: layer.unitsAfter });
      }
      return { type, layers, ratio: value.ratio };
    }
    default:
      return undefined;
  }
}
