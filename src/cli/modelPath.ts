/** MODEL given as a folder: the single model file inside it stands for it. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from '../core/model/errors';

const MODEL_EXTENSIONS = new Set(['.onnx', '.h5', '.hdf5', '.keras', '.pt', '.pth', '.safetensors']);

function isModelFile(name: string): boolean {
  return name === 'model.json' || MODEL_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/** The path itself for a file; for a folder the one model file in it, or a refusal listing the candidates. */
export async function resolveModelPath(given: string): Promise<string> {
  const stat = await fs.stat(given).catch(() => null);
  if (!stat?.isDirectory()) return given;
  const entries = await fs.readdir(given, { withFileTypes: true });
  const candidates = entries.filter((e) => e.isFile() && isModelFile(e.name)).map((e) => e.name).sort();
  if (candidates.length === 1) return path.join(given, candidates[0]);
  if (candidates.length === 0) {
    throw new InputError(given, 'is a folder with no model file in it (model.json, .onnx, .h5, .hdf5, .keras, .pt, .pth, .safetensors)');
  }
  const shown = candidates.slice(0, 10).map((name) => path.join(given, name)).join(', ');
  throw new InputError(given, `is a folder with ${candidates.length} model files: name one (${shown}${candidates.length > 10 ? ', …' : ''})`);
}
