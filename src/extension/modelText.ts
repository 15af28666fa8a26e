/** Pure helpers on a model.json's text: detection by content and "which layer is at this offset". */
import * as path from 'path';
import { JSONPath as JsonPath, visit } from 'jsonc-parser';
import { looksLikeTfjsModel } from '../core/formats/tfjs/read';

/** A short label: TF.js models are all called model.json, so their folder names them. */
export function modelLabel(file: string): string {
  const name = path.basename(file);
  return name.toLowerCase() === 'model.json' ? `${path.basename(path.dirname(file))}/${name}` : name;
}

/**
 * A TF.js Layers model.json is recognised by its content (`modelTopology` and `weightsManifest`),
 * not its name. The substring test keeps large unrelated JSON files from being parsed at all.
 */
export function isTfjsModelText(text: string): boolean {
  if (!text.includes('"modelTopology"') || !text.includes('"weightsManifest"')) return false;
  try {
    return looksLikeTfjsModel(JSON.parse(text));
  } catch {
    return false;
  }
}

/** A stretch of a model.json (a layer's `name`, `class_name` or `config.name` entry) and the layer it names. */
export interface LayerTarget {
  start: number;
  end: number;
  layer: string;
}

/** The entries that name a layer, relative to the layer object. */
const NAMING_ENTRIES = new Set(['class_name', 'name', 'config/name']);

/**
 * Every `name`, `class_name` and `config.name` entry of a layer in either topology shape
 * (`modelTopology.config` or `modelTopology.model_config.config`, Sequential as a list or
 * `{layers}`), in text order, with the layer's name. One pass over the text without building a
 * tree: on a large model.json this runs once per document version, off the extension host's thread.
 */
export function layerTargets(text: string): LayerTarget[] {
  const spans: { start: number; end: number; layerKey: string }[] = [];
  /** Per layer (by its JSON path): the literal values of its `config.name` and `name`. */
  const names = new Map<string, { config?: unknown; direct?: unknown }>();
  let pending: { path: JsonPath; span: { start: number; end: number; layerKey: string } } | undefined;
  visit(text, {
    onObjectProperty(property, offset, length, _line, _column, pathSupplier) {
      pending = undefined;
      if (property !== 'name' && property !== 'class_name') return;
      const path = [...pathSupplier(), property];
      const layerEnd = layerIndexIn(path);
      if (layerEnd < 0 || !NAMING_ENTRIES.has(path.slice(layerEnd + 1).join('/'))) return;
      const span = { start: offset, end: offset + length, layerKey: JSON.stringify(path.slice(0, layerEnd + 1)) };
      spans.push(span);
      pending = { path, span };
    },
    onLiteralValue(value, offset, length, _line, _column, pathSupplier) {
      const entry = pending;
      pending = undefined;
      if (!entry || !samePath(pathSupplier(), entry.path)) return;
      entry.span.end = offset + length;
      const last = entry.path[entry.path.length - 1];
      if (last !== 'name') return;
      const known = names.get(entry.span.layerKey) ?? {};
      if (entry.path[entry.path.length - 2] === 'config') known.config = value;
      else known.direct = value;
      names.set(entry.span.layerKey, known);
    },
    onObjectBegin: () => (pending = undefined),
    onArrayBegin: () => (pending = undefined),
  });
  const targets: LayerTarget[] = [];
  for (const { start, end, layerKey } of spans) {
    const known = names.get(layerKey);
    const layer = known && ('config' in known ? known.config : known.direct);
    if (typeof layer === 'string') targets.push({ start, end, layer });
  }
  return targets;
}

/** The layer named at `offset` (inside an entry, or between its key and value), or null. */
export function layerAt(targets: readonly LayerTarget[], offset: number): string | null {
  let lo = 0, hi = targets.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (targets[mid].start <= offset) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found >= 0 && offset <= targets[found].end ? targets[found].layer : null;
}

/** The name of the layer whose `name` or `class_name` entry is at `offset`; null elsewhere. */
export function layerAtOffset(text: string, offset: number): string | null {
  return layerAt(layerTargets(text), offset);
}

/** Where a layer's index is in a JSON path: the last number after "layers" (or "config", where Keras 2.0 wrote a Sequential as a bare list); -1 if none. */
function layerIndexIn(path: JsonPath): number {
  for (let k = path.length - 1; k > 0; k--) {
    if (typeof path[k] === 'number' && (path[k - 1] === 'layers' || path[k - 1] === 'config')) return k;
  }
  return -1;
}

function samePath(a: JsonPath, b: JsonPath): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}
