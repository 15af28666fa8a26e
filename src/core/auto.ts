/**
 * Automatic thresholds: the per-layer thresholds that make the model smallest while its error on a
 * labelled validation set stays within a tolerance — the relative increase of the mean squared error
 * for regression, the drop in accuracy for classifiers (targets are then class indices).
 *
 * A candidate (a threshold per reduced layer) is planned, merged (refitted when calibration data is
 * given, exactly as `reduce` will) and run on the validation inputs by the engine's float64 evaluator,
 * without writing files; where that evaluator cannot run the graph, the candidate is encoded into a
 * temporary folder and run by the format's own runner. Each layer's candidate thresholds are the merge
 * similarities of its dendrogram (every distinct cut, thinned). The search is a lazy greedy: from γ = 1
 * everywhere, it repeatedly takes the step — one layer's threshold lowered — that saves the most
 * parameters per unit of error increase; a step measured before the last accepted one is measured
 * again before it is taken, a step that breaks the tolerance is halved, and a layer whose smallest step
 * breaks it stays where it is. Every candidate is a whole reduced model measured on the whole
 * validation set, so the chosen one — the smallest that meets the tolerance — is confirmed as it is.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Analysis } from './analyze';
import type { Backend } from './compute/backend';
import { productEngine } from './compute/engines';
import { runInFormat } from './compute/formatRuntime';
import { Calibration } from './data/calibration';
import { LabelledData, metricOf, relativeIncrease, score } from './data/validation';
import { InputError } from './model/errors';
import { openModel } from './formats/index';
import { GraphEvaluator, isUnsupported, originalWeights, replacedWeights, Value } from './compute/evaluator';
import { applyPlan, MergePlan, planMerge } from './reduction/merge';
import { writeFolder } from './reduction/output';
import { refitPlan } from './reduction/refit';
import type { OpenOptions } from './model/registry';
import { estimate, LayerSummary } from './estimate';
import type { AutoPoint, AutoResult } from './reduction/report';
import { Tensor } from './model/tensor';

/** Candidate thresholds per layer: enough to follow its size–error curve, few enough to search quickly. */
export const CUTS_PER_LAYER = 20;
/** Candidates the search evaluates at most (each is a merge, maybe a refit, and a forward pass). */
const MAX_EVALUATIONS = 60;

export interface AutoOptions {
  tolerance: number;
  validation: LabelledData;
  /** Refit every candidate on these inputs (as `reduce` does with them). */
  calibration?: Calibration;
  /** Runs candidates the engine's evaluator cannot (with the options the model was opened with). */
  backend?: Backend;
  openOptions?: OpenOptions;
  /** Every candidate's widths rounded up to a multiple of this, as `reduce --round-to` will write them. */
  roundTo?: number;
  maxEvaluations?: number;
  /** After every measured candidate: how many were measured, out of at most `budget`. */
  onCandidate?: (point: AutoPoint, measured: number, budget: number) => void;
  /** Aborting ends the search after the candidate being measured; the result holds what was measured. */
  signal?: AbortSignal;
}

/** Searches per-layer thresholds; see the file comment. */
export async function autoReduce(analysis: Analysis, options: AutoOptions): Promise<AutoResult> {
  const started = performance.now();
  const { summary } = analysis;
  const { validation, tolerance } = options;
  const run = await runnerFor(analysis, validation, options);
  const original = await run.original();
  const samples = validation.rows.picked.length;
  const width = original.length / samples;
  const metric = metricOf(validation, width);
  const baseline = score(metric, original, validation.targets, samples, width);
  const paramsBefore = estimate(summary, 1).totals.paramsBefore;

  interface Measured extends AutoPoint {
    /** What the greedy ranks steps by (smaller is better). */
    cost: number;
  }
  const curve: AutoPoint[] = [];
  // The search may come back to a candidate (a step halved back onto one that failed): measured once.
  const measured = new Map<string, Measured>();
  const measure = async (thresholds: Record<string, number>): Promise<Measured> => {
    const key = JSON.stringify(thresholds);
    const known = measured.get(key);
    if (known) return known;
    // Layer names come from the model file: own keys only (a layer may be named "constructor").
    const gamma = (layer: string): number => (Object.hasOwn(thresholds, layer) ? thresholds[layer] : 1);
    const plan = planMerge(analysis, gamma, options.roundTo);
    const changed = options.calibration ? (await refitPlan(analysis, plan, options.calibration)).changed : applyPlan(analysis, plan);
    const y = await run.reduced(changed, plan);
    const measuredMetric = score(metric, y, validation.targets, samples, width);
    const change = metric === 'mse' ? relativeIncrease(measuredMetric, baseline) : baseline - measuredMetric;
    const paramsAfter = estimate(summary, gamma, options.roundTo).totals.paramsAfter;
    const point: AutoPoint = { thresholds, paramsAfter, paramsRatio: paramsAfter / paramsBefore, metric: measuredMetric, change, meets: change <= tolerance + 1e-12 };
    curve.push(point);
    options.onCandidate?.(point, curve.length, budget);
    // Accuracy moves in steps of one sample: the outputs' deviation from the original's ranks the steps instead.
    const result = { ...point, cost: metric === 'mse' ? change : deviation(y, original) };
    measured.set(key, result);
    return result;
  };

  const lanes = summary.layers.filter(isLead).map((layer) => ({ layer: layer.name, cuts: cutPoints(layer), at: -1, stride: 1, step: null as Step | null }));
  interface Step {
    point: Measured;
    /** The accepted state it was measured from. */
    version: number;
  }
  const thresholdsAt = (moved?: { layer: string; at: number }): Record<string, number> =>
    Object.fromEntries(lanes.map((l) => [l.layer, l.cuts[moved?.layer === l.layer ? moved.at : l.at] ?? 1]));
  const budget = options.maxEvaluations ?? MAX_EVALUATIONS;
  let current = await measure(thresholdsAt());
  let version = 0;
  let active = lanes.filter((l) => l.cuts.length > 0);
  while (active.length && curve.length < budget && !options.signal?.aborted) {
    const unmeasured = active.find((l) => !l.step);
    if (unmeasured) {
      const point = await measure(thresholdsAt({ layer: unmeasured.layer, at: unmeasured.at + unmeasured.stride }));
      if (point.meets) unmeasured.step = { point, version };
      else if (unmeasured.stride > 1) unmeasured.stride = Math.max(1, Math.floor(unmeasured.stride / 2));
      else active = active.filter((l) => l !== unmeasured);
      continue;
    }
    const gain = (l: (typeof lanes)[number]): number =>
      (current.paramsAfter - l.step!.point.paramsAfter) / Math.max(l.step!.point.cost - current.cost, 1e-12);
    const best = active.reduce((a, b) => (gain(b) > gain(a) ? b : a));
    const step = best.step!;
    best.step = null;
    // Measured before another layer moved: measure it again from here before taking it.
    if (step.version !== version) continue;
    best.at += best.stride;
    current = step.point;
    version++;
    // Cheap steps grow, so the long flat start of a layer's curve takes few evaluations.
    best.stride = Math.min(best.stride * 2, best.cuts.length - 1 - best.at);
    if (best.stride === 0) active = active.filter((l) => l !== best);
  }
  const chosen = curve.filter((p) => p.meets).reduce<AutoPoint | null>((a, b) => (!a || b.paramsAfter < a.paramsAfter || (b.paramsAfter === a.paramsAfter && b.change < a.change) ? b : a), null);
  return {
    metric,
    tolerance,
    validation: validation.description,
    merge: options.calibration ? 'refit' : 'plain',
    runner: run.kind,
    ...(options.roundTo && options.roundTo > 1 ? { roundTo: options.roundTo } : {}),
    baseline,
    paramsBefore,
    chosen,
    curve,
    milliseconds: performance.now() - started,
  };
}

/** A layer with its own threshold: reducible, and not a member following its joint group's lead. */
const isLead = (layer: LayerSummary): boolean => layer.reducible && !!layer.dendrogram && (!layer.joint || layer.joint.lead === layer.name);

/**
 * A layer's candidate thresholds, descending: the distinct merge similarities in (0, 1) (γ = 1
 * already merges exact duplicates; a cut below 0 would merge units pointing apart), at most
 * CUTS_PER_LAYER of them spread evenly over the merges, the last merge always among them.
 */
export function cutPoints(layer: LayerSummary): number[] {
  const distinct = [...new Set(layer.dendrogram!.sim)].filter((s) => s > 0 && s < 1);
  if (distinct.length <= CUTS_PER_LAYER) return distinct;
  return Array.from({ length: CUTS_PER_LAYER }, (_, i) => distinct[Math.round(((i + 1) * distinct.length) / CUTS_PER_LAYER) - 1]);
}

/** ‖y − y₀‖² / ‖y₀‖²: how far the reduced outputs moved from the original's. */
function deviation(y: Float64Array, original: Float64Array): number {
  let diff = 0, norm = 0;
  original.forEach((v, i) => {
    diff += (y[i] - v) ** 2;
    norm += v * v;
  });
  return norm > 0 ? diff / norm : diff;
}

interface Runner {
  kind: 'engine' | 'format';
  /** The first output on the validation inputs, samples × outputs. */
  original(): Promise<Float64Array>;
  reduced(changed: Map<string, Tensor>, plan: MergePlan): Promise<Float64Array>;
}

async function runnerFor(analysis: Analysis, validation: LabelledData, { backend, openOptions }: AutoOptions): Promise<Runner> {
  const source = analysis.model.source;
  const { graph } = source;
  const input: Value = validation.rows.input;
  const products = await productEngine();
  const first = await new GraphEvaluator(graph, input, originalWeights, products).output(graph.outputs[0]);
  if (!isUnsupported(first)) {
    return {
      kind: 'engine',
      original: async () => first.data,
      reduced: async (changed) => {
        const y = await new GraphEvaluator(graph, input, replacedWeights(changed), products).output(graph.outputs[0]);
        if (isUnsupported(y)) throw new Error(`the reduced network cannot be evaluated: ${y.unsupported}`);
        return y.data;
      },
    };
  }
  if (!backend) throw new InputError(source.path, `condense's evaluator cannot run it (${first.unsupported}), and no runner was given`);
  return {
    kind: 'format',
    original: () => runInFormat(source, backend, validation),
    reduced: async (changed, plan) => {
      const files = source.encode(changed, new Map(plan.layers.map((l) => [l.name, l.kept.length])));
      const dir = await writeFolder(path.join(os.tmpdir(), `condense-auto-${process.pid}-${Date.now()}`), files, { protect: source.files });
      try {
        return await runInFormat(await openModel(path.join(dir, source.mainFile), openOptions), backend, validation);
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    },
  };
}
