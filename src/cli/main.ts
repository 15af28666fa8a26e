import { AnalysedFile, Analysis, analyzeFile } from '../core/analyze';
import { Backend, BackendPreference, BACKENDS, loadBackend } from '../core/compute/backend';
import { autoReduce } from '../core/auto';
import { Calibration, CalibrationSpec, DEFAULT_CALIBRATION_SAMPLES } from '../core/data/calibration';
import { InputError } from '../core/model/errors';
import type { OpenOptions } from '../core/formats/index';
import { reduceModel } from '../core/reduce';
import { retrainModel } from '../core/retrain';
import { RETRAIN_SETTING_RULES } from '../shared/retrainSettings';
import { DEFAULT_SAMPLES, DEFAULT_THRESHOLD, estimate } from '../core/estimate';
import { analysisJson, formatAuto, formatMerge, formatTable } from './format';
import { verifyModels } from '../core/verify';
import { AutoResult } from '../core/reduction/report';
import { loadLabelledData } from '../core/data/validation';
import { exportCommand, EXPORT_USAGE } from './export';

const USAGE = `condense — shrink trained neural networks by condensation

Usage:
  condense analyze MODEL [--threshold T | AUTO] [--json] [--backend B] [CALIBRATION]
  condense reduce MODEL --out DIR [--threshold T | AUTO] [--force] [--backend B] [CALIBRATION]
  condense reduce MODEL --out DIR RETRAIN [--threshold T] [--calibration FILE] [--force] [--backend B]
  condense verify ORIGINAL REDUCED [--data FILE] [--samples N] [--range LOW,HIGH] [--tolerance X] [--backend B]
  ${EXPORT_USAGE}

MODEL is a TF.js Layers model.json, an .onnx file, a PyTorch state dict (.pt, .pth) or a .safetensors file.
B is one of ${BACKENDS.join(', ')} (default auto).
--activation NAME: the activation between layers of a weights-only file (default relu).
--max-model-mb N: refuse models whose files or tensors exceed N MiB (default 2048), checked before reading them.
CALIBRATION: --calibration FILE (unlabelled inputs: .npy, .json, .csv) or --calibration-range LOW,HIGH
  [--calibration-samples N] (generated, default ${DEFAULT_CALIBRATION_SAMPLES}). Similarity is then measured on the
  units' pre-activations over these inputs, and reduce refits each next layer by least squares on them.
--round-to N: round each reduced layer's width up to a multiple of N (capped at its width) by keeping more
  representatives (the loosest clusters split), never by merging more; for hardware that runs such widths faster.
--allow-bias-dominated: reduce layers whose bias dominates their weights even without calibration data.
AUTO: --auto --tolerance X --val-inputs FILE --val-targets FILE: per-layer thresholds for the smallest model whose
  validation error is within X — the relative MSE increase (0.1 = 10 % worse), or for targets that are class
  indices the accuracy drop (0.01 = one point). analyze prints the size–error curve; reduce writes the choice.
RETRAIN: --train-inputs FILE --train-targets FILE --val-inputs FILE --val-targets FILE --tolerance X [--epochs N (5)]
  [--rounds R (3)] [--target-ratio R] [--learning-rate X (0.001)] [--batch-size N (32)]: condense–retrain cycles
  (TF.js Layers models): each round condenses the current model, fine-tunes it on the training set (Adam) and keeps
  the smallest within the validation tolerance (as AUTO). Batches are shuffled from a fixed seed: runs repeat.
Exit codes: 0 success, 1 a failed check (verify over tolerance), 2 bad input.`;

/** A usage mistake: reported like bad input (exit 2), naming the argument. */
class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set([
  'threshold', 'out', 'backend', 'data', 'samples', 'tolerance', 'range', 'seed', 'activation', 'max-model-mb', 'calibration', 'calibration-range', 'calibration-samples',
  'round-to', 'val-inputs', 'val-targets', 'train-inputs', 'train-targets', 'epochs', 'rounds', 'target-ratio', 'learning-rate', 'batch-size',
]);
/** Flags that only mean something when retraining. */
const RETRAIN_FLAGS = ['epochs', 'rounds', 'target-ratio', 'learning-rate', 'batch-size'];
const BOOLEAN_FLAGS = new Set(['json', 'force', 'help', 'allow-bias-dominated', 'auto']);

function parseArgs(args: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (BOOLEAN_FLAGS.has(name)) flags.set(name, true);
    else if (VALUE_FLAGS.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    } else throw new UsageError(`unknown option --${name}`);
  }
  return { positional, flags };
}

function numberFlag(p: Parsed, name: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const raw = p.flags.get(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw === true || !Number.isFinite(value) || !check(value)) throw new UsageError(`--${name} must be ${what}, got "${String(raw)}"`);
  return value;
}

function backendFlag(p: Parsed): BackendPreference {
  const raw = p.flags.get('backend') ?? 'auto';
  if (!BACKENDS.includes(raw as BackendPreference)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}`);
  return raw as BackendPreference;
}

/** --round-to N: reduced widths rounded up to a multiple of N (undefined: not rounded). */
function roundToFlag(p: Parsed): number | undefined {
  return p.flags.has('round-to') ? numberFlag(p, 'round-to', 1, (v) => Number.isInteger(v) && v >= 1 && v <= 4096, 'an integer from 1 to 4096') : undefined;
}

function thresholdFlag(p: Parsed): number {
  return numberFlag(p, 'threshold', DEFAULT_THRESHOLD, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
}

export async function main(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === 'export') return await exportCommand(rest, out, err);
    const p = parseArgs(rest);
    if (!command || command === '--help' || command === 'help' || p.flags.has('help')) {
      out(USAGE);
      return command ? 0 : 2;
    }
    switch (command) {
      case 'analyze': {
        const [model] = expect(p, 1, 'condense analyze MODEL');
        const threshold = thresholdFlag(p);
        rejectRetrainFlags(p);
        const auto = autoFlags(p);
        const backend = await loadBackend(backendFlag(p));
        const { analysis, calibration } = await analyse(p, model, backend);
        if (auto) {
          const result = await search(p, auto, analysis, calibration, backend);
          out(p.flags.has('json') ? JSON.stringify(result, null, 2) : formatAuto(result));
          return 0;
        }
        const sizes = estimate(analysis.summary, threshold, roundToFlag(p));
        const description = calibration?.description ?? null;
        out(p.flags.has('json') ? JSON.stringify(analysisJson(analysis.summary, sizes, threshold, description), null, 2) : formatTable(analysis.summary, sizes, threshold, description));
        return 0;
      }
      case 'reduce': {
        const [model] = expect(p, 1, 'condense reduce MODEL --out DIR');
        const outDir = p.flags.get('out');
        if (typeof outDir !== 'string') throw new UsageError('condense reduce needs --out DIR');
        const threshold = thresholdFlag(p);
        if (p.flags.has('train-inputs') || p.flags.has('train-targets')) return await retrain(p, model, outDir, threshold, out, err);
        rejectRetrainFlags(p);
        const auto = autoFlags(p);
        const backend = await loadBackend(backendFlag(p));
        const { analysis, calibration } = await analyse(p, model, backend);
        const found = auto ? await search(p, auto, analysis, calibration, backend) : null;
        if (found && !found.chosen) {
          err(`condense: ${formatAuto(found)}\nNothing written.`);
          return 1;
        }
        // The automatic choice gives every reduced layer its own threshold, so the shared one is only a default.
        const result = found
          ? await reduceModel(analysis, 1, outDir, { overrides: found.chosen!.thresholds, overwrite: p.flags.has('force'), calibration, auto: found, roundTo: roundToFlag(p) })
          : await reduceModel(analysis, threshold, outDir, { overwrite: p.flags.has('force'), calibration, roundTo: roundToFlag(p) });
        const t = result.estimate.totals;
        out(found ? formatAuto(found) : formatTable(analysis.summary, result.estimate, threshold, calibration?.description ?? null));
        out('');
        out(formatMerge(result.report));
        out(`\nWrote ${result.outDir} (${result.report.reducedFile}, condense-report.json): ${t.paramsAfter} of ${t.paramsBefore} parameters (${(100 * t.ratio).toFixed(1)} %).`);
        return 0;
      }
      case 'verify': {
        const [original, reduced] = expect(p, 2, 'condense verify ORIGINAL REDUCED');
        const tolerance = numberFlag(p, 'tolerance', 1e-3, (v) => v >= 0, 'a non-negative number');
        const samples = numberFlag(p, 'samples', DEFAULT_SAMPLES, (v) => Number.isInteger(v) && v > 0 && v <= 1e6, 'a positive integer');
        const seed = numberFlag(p, 'seed', 1, Number.isInteger, 'an integer');
        const range = rangeFlag(p);
        const data = p.flags.get('data');
        const backend = await loadBackend(backendFlag(p));
        const f = await verifyModels(backend, original, reduced, {
          data: typeof data === 'string' ? data : undefined,
          samples,
          range,
          seed,
          ...openOptions(p),
        });
        const pass = f.maxRel <= tolerance;
        out(`Backend:             ${backend.label}`);
        out(`Inputs:              ${f.inputs}`);
        out(`Max abs deviation:   ${f.maxAbs.toExponential(3)}`);
        out(`Mean abs deviation:  ${f.meanAbs.toExponential(3)}`);
        out(`Max rel deviation:   ${f.maxRel.toExponential(3)}`);
        out(`Mean rel deviation:  ${f.meanRel.toExponential(3)}`);
        if (f.argmaxAgreement !== null) out(`Argmax agreement:    ${(100 * f.argmaxAgreement).toFixed(2)} %`);
        out(pass ? `OK: max relative deviation within ${tolerance}` : `FAILED: max relative deviation ${f.maxRel.toExponential(3)} exceeds ${tolerance}`);
        return pass ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown command "${command}" (expected analyze, reduce or verify)`);
    }
  } catch (e) {
    if (e instanceof InputError) {
      err(`condense: ${e.message}`);
      return 2;
    }
    if (e instanceof UsageError) {
      err(`condense: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    err(`condense: internal error: ${(e as Error).stack ?? String(e)}`);
    return 3;
  }
}

/** Opens and analyses the model, on calibration data when the flags give some. */
function analyse(p: Parsed, file: string, backend: Backend): Promise<AnalysedFile> {
  return analyzeFile(file, {
    open: openOptions(p),
    calibration: calibrationFlags(p),
    gram: backend.gram,
    backend: backend.label,
    allowBiasDominated: p.flags.has('allow-bias-dominated'),
  });
}

interface AutoSpec {
  tolerance: number;
  inputs: string;
  targets: string;
}

/** The --auto flags, checked before any analysis runs; null without --auto. */
function autoFlags(p: Parsed): AutoSpec | null {
  const inputs = p.flags.get('val-inputs');
  const targets = p.flags.get('val-targets');
  if (!p.flags.has('auto')) {
    if (inputs !== undefined || targets !== undefined) throw new UsageError('--val-inputs and --val-targets go with --auto');
    if (p.flags.has('tolerance')) throw new UsageError('--tolerance goes with --auto (or verify)');
    return null;
  }
  if (p.flags.has('threshold')) throw new UsageError('give either --threshold or --auto, not both');
  if (!p.flags.has('tolerance')) throw new UsageError('--auto needs --tolerance X');
  if (typeof inputs !== 'string' || typeof targets !== 'string') throw new UsageError('--auto needs --val-inputs FILE and --val-targets FILE');
  const tolerance = numberFlag(p, 'tolerance', 0, (v) => v >= 0, 'a non-negative number');
  return { tolerance, inputs, targets };
}

/** Reads the validation data and searches the thresholds. */
async function search(p: Parsed, spec: AutoSpec, analysis: Analysis, calibration: Calibration | undefined, backend: Backend): Promise<AutoResult> {
  const validation = await loadLabelledData(analysis.model.source.graph, spec.inputs, spec.targets);
  return autoReduce(analysis, { tolerance: spec.tolerance, validation, calibration, backend, openOptions: openOptions(p) });
}

/** Training settings given without retraining are a mistake, not something to ignore. */
function rejectRetrainFlags(p: Parsed): void {
  const given = RETRAIN_FLAGS.find((name) => p.flags.has(name));
  if (given) throw new UsageError(`--${given} goes with reduce --train-inputs (retraining)`);
}

/** reduce with --train-inputs: condense–retrain rounds (see src/core/retrain.ts). */
async function retrain(p: Parsed, model: string, outDir: string, threshold: number, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const files = ['train-inputs', 'train-targets', 'val-inputs', 'val-targets'].map((name) => {
    const value = p.flags.get(name);
    if (typeof value !== 'string') throw new UsageError(`retraining needs --${name} FILE`);
    return value;
  });
  if (p.flags.has('auto')) throw new UsageError('give either --auto or --train-inputs, not both');
  if (!p.flags.has('tolerance')) throw new UsageError('retraining needs --tolerance X');
  if (p.flags.has('calibration-range')) throw new UsageError('retraining takes --calibration FILE, not --calibration-range');
  // The same bounds as the extension's condense.retrain.* settings.
  const rule = (key: keyof typeof RETRAIN_SETTING_RULES, flag: string, fallback: number): number =>
    numberFlag(p, flag, fallback, RETRAIN_SETTING_RULES[key].valid, RETRAIN_SETTING_RULES[key].what);
  const tolerance = rule('tolerance', 'tolerance', 0);
  const epochs = rule('epochs', 'epochs', 5);
  const rounds = rule('rounds', 'rounds', 3);
  const targetRatio = p.flags.has('target-ratio') ? numberFlag(p, 'target-ratio', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]') : undefined;
  const learningRate = rule('learningRate', 'learning-rate', 1e-3);
  const batchSize = rule('batchSize', 'batch-size', 32);
  const backend = await loadBackend(backendFlag(p));
  const [trainInputs, trainTargets, valInputs, valTargets] = files;
  out(`Retraining on ${backend.label}: up to ${rounds} rounds of ${epochs} epochs, learning rate ${learningRate}, batch size ${batchSize}.`);
  const result = await retrainModel(model, outDir, {
    backend, threshold, tolerance, epochs, rounds, targetRatio, trainInputs, trainTargets, valInputs, valTargets, learningRate, batchSize,
    calibration: calibrationFlags(p),
    allowBiasDominated: p.flags.has('allow-bias-dominated'),
    openOptions: openOptions(p),
    overwrite: p.flags.has('force'),
    onRound: (r) => out(`Round ${r.round}: ${(100 * r.paramsRatio).toFixed(1)} % of the parameters, validation ${r.metric.toPrecision(4)} (change ${r.change.toPrecision(3)}) ${r.meets ? 'within' : 'outside'} the tolerance ${tolerance}`),
  });
  const s = result.summary;
  if (!result.outDir) {
    err(`condense: no retrained round met the tolerance ${tolerance} (original's validation ${s.metric}: ${s.baseline.toPrecision(4)}). Nothing written.`);
    return 1;
  }
  const chosen = s.rounds.find((r) => r.round === s.chosen)!;
  out(`\nWrote ${result.outDir} (model.json, condense-report.json): round ${chosen.round}, ${chosen.params} of ${s.paramsBefore} parameters (${(100 * chosen.paramsRatio).toFixed(1)} %).`);
  return 0;
}

function calibrationFlags(p: Parsed): CalibrationSpec | undefined {
  const file = p.flags.get('calibration');
  const range = rangeFlag(p, 'calibration-range');
  if (file !== undefined && range) throw new UsageError('give either --calibration FILE or --calibration-range LOW,HIGH, not both');
  if (p.flags.has('calibration-samples') && !range) throw new UsageError('--calibration-samples needs --calibration-range');
  const samples = numberFlag(p, 'calibration-samples', DEFAULT_CALIBRATION_SAMPLES, (v) => Number.isInteger(v) && v > 0 && v <= 1e6, 'a positive integer');
  if (typeof file === 'string') return { file };
  return range ? { range, samples } : undefined;
}

function openOptions(p: Parsed): OpenOptions {
  const activation = p.flags.get('activation');
  const maxMiB = numberFlag(p, 'max-model-mb', 0, (v) => v > 0, 'a positive number of MiB');
  return {
    ...(typeof activation === 'string' ? { activation } : {}),
    ...(maxMiB > 0 ? { maxModelBytes: Math.ceil(maxMiB * 1024 ** 2) } : {}),
  };
}

function expect(p: Parsed, count: number, usage: string): string[] {
  if (p.positional.length !== count) throw new UsageError(`usage: ${usage}`);
  return p.positional;
}

function rangeFlag(p: Parsed, name = 'range'): [number, number] | undefined {
  const raw = p.flags.get(name);
  if (raw === undefined) return undefined;
  const parts = String(raw).split(',').map(Number);
  if (parts.length !== 2 || !parts.every(Number.isFinite) || parts[0] >= parts[1]) {
    throw new UsageError(`--${name} must be LOW,HIGH with LOW < HIGH, got "${String(raw)}"`);
  }
  return [parts[0], parts[1]];
}
