/**
 * Export: dependency-free C or Fortran source computing a model made of Dense layers and
 * element-wise activations, for the simulation codes that call the network.
 */
import { openModel, OpenOptions } from '../formats/index';
import { OutputFile, writeFolder } from '../reduction/output';
import { cSource } from './c';
import { fortranSource } from './fortran';
import { exportPlan, ExportPlan } from './plan';
import { checkName, defaultName } from './text';

export type ExportLanguage = 'c' | 'fortran';
export const EXPORT_LANGUAGES: readonly ExportLanguage[] = ['c', 'fortran'];

export { defaultName } from './text';
export type { ExportPlan } from './plan';

/** The source files for `plan` in `language`; `model` (the model file's name) only goes into comments. */
export function exportSource(plan: ExportPlan, language: ExportLanguage, name: string, model: string): OutputFile[] {
  checkName(name);
  return language === 'c' ? cSource(plan, name, model) : fortranSource(plan, name, model);
}

export interface ExportOptions {
  language: ExportLanguage;
  outDir: string;
  /** Prefix of every generated name; default from the model file's name. */
  name?: string;
  overwrite?: boolean;
  open?: OpenOptions;
}

export interface ExportResult {
  outDir: string;
  name: string;
  files: string[];
  plan: ExportPlan;
}

/** Reads the model, refuses what export cannot compute, and writes the source folder atomically (never over the model's own folder). */
export async function exportModel(file: string, options: ExportOptions): Promise<ExportResult> {
  const name = checkName(options.name ?? defaultName(file));
  const source = await openModel(file, options.open);
  const plan = exportPlan(source.path, source.graph);
  const files = exportSource(plan, options.language, name, source.path.split(/[\\/]/).pop()!);
  await source.checkUnchanged();
  const outDir = await writeFolder(options.outDir, files, { overwrite: options.overwrite, protect: source.files });
  return { outDir, name, files: files.map((f) => f.name), plan };
}
