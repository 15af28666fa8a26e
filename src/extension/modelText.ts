/** Pure helpers on a model.json's text: detection by content and "which layer is at this offset". */
import * as path from 'path';
import { findNodeAtLocation, getLocation, Node, parseTree } from 'jsonc-parser';
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

/**
 * The name of the layer whose `name` or `class_name` entry is at `offset`, in either topology
 * shape (`modelTopology.config` or `modelTopology.model_config.config`, Sequential as a list or
 * `{layers}`); null elsewhere.
 */
export function layerAtOffset(text: string, offset: number): string | null {
  const path = getLocation(text, offset).path;
  // The layer's index follows "layers" (or "config", where Keras 2.0 wrote a Sequential as a bare list).
  let index = -1;
  for (let k = path.length - 1; k > 0 && index < 0; k--) {
    if (typeof path[k] === 'number' && (path[k - 1] === 'layers' || path[k - 1] === 'config')) index = k;
  }
  if (index < 0) return null;
  const rest = path.slice(index + 1).join('/');
  if (rest !== 'class_name' && rest !== 'name' && rest !== 'config/name') return null;
  const root = parseTree(text);
  const layer = root && findNodeAtLocation(root, path.slice(0, index + 1));
  return layer ? layerName(layer) : null;
}

function layerName(layer: Node): string | null {
  const config = findNodeAtLocation(layer, ['config', 'name']);
  const direct = findNodeAtLocation(layer, ['name']);
  const value = config?.value ?? direct?.value;
  return typeof value === 'string' ? value : null;
}
