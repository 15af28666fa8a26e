/**
 * Where a reduced model goes: the setting condense.outputFolder names a folder next to the model,
 * and it must stay inside the workspace folder that holds the model (or, for a model from outside
 * the workspace, inside the model's own folder), by real path, so a workspace's settings cannot
 * send writes elsewhere through `..`, an absolute path or a symbolic link. It must not be the
 * model's own folder or one above it either: replacing it would delete the original. Free of
 * `vscode` so it is unit-tested directly.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { defaultOutputDir } from '../core/reduce';

export type OutputFolder = { outDir: string; problem?: undefined } | { outDir?: undefined; problem: string };

/** The output folder for `model` under `pattern`, or why the pattern is refused; `roots` are the workspace folders. */
export async function resolveOutputFolder(model: string, pattern: string, roots: readonly string[]): Promise<OutputFolder> {
  const setting = `the setting condense.outputFolder (${JSON.stringify(pattern)})`;
  if (pattern.trim() === '') return { problem: `${setting} is empty: name a folder next to the model, e.g. \${name}.condensed` };
  if (path.isAbsolute(pattern) || path.win32.isAbsolute(pattern)) {
    return { problem: `${setting} is an absolute path: name a folder relative to the model's folder, e.g. \${name}.condensed` };
  }
  const outDir = defaultOutputDir(model, pattern);
  const modelDir = await realPath(path.dirname(path.resolve(model)));
  const realRoots = await Promise.all(roots.map(realPath));
  const root = realRoots.find((r) => isInside(modelDir, r) || modelDir === r) ?? modelDir;
  const realOut = await realPath(outDir);
  if (!isInside(realOut, root)) {
    return { problem: `${setting} leads to ${realOut}, outside ${root}: the reduced model must be written inside the workspace, next to the model` };
  }
  if (realOut === modelDir || isInside(modelDir, realOut)) {
    return { problem: `${setting} leads to the model's own folder or one above it, which replacing would delete: name a new folder, e.g. \${name}.condensed` };
  }
  return { outDir };
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The real path of `file`, also when it does not exist yet: its deepest existing ancestor's real path plus the rest. */
async function realPath(file: string): Promise<string> {
  const absolute = path.resolve(file);
  const missing: string[] = [];
  for (let at = absolute; ; at = path.dirname(at)) {
    try {
      return path.join(await fs.realpath(at), ...missing.reverse());
    } catch {
      if (path.dirname(at) === at) return absolute;
      missing.push(path.basename(at));
    }
  }
}
