import { promises as fs } from 'fs';
import * as path from 'path';
import { CancelledError, CancelToken, InputError, throwIfCancelled } from '../model/errors';
import { isInside } from '../model/files';

export interface OutputFile {
  name: string;
  data: Uint8Array | string;
}

/**
 * Writes a folder atomically: everything goes to a temporary sibling first, each file and the
 * folder synced to disk, which is renamed into place only when complete. On any failure or
 * cancellation the temporary folder is removed, so nothing half-written is left behind. An
 * existing folder is replaced only when `overwrite` is set, and never when it holds (through any
 * symlink) one of the `protect`ed files: the original model's.
 */
export async function writeFolder(
  outDir: string,
  files: OutputFile[],
  options: { overwrite?: boolean; protect: string[]; cancel?: CancelToken },
): Promise<string> {
  const target = path.resolve(outDir);
  await refuseHoldingOriginal(outDir, target, options.protect);
  const exists = await fs.lstat(target).then(() => true, () => false);
  if (exists && !options.overwrite) {
    throw new InputError(outDir, 'the output folder already exists (choose another or allow replacing it)');
  }
  const parent = path.dirname(target);
  const temp = path.join(parent, `.${path.basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    await fs.mkdir(parent, { recursive: true });
    await fs.mkdir(temp);
    for (const file of files) {
      throwIfCancelled(options.cancel);
      await writeSynced(path.join(temp, file.name), file.data);
    }
    await syncFolder(temp);
    throwIfCancelled(options.cancel);
    if (exists) {
      const old = `${temp}.old`;
      await fs.rename(target, old);
      try {
        await fs.rename(temp, target);
      } catch (e) {
        await fs.rename(old, target).catch(() => undefined);
        throw e;
      }
      await fs.rm(old, { recursive: true, force: true });
    } else {
      await fs.rename(temp, target);
    }
    await syncFolder(parent);
  } catch (e) {
    await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof InputError || e instanceof CancelledError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'the location is not writable' : (e as Error).message;
    throw new InputError(outDir, `cannot write the output folder: ${why}${code ? ` (${code})` : ''}`);
  }
  return target;
}

/**
 * Writing into, or replacing, a folder that holds the original model could destroy it. Compared by
 * path as given and by real path (through symlinks, of the model and of the output folder), so that
 * `alias/model.pt` with `--out real` is caught when alias links to real.
 */
async function refuseHoldingOriginal(outDir: string, target: string, protect: string[]): Promise<void> {
  const targets = [target, await realPathOfFuture(target)];
  for (const file of protect) {
    const absolute = path.resolve(file);
    const real = await fs.realpath(absolute).catch(() => absolute);
    const folders = [path.dirname(absolute), path.dirname(real), await fs.realpath(path.dirname(absolute)).catch(() => path.dirname(absolute))];
    if (targets.some((t) => folders.some((folder) => isInside(t, folder)))) {
      throw new InputError(outDir, 'the output folder would hold or replace the original model; refusing');
    }
  }
}

/** The real path `target` has or would have: its nearest existing ancestor resolved through symlinks, the rest appended. */
async function realPathOfFuture(target: string): Promise<string> {
  const rest: string[] = [];
  for (let at = target; ; at = path.dirname(at)) {
    try {
      return path.join(await fs.realpath(at), ...rest);
    } catch {
      if (path.dirname(at) === at) return target;
      rest.unshift(path.basename(at));
    }
  }
}

async function writeSynced(file: string, data: Uint8Array | string): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a folder's entries durable; where folders cannot be opened for syncing (Windows), the rename's own guarantees must do. */
async function syncFolder(folder: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(folder, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR') throw e;
  } finally {
    await handle.close();
  }
}
