import * as path from 'path';
import { Analysis } from './analysis';
import { applyPlan, MergePlan, planMerge } from './merge';
import { writeFolder } from './output';
import { estimate, Estimate, Thresholds } from './summary';
import { encodeTfjsModel, WEIGHTS_FILE } from './tfjs/write';

export const REPORT_FILE = 'condense-report.json';

/** What `condense-report.json` holds. */
export interface CondenseReport {
  tool: 'condense';
  model: string;
  threshold: number;
  backend: string;
  layers: {
    name: string;
    threshold: number;
    unitsBefore: number;
    unitsAfter: number;
    dead: number[];
    clusters: { representative: number; members: number[]; scales: number[] }[];
  }[];
  totals: Estimate['totals'];
}

export interface ReduceResult {
  outDir: string;
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
  options: { overrides?: Record<string, number>; overwrite?: boolean } = {},
): Promise<ReduceResult> {
  const overrides = options.overrides ?? {};
  const thresholds: Thresholds = (layer) => overrides[layer] ?? threshold;
  const plan = planMerge(analysis, thresholds);
  const changed = applyPlan(analysis, plan);
  const file = analysis.model.file;
  const { modelJson, weightData } = encodeTfjsModel(
    file.json,
    file.weights,
    changed,
    new Map(plan.layers.map((l) => [l.name, l.kept.length])),
  );
  const sizes = estimate(analysis.summary, thresholds);
  const report: CondenseReport = {
    tool: 'condense',
    model: file.path,
    threshold,
    backend: analysis.summary.backend,
    layers: plan.layers.map((l) => ({
      name: l.name,
      threshold: l.threshold,
      unitsBefore: l.unitsBefore,
      unitsAfter: l.kept.length,
      dead: l.dead,
      clusters: l.groups,
    })),
    totals: sizes.totals,
  };
  const target = await writeFolder(
    outDir,
    [
      { name: WEIGHTS_FILE, data: weightData },
      { name: 'model.json', data: JSON.stringify(modelJson) },
      { name: REPORT_FILE, data: JSON.stringify(report, null, 1) },
    ],
    { overwrite: options.overwrite, protect: [file.path, ...file.shardPaths] },
  );
  return { outDir: target, plan, estimate: sizes, report };
}
