/**
 * Which tfjs backend runs models (tfjs-node, wasm or cpu), loaded once per process; the similarity
 * engine that goes with it comes from engines.ts.
 */
import * as path from 'path';
import * as fs from 'fs';
import type * as TF from '@tensorflow/tfjs';
import { GramEngine, typescriptGram } from '../similarity/weights';
import { onnxGram, tfjsGram } from './engines';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

export interface Backend {
  /** The tfjs backend that runs models: "tensorflow" (tfjs-node), "wasm" or "cpu". */
  name: 'tensorflow' | 'wasm' | 'cpu';
  tf: typeof TF;
  /** The similarity engine: onnxruntime when installed, else the tfjs backend's own (TypeScript for cpu). */
  gram: GramEngine;
  /** For reports, e.g. "wasm (similarity: onnxruntime)". */
  label: string;
}

let loaded: Promise<Backend> | undefined;
let loadedFor: BackendPreference | undefined;

/**
 * Picks tfjs-node when it is installed, else the wasm backend, else cpu; a preference other than
 * "auto" forces one (and fails when it is unavailable). Loaded once per process (or worker).
 */
export function loadBackend(preference: BackendPreference = 'auto'): Promise<Backend> {
  if (!loaded || loadedFor !== preference) {
    loadedFor = preference;
    loaded = pick(preference);
  }
  return loaded;
}

async function pick(preference: BackendPreference): Promise<Backend> {
  const { name, tf, gram: fallback } = await choose(preference);
  // Production mode silences tfjs's console advice ("install tfjs-node"), which would pollute CLI output.
  tf.env().set('PROD', true);
  const gram = (await onnxGram()) ?? fallback;
  return { name, tf, gram, label: `${name} (similarity: ${gram.name})` };
}

async function choose(preference: BackendPreference): Promise<Omit<Backend, 'label'>> {
  const errors: string[] = [];
  if (preference === 'auto' || preference === 'tensorflow') {
    try {
      // tfjs-node brings its own copy of the tfjs API; use that copy throughout so the backend is registered on it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const tf = require('@tensorflow/tfjs-node') as typeof TF;
      await tf.setBackend('tensorflow');
      return { name: 'tensorflow', tf, gram: tfjsGram(tf, 'tensorflow') };
    } catch (e) {
      errors.push(`tensorflow: ${(e as Error).message.split('\n')[0]}`);
      if (preference === 'tensorflow') throw new Error(`the tensorflow backend (tfjs-node) is not available: ${errors[0]}`, { cause: e });
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs') as typeof TF;
  if (preference === 'auto' || preference === 'wasm') {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void };
      wasm.setWasmPaths(wasmDirectory());
      if (await tf.setBackend('wasm')) return { name: 'wasm', tf, gram: tfjsGram(tf, 'wasm') };
      errors.push('wasm: the backend did not initialise');
    } catch (e) {
      errors.push(`wasm: ${(e as Error).message.split('\n')[0]}`);
    }
    if (preference === 'wasm') throw new Error(`the wasm backend is not available: ${errors.join('; ')}`);
  }
  await tf.setBackend('cpu');
  // tfjs-cpu's matMul is slower than plain TypeScript, so the cpu backend keeps the TypeScript engine.
  return { name: 'cpu', tf, gram: typescriptGram };
}

/** The .wasm files: next to the bundle (dist/) when bundled, else in the installed package. */
function wasmDirectory(): string {
  const candidates = [__dirname, path.join(__dirname, 'wasm')];
  try {
    candidates.push(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'));
  } catch {
    // Not resolvable from a bundle: the copies next to it are used.
  }
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'tfjs-backend-wasm.wasm')));
  if (!found) throw new Error('tfjs-backend-wasm.wasm not found');
  return found + path.sep;
}
