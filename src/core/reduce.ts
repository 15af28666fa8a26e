import { promises as fs } from 'fs';
import * as path from 'path';
import { Analysis } from './analyze';
import type { CancelToken } from './model/errors';
import { Calibration } from './data/calibration';
import { applyPlan, MergePlan, planMerge } from './reduction/merge';
import { writeFolder } from './reduction/output';
import { refitPlan } from './reduction/refit';
import { estimate, Estimate, ModelSummary, Thresholds } from './estimate';
import { type AutoResult, type CondenseReport, type OutputCheck, REPORT_FILE } from './reduction/report';

export interface ReduceResult {
  outDir: string;
  /** The reduced model file inside outDir (model.json, model.onnx, …). */
  mainFile: string;
  plan: MergePlan;
  estimate: Estimate;
  report: CondenseReport;
}

/** The default output folder next to the model: `${name}` is the model file's name without extension. */
export function defaultOutputDir(modelPath: string, pattern = '${name}.condensed'): string {
  const file = path.resolve(modelPath);
  const name = path.basename(file, path.extname(file));
  return path.join(path.dirname(file), pattern.split('${name}').join(name));
}

export async function reduceModel(
  analysis: Analysis,
  threshold: number,
  outDir: string,
  options: {
    overrides?: Record<string, number>;
    overwrite?: boolean;
    calibration?: Calibration;
    auto?: AutoResult;
    /** A plan made elsewhere (e.g. planL1), written instead of the clustering at the thresholds. */
    plan?: MergePlan;
    /** Stops before the output folder is renamed into place (the temporary folder is removed). */
    cancel?: CancelToken;
    /** Rounds each reduced width up to a multiple of this (planMerge). */
    roundTo?: number;
    /** Weights-only formats: the activation the graph was built with, recorded in the report. */
    activation?: { name: string; assumed: boolean };
  } = {},
): Promise<ReduceResult> {
  // Layer names come from the model file: a Map, so that a layer named "constructor" has no override.
  const overrides = new Map(Object.entries(options.overrides ?? {}));
  const thresholds: Thresholds = (layer) => overrides.get(layer) ?? threshold;
  const plan = options.plan ?? planMerge(analysis, thresholds, options.roundTo);
  const refit = options.calibration ? await refitPlan(analysis, plan, options.calibration) : null;
  const changed = refit ? refit.changed : applyPlan(analysis, plan);
  const source = analysis.model.source;
  const files = source.encode(changed, new Map(plan.layers.map((l) => [l.name, l.kept.length])));
  const sizes = estimate(options.plan ? sizedByPlan(analysis.summary, options.plan) : analysis.summary, thresholds, options.plan ? undefined : options.roundTo);
  const report: CondenseReport = {
    tool: 'condense',
    model: source.path,
    reducedFile: source.mainFile,
    threshold,
    ...(options.roundTo && options.roundTo > 1 ? { roundTo: options.roundTo } : {}),
    backend: analysis.summary.backend,
    merge: refit?.taken ? 'refit' : 'plain',
    ...(refit ? { calibration: options.calibration!.description, refits: refit.layers, refitOutputError: refit.outputError } : {}),
    layers: plan.layers.map((l) => ({
      name: l.name,
      threshold: l.threshold,
      unitsBefore: l.unitsBefore,
      unitsAfter: l.kept.length,
      dead: l.dead,
      clusters: l.groups,
    })),
    totals: sizes.totals,
    ...(options.auto ? { auto: options.auto } : {}),
    ...(options.activation ? { activation: options.activation } : {}),
  };
  // The output is made from the model as it was read: if it changed since, the analysis is stale.
  await source.checkUnchanged();
  const target = await writeFolder(
    outDir,
    [...files, { name: REPORT_FILE, data: JSON.stringify(report, null, 1) }],
    { overwrite: options.overwrite, protect: [...new Set([...source.files, ...source.fingerprint.map((f) => f.path)])], cancel: options.cancel },
  );
  return { outDir: target, mainFile: path.join(target, source.mainFile), plan, estimate: sizes, report };
}

/** Adds the check of the written model to its condense-report.json. */
export async function recordCheck(outDir: string, check: OutputCheck): Promise<void> {
  await updateReport(outDir, { check });
}

/** Sets fields of a folder's condense-report.json (written to a temporary name, synced, renamed). */
export async function updateReport(outDir: string, fields: Partial<CondenseReport>): Promise<void> {
  const file = path.join(outDir, REPORT_FILE);
  const report = JSON.parse(await fs.readFile(file, 'utf8')) as CondenseReport;
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(temporary, 'wx');
  try {
    await handle.writeFile(JSON.stringify({ ...report, ...fields }, null, 1));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temporary, file);
}

/**
 * The summary with each planned layer's tree replaced by its kept units as unmerged leaves, so that
 * the estimate counts exactly the units the plan keeps at any threshold.
 */
function sizedByPlan(summary: ModelSummary, plan: MergePlan): ModelSummary {
  const kept = new Map(plan.layers.map((l) => [l.name, l.kept.length]));
  for (const name of kept.keys()) {
    if (!summary.layers.some((l) => l.name === name && l.reducible)) throw new Error(`reduceModel: the plan names "${name}", which is not a reducible layer of the model`);
  }
  const leaves = (n: number) => ({ n, a: new Int32Array(0), b: new Int32Array(0), sim: new Float64Array(0) });
  return { ...summary, layers: summary.layers.map((l) => (kept.has(l.name) ? { ...l, dendrogram: leaves(kept.get(l.name)!) } : l)) };
}
