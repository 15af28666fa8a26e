import { promises as fs } from 'fs';
import * as path from 'path';
import { InputError } from '../model/errors';

export interface OutputFile {
  name: string;
  data: Uint8Array | string;
}

/**
 * Writes a folder atomically: everything goes to a temporary sibling first, which is renamed into
 * place only when complete. On any failure the temporary folder is removed, so nothing
 * half-written is left behind. An existing folder is replaced only when `overwrite` is set.
 */
export async function writeFolder(
  outDir: string,
  files: OutputFile[],
  options: { overwrite?: boolean; protect: string[] },
): Promise<string> {
  const target = path.resolve(outDir);
  for (const file of options.protect) {
    // Writing into (or replacing a folder that holds) the original model could destroy it.
    const rel = path.relative(target, path.dirname(path.resolve(file)));
    // Outside only through a ".." segment: a folder named "..models" inside the target is inside.
    const outside = rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel);
    if (!outside) {
      throw new InputError(outDir, 'the output folder would hold or replace the original model; refusing');
    }
  }
  const exists = await fs.stat(target).then(() => true, () => false);
  if (exists && !options.overwrite) {
    throw new InputError(outDir, 'the output folder already exists (choose another or allow replacing it)');
  }
  const parent = path.dirname(target);
  const temp = path.join(parent, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    await fs.mkdir(parent, { recursive: true });
    await fs.mkdir(temp);
    for (const file of files) await fs.writeFile(path.join(temp, file.name), file.data);
    if (exists) {
      const old = `${temp}.old`;
      await fs.rename(target, old);
      await fs.rename(temp, target);
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(temp, target);
    }
  } catch (e) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'the location is not writable' : (e as Error).message;
    throw new InputError(outDir, `cannot write the output folder: ${why}${code ? ` (${code})` : ''}`);
  }
  return target;
}
