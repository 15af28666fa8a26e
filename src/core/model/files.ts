import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from './errors';

/**
 * Resolves a path a model file names for its weights (a TF.js shard, ONNX external data) inside the
 * model's folder (`realDir`, already resolved through symlinks); anything that climbs out is refused.
 */
export async function confinedPath(file: string, realDir: string, rel: string): Promise<string> {
  if (path.isAbsolute(rel) || /^[a-z][a-z0-9+.-]*:\/\//i.test(rel)) {
    throw new InputError(file, `weight path "${rel}" is not a relative path inside the model's folder`);
  }
  const resolved = path.resolve(realDir, rel);
  let real = resolved;
  try {
    real = await fs.realpath(resolved);
  } catch {
    // A missing file is reported by the caller; the lexical check below still applies.
  }
  for (const candidate of [resolved, real]) {
    const relative = path.relative(realDir, candidate);
    // "..", or ".." then a separator; a name that merely begins with ".." (e.g. "..w.bin") is inside.
    if (relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
      throw new InputError(file, `weight path "${rel}" climbs out of the model's folder; refused`);
    }
  }
  return resolved;
}

/** Reads a model file the user named; failures become an InputError naming it. */
export async function readModelFile(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(path.resolve(file));
  } catch (e) {
    throw new InputError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
