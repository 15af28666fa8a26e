import { AnalysedFile, Analysis, analyzeFile } from '../core/analyze';
import { Backend, BackendPreference, BACKENDS, loadBackend } from '../core/compute/backend';
import { autoReduce } from '../core/auto';
import { Calibration, CalibrationSpec, DEFAULT_CALIBRATION_SAMPLES, DEFAULT_MEMORY_MIB, MemoryBudget } from '../core/data/calibration';
import { InputError } from '../core/model/errors';
import type { OpenOptions } from '../core/formats/index';
import { reduceModel } from '../core/reduce';
import { retrainModel } from '../core/retrain';
import { DEVICES, oneOf, RETRAIN_SETTING_RULES, retrainChoices, THRESHOLD_RULE, TRAINERS, WORKERS_RULE } from '../shared/retrainSettings';
import type { TrainerChoice } from '../core/train/choice';
import { DEFAULT_EPOCHS, DEFAULT_ROUNDS } from '../core/train/schedule';
import { DEFAULT_SAMPLES, DEFAULT_THRESHOLD, DEFAULT_TIMING_BATCHES, estimate, MAX_TIMING_BATCH } from '../core/estimate';
import { analysisJson, formatAuto, formatMerge, formatTable, formatTiming } from './format';
import { verifyModels } from '../core/verify';
import { measureTiming, recordTiming } from '../core/timing';
import { AutoResult, Timing } from '../core/reduction/report';
import { loadLabelledData } from '../core/data/validation';
import { commandHelp, USAGE, VERSION } from './help';
import { Progress, ProgressSink } from './progress';
import { CHECK_TOLERANCE, checkReduced, formatCheck, probesFor } from './check';
import { resolveModelPath } from './modelPath';
import { existsSync } from 'fs';
import { realpath } from 'fs/promises';
import * as path from 'path';
import { plural, printable } from './table';
import { exportCommand } from './export';

/** A usage mistake: reported like bad input (exit 2), naming the argument. */
class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set([
  'threshold', 'out', 'backend', 'data', 'samples', 'tolerance', 'range', 'seed', 'activation', 'max-model-mb', 'calibration', 'calibration-range', 'calibration-samples',
  'val-inputs', 'val-targets', 'train-inputs', 'train-targets', 'epochs', 'rounds', 'target-ratio', 'learning-rate', 'batch-size',
  'trainer', 'python', 'device', 'workers', 'nnodes', 'rdzv-endpoint',
  'memory-mb', 'labels', 'round-to', 'batch', 'threads',
]);
/** Flags of the PyTorch trainer. */
const PYTORCH_FLAGS = ['python', 'device', 'workers', 'nnodes', 'rdzv-endpoint'];
/** Flags that only mean something when retraining. */
const RETRAIN_FLAGS = ['epochs', 'rounds', 'target-ratio', 'learning-rate', 'batch-size', 'trainer', ...PYTORCH_FLAGS];
const BOOLEAN_FLAGS = new Set(['json', 'force', 'help', 'allow-bias-dominated', 'auto', 'quiet', 'version', 'classifier', 'timing']);

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
  return numberFlag(p, 'threshold', DEFAULT_THRESHOLD, THRESHOLD_RULE.valid, THRESHOLD_RULE.what);
}

/** Where the CLI writes: stdout (the result alone), stderr (errors, warnings), and progress on stderr. */
export interface Terminal {
  progress?: ProgressSink;
  /** stdout's width when it is a terminal: tables are fitted to it. */
  columns?: number;
}

export async function main(argv: string[], writeOut: (s: string) => void, writeErr: (s: string) => void, terminal: Terminal = {}): Promise<number> {
  // Names from model and data files reach these lines: nothing in them may act on the terminal.
  const out = (s: string): void => writeOut(printable(s));
  const err = (s: string): void => writeErr(printable(s));
  try {
    const [command, ...rest] = argv;
    if (command === 'export') return await exportCommand(rest, out, err);
    if (command === '--version' || command === 'version') {
      out(VERSION);
      return 0;
    }
    if (!command || command === '--help' || command === 'help' || command === '-h') {
      out(USAGE);
      return command ? 0 : 2;
    }
    const p = parseArgs(rest);
    if (p.flags.has('help')) {
      const page = commandHelp(command);
      if (!page) throw new UsageError(`unknown command "${command}" (expected analyze, reduce or verify)`);
      out(page);
      return 0;
    }
    if (p.flags.has('version')) {
      out(VERSION);
      return 0;
    }
    const progress = new Progress(p.flags.has('quiet') ? null : terminal.progress ?? null);
    const warn = (message: string): void => {
      progress.end();
      err(`condense: warning: ${message}`);
    };
    const timingFlag = ['timing', 'batch', 'threads'].find((name) => p.flags.has(name));
    if (timingFlag && command !== 'verify') throw new UsageError(`--${timingFlag} goes with verify (condense verify ORIGINAL REDUCED --timing)`);
    switch (command) {
      case 'analyze': {
        const [model] = expect(p, 1, 'condense analyze MODEL');
        const threshold = thresholdFlag(p);
        rejectRetrainFlags(p);
        const auto = autoFlags(p);
        const backend = await backendOf(p);
        const { analysis, calibration, header } = await analyse(p, await resolveModelPath(model), backend, progress, warn);
        if (auto) {
          const result = await search(p, auto, analysis, calibration, backend, progress);
          progress.end();
          out(p.flags.has('json') ? JSON.stringify(result, null, 2) : formatAuto(result));
          return 0;
        }
        const sizes = estimate(analysis.summary, threshold, roundToFlag(p));
        const description = calibration?.description ?? null;
        progress.end();
        out(p.flags.has('json') ? JSON.stringify(analysisJson(analysis.summary, sizes, threshold, description), null, 2) : formatTable(analysis.summary, sizes, threshold, description, { columns: terminal.columns, header }));
        return 0;
      }
      case 'reduce': {
        const [given] = expect(p, 1, 'condense reduce MODEL --out DIR');
        const outDir = p.flags.get('out');
        if (typeof outDir !== 'string') throw new UsageError('condense reduce needs --out DIR');
        const threshold = thresholdFlag(p);
        // Refused before any work: the core would only find out when writing, after the analysis.
        if (!p.flags.has('force') && existsSync(outDir) && !(await holdsModel(outDir, given))) throw new InputError(outDir, 'the output folder already exists: choose another --out, or add --force to replace it');
        const model = await resolveModelPath(given);
        if (p.flags.has('train-inputs') || p.flags.has('train-targets')) return await retrain(p, model, outDir, p.flags.has('threshold') ? threshold : undefined, out, err, progress);
        rejectRetrainFlags(p);
        const auto = autoFlags(p, true);
        // Without --auto, --tolerance is the check's, as verify's: how far the outputs may move before reduce warns.
        const checkTolerance = auto ? CHECK_TOLERANCE : numberFlag(p, 'tolerance', CHECK_TOLERANCE, (v) => v >= 0, 'a non-negative number');
        const backend = await backendOf(p);
        const { analysis, calibration, header, activation } = await analyse(p, model, backend, progress, warn);
        const found = auto ? await search(p, auto, analysis, calibration, backend, progress) : null;
        if (found && !found.chosen) {
          progress.end();
          err(`condense: ${formatAuto(found)}\nNothing written.`);
          return 1;
        }
        if (found && found.chosen!.paramsAfter >= found.paramsBefore && !p.flags.has('force')) {
          progress.end();
          out(formatAuto(found));
          err(`condense: the choice keeps 100 % of the parameters: ${unreducedReason(found)}. Nothing written (--force writes the unreduced copy).`);
          return 1;
        }
        progress.begin('writing the reduced model');
        // The automatic choice gives every reduced layer its own threshold, so the shared one is only a default.
        const common = { overwrite: p.flags.has('force'), calibration, roundTo: roundToFlag(p), ...(activation ? { activation } : {}) };
        const result = found
          ? await reduceModel(analysis, 1, outDir, { ...common, overrides: found.chosen!.thresholds, auto: found })
          : await reduceModel(analysis, threshold, outDir, common);
        progress.begin('checking the reduced model against the original');
        const check = await checkReduced(backend, model, result, probesFor(auto ? auto.inputs : p.flags.get('calibration'), calibrationFlags(p), openOptions(p)), checkTolerance, warn);
        progress.end();
        const t = result.estimate.totals;
        out(found ? formatAuto(found) : formatTable(analysis.summary, result.estimate, threshold, calibration?.description ?? null, { columns: terminal.columns, header }));
        out('');
        out(formatMerge(result.report));
        out(`\nWrote ${result.outDir} (${result.report.reducedFile}, condense-report.json): ${t.paramsAfter} of ${t.paramsBefore} parameters (${(100 * t.ratio).toFixed(1)} %).`);
        if (check) out(formatCheck(check));
        return 0;
      }
      case 'verify': {
        const [original, reduced] = expect(p, 2, 'condense verify ORIGINAL REDUCED');
        const tolerance = numberFlag(p, 'tolerance', 1e-3, (v) => v >= 0, 'a non-negative number');
        const samples = numberFlag(p, 'samples', DEFAULT_SAMPLES, (v) => Number.isInteger(v) && v > 0 && v <= 1e6, 'a positive integer');
        const seed = numberFlag(p, 'seed', 1, Number.isInteger, 'an integer');
        const range = rangeFlag(p);
        const data = p.flags.get('data');
        const labels = p.flags.get('labels');
        if (labels !== undefined && typeof data !== 'string') throw new UsageError('--labels needs --data FILE (one class index per row of it)');
        const timing = timingFlags(p);
        const backend = await backendOf(p);
        const [originalPath, reducedPath] = [await resolveModelPath(original), await resolveModelPath(reduced)];
        progress.begin('running both models');
        const f = await verifyModels(backend, originalPath, reducedPath, {
          data: typeof data === 'string' ? data : undefined,
          labels: typeof labels === 'string' ? labels : undefined,
          classifier: p.flags.has('classifier'),
          samples,
          range,
          seed,
          ...openOptions(p),
        });
        progress.end();
        // With labels the question is the accuracy, as for --auto and retraining: a retrained model's scores move, its answers need not.
        const drop = f.accuracy ? f.accuracy.original - f.accuracy.reduced : null;
        const pass = drop !== null ? drop <= tolerance + 1e-12 : f.maxRel <= tolerance;
        out(`Backend:             ${f.runtime ?? backend.label}`);
        out(`Inputs:              ${f.inputs}`);
        out(`Max abs deviation:   ${f.maxAbs.toExponential(3)}`);
        out(`Mean abs deviation:  ${f.meanAbs.toExponential(3)}`);
        out(`Max rel deviation:   ${f.maxRel.toExponential(3)}`);
        out(`Mean rel deviation:  ${f.meanRel.toExponential(3)}`);
        if (f.argmaxAgreement !== null) out(`Argmax agreement:    ${(100 * f.argmaxAgreement).toFixed(2)} % (top-1${f.classifier === 'logits' ? ' of the class scores' : ''})`);
        if (f.accuracy) out(`Accuracy:            ${(100 * f.accuracy.original).toFixed(2)} % original, ${(100 * f.accuracy.reduced).toFixed(2)} % reduced (${f.accuracy.labels})`);
        if (drop !== null) {
          const points = (x: number): string => `${(100 * x).toFixed(2)} ${plural(Math.abs(100 * x), 'point')}`;
          const change = drop > 0 ? `drops ${points(drop)}` : drop < 0 ? `rises ${points(-drop)}` : 'is unchanged';
          out(pass ? `OK: accuracy ${change}, within ${tolerance} (${points(tolerance)})` : `FAILED: accuracy ${change}, more than ${tolerance} (${points(tolerance)})`);
        } else {
          out(pass ? `OK: max relative deviation within ${tolerance}` : `FAILED: max relative deviation ${f.maxRel.toExponential(3)} exceeds ${tolerance}`);
        }
        if (timing) {
          progress.begin('timing both models');
          const measured: Timing = await measureTiming(backend, originalPath, reducedPath, {
            ...timing, seed, data: typeof data === 'string' ? data : undefined, ...openOptions(p),
            onProgress: (done, total, what) => progress.step(done, total, what),
          });
          const kept = await recordTiming(reducedPath, measured);
          progress.end();
          out('');
          out(formatTiming(measured));
          out(kept ? `Kept in ${kept}.` : 'Not kept: no condense-report.json beside the reduced model names it.');
        }
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
    err(`condense: internal error (please report it): ${(e as Error).stack ?? String(e)}`);
    return 3;
  }
}

/** True when `folder` is (or holds) the model: the core refuses that with its own message, --force or not. */
async function holdsModel(folder: string, model: string): Promise<boolean> {
  const [dir, file] = await Promise.all([realpath(folder).catch(() => path.resolve(folder)), realpath(model).catch(() => path.resolve(model))]);
  return file === dir || file.startsWith(dir + path.sep);
}

/** The backend the flags ask for; one that cannot load is bad input (exit 2, one line), not an internal error. */
async function backendOf(p: Parsed): Promise<Backend> {
  const preference = backendFlag(p);
  try {
    return await loadBackend(preference);
  } catch (e) {
    throw new InputError(`--backend ${preference}`, `${(e as Error).message.split('\n')[0]}; try --backend auto`);
  }
}

/** Formats whose files hold weights only: the activation between layers comes from --activation. */
const WEIGHTS_ONLY_FORMATS = new Set(['pytorch', 'safetensors']);
const DEFAULT_TORCH_ACTIVATION = 'relu';

/** Opens and analyses the model, on calibration data when the flags give some. */
async function analyse(
  p: Parsed, file: string, backend: Backend, progress: Progress, warn: (message: string) => void,
): Promise<AnalysedFile & { header: string[]; activation?: { name: string; assumed: boolean } }> {
  progress.begin('analysing');
  const analysed = await analyzeFile(file, {
    open: openOptions(p),
    calibration: calibrationFlags(p),
    gram: backend.gram,
    backend: backend.label,
    allowBiasDominated: p.flags.has('allow-bias-dominated'),
    onProgress: (step) => progress.step(step.done, step.total, step.layer, false),
  });
  const format = analysed.analysis.model.source.format;
  const given = p.flags.get('activation');
  const weightsOnly = WEIGHTS_ONLY_FORMATS.has(format);
  if (!weightsOnly && typeof given === 'string') warn(`--activation is ignored: ${format} files store their own activations`);
  const activation = weightsOnly ? { name: typeof given === 'string' ? given : DEFAULT_TORCH_ACTIVATION, assumed: typeof given !== 'string' } : undefined;
  const header = activation
    ? [`Activation between layers: ${activation.name} (${activation.assumed ? 'assumed: the file holds weights only; --activation NAME sets it' : 'from --activation'})`]
    : [];
  return { ...analysed, header, activation };
}

/** Why an automatic choice kept every parameter. */
function unreducedReason(result: AutoResult): string {
  const smaller = result.curve.filter((point) => point.paramsAfter < result.paramsBefore);
  return smaller.length === 0
    ? 'no layer condenses at any threshold tried (no units point the same way)'
    : `none of the ${smaller.length} smaller ${plural(smaller.length, 'candidate')} met the tolerance ${result.tolerance}`;
}

interface AutoSpec {
  tolerance: number;
  inputs: string;
  targets: string;
}

/** The --auto flags, checked before any analysis runs; null without --auto. */
function autoFlags(p: Parsed, toleranceWithoutAuto = false): AutoSpec | null {
  const inputs = p.flags.get('val-inputs');
  const targets = p.flags.get('val-targets');
  if (!p.flags.has('auto')) {
    if (inputs !== undefined || targets !== undefined) throw new UsageError('--val-inputs and --val-targets go with --auto');
    if (p.flags.has('tolerance') && !toleranceWithoutAuto) throw new UsageError('--tolerance goes with --auto (or verify, or reduce)');
    return null;
  }
  if (p.flags.has('threshold')) throw new UsageError('give either --threshold or --auto, not both');
  if (!p.flags.has('tolerance')) throw new UsageError('--auto needs --tolerance X');
  if (typeof inputs !== 'string' || typeof targets !== 'string') throw new UsageError('--auto needs --val-inputs FILE and --val-targets FILE');
  const tolerance = numberFlag(p, 'tolerance', 0, (v) => v >= 0, 'a non-negative number');
  return { tolerance, inputs, targets };
}

/** Reads the validation data and searches the thresholds. */
async function search(p: Parsed, spec: AutoSpec, analysis: Analysis, calibration: Calibration | undefined, backend: Backend, progress: Progress): Promise<AutoResult> {
  progress.begin('reading the validation data');
  const validation = await loadLabelledData(analysis.model.source.graph, spec.inputs, spec.targets, true, memoryFlag(p));
  progress.begin('searching thresholds');
  return autoReduce(analysis, {
    tolerance: spec.tolerance, validation, calibration, backend, openOptions: openOptions(p), roundTo: roundToFlag(p),
    onCandidate: (point, measured, budget) => progress.step(measured, budget, `${(100 * point.paramsRatio).toFixed(1)} % of the parameters, ${point.meets ? 'within' : 'beyond'} the tolerance`),
  });
}

/** verify's --timing, --batch and --threads; null without --timing (the other two then are a mistake). */
function timingFlags(p: Parsed): { batches: number[]; threads?: number } | null {
  if (!p.flags.has('timing')) {
    const given = ['batch', 'threads'].find((name) => p.flags.has(name));
    if (given) throw new UsageError(`--${given} goes with --timing`);
    return null;
  }
  const raw = p.flags.get('batch');
  const batches = raw === undefined ? [...DEFAULT_TIMING_BATCHES] : String(raw).split(',').map((part) => (/^\s*\d+\s*$/.test(part) ? Number(part) : NaN));
  const what = `batch sizes from 1 to ${MAX_TIMING_BATCH}, separated by commas (e.g. 1,1024)`;
  if (batches.some((b) => !Number.isInteger(b) || b < 1 || b > MAX_TIMING_BATCH)) throw new UsageError(`--batch must be ${what}, got "${String(raw)}"`);
  if (new Set(batches).size !== batches.length) throw new UsageError(`--batch names a batch size twice: "${String(raw)}"`);
  const threads = p.flags.has('threads') ? numberFlag(p, 'threads', 1, (v) => Number.isInteger(v) && v >= 1 && v <= 1024, 'a whole number of threads from 1 to 1024') : undefined;
  return { batches, ...(threads ? { threads } : {}) };
}

/** Training settings given without retraining are a mistake, not something to ignore. */
function rejectRetrainFlags(p: Parsed): void {
  const given = RETRAIN_FLAGS.find((name) => p.flags.has(name));
  if (given) throw new UsageError(`--${given} goes with reduce --train-inputs (retraining)`);
}

/** reduce with --train-inputs: condense–retrain rounds (see src/core/retrain.ts). */
async function retrain(p: Parsed, model: string, outDir: string, threshold: number | undefined, out: (s: string) => void, err: (s: string) => void, progress: Progress): Promise<number> {
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
  const epochs = rule('epochs', 'epochs', DEFAULT_EPOCHS);
  const rounds = rule('rounds', 'rounds', DEFAULT_ROUNDS);
  const targetRatio = p.flags.has('target-ratio') ? numberFlag(p, 'target-ratio', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]') : undefined;
  const learningRate = p.flags.has('learning-rate') ? rule('learningRate', 'learning-rate', 0) : undefined;
  const batchSize = p.flags.has('batch-size') ? rule('batchSize', 'batch-size', 0) : undefined;
  const trainer = trainerFlags(p);
  const backend = await backendOf(p);
  const [trainInputs, trainTargets, valInputs, valTargets] = files;
  progress.begin('reading the model and the data');
  // A round's phase begins once, at its first epoch: its steps' elapsed time and ETA count from there.
  let roundShown = 0;
  const result = await retrainModel(model, outDir, {
    backend, threshold, tolerance, epochs, rounds, targetRatio, trainInputs, trainTargets, valInputs, valTargets, learningRate, batchSize, trainer,
    calibration: calibrationFlags(p),
    allowBiasDominated: p.flags.has('allow-bias-dominated'),
    openOptions: openOptions(p),
    overwrite: p.flags.has('force'),
    // The banner waits until the model and the data are accepted: a refusal comes first and alone.
    onStart: (run) => {
      progress.end();
      out(`Retraining (condensing on ${backend.label}, training with ${trainer.kind === 'pytorch' ? 'PyTorch' : 'embedded tfjs'}): up to ${rounds} ${plural(rounds, 'round')} of up to ${epochs} ${plural(epochs, 'epoch')}, learning rate ${learningRate ?? 'chosen by a range test'}, batch size ${run.summary.batchSize}.`);
    },
    onEpoch: (e) => {
      if (e.round !== roundShown) progress.begin(`round ${(roundShown = e.round)}`);
      progress.step(e.epoch, epochs, `epoch ${e.epoch}, loss ${e.loss.toPrecision(4)}`);
    },
    onRound: (r, s) => {
      progress.end();
      if (r.round === 1) out(`Trained by ${s.trainer}. ${retrainChoices(s).join('\n')}`);
      out(`Round ${r.round}: γ ${r.threshold?.toPrecision(4)}, ${(100 * r.paramsRatio).toFixed(1)} % of the parameters, validation ${r.metric.toPrecision(4)} (change ${r.change.toPrecision(3)}) ${r.meets ? 'within' : 'outside'} the tolerance ${tolerance}; best epoch ${r.bestEpoch} of ${r.epochsRun}`);
    },
  });
  progress.end();
  const s = result.summary;
  if (s.stopped) out(`Stopped: ${s.stopped}.`);
  if (!result.outDir) {
    err(`condense: no retrained round met the tolerance ${tolerance} (original's validation ${s.metric}: ${s.baseline.toPrecision(4)}). Nothing written.`);
    return 1;
  }
  const chosen = s.rounds.find((r) => r.round === s.chosen)!;
  out(`\nWrote ${result.outDir} (${result.report!.reducedFile}, condense-report.json): round ${chosen.round}, ${chosen.params} of ${s.paramsBefore} parameters (${(100 * chosen.paramsRatio).toFixed(1)} %).`);
  return 0;
}

/** --trainer and the PyTorch trainer's flags (those without --trainer pytorch are a mistake). */
function trainerFlags(p: Parsed): TrainerChoice {
  const raw = p.flags.get('trainer') ?? 'embedded';
  const kind = oneOf(TRAINERS, raw);
  if (!kind) throw new UsageError(`--trainer must be one of ${TRAINERS.join(', ')}, got "${String(raw)}"`);
  if (kind === 'embedded') {
    const given = PYTORCH_FLAGS.find((name) => p.flags.has(name));
    if (given) throw new UsageError(`--${given} goes with --trainer pytorch`);
    return { kind };
  }
  const device = oneOf(DEVICES, p.flags.get('device') ?? 'auto');
  if (!device) throw new UsageError(`--device must be one of ${DEVICES.join(', ')}, got "${String(p.flags.get('device'))}"`);
  const workers = numberFlag(p, 'workers', 1, WORKERS_RULE.valid, WORKERS_RULE.what);
  const nodes = numberFlag(p, 'nnodes', 1, WORKERS_RULE.valid, WORKERS_RULE.what);
  const rendezvous = p.flags.get('rdzv-endpoint');
  if (nodes > 1 && typeof rendezvous !== 'string') throw new UsageError('--nnodes above 1 needs --rdzv-endpoint HOST:PORT');
  if (rendezvous !== undefined && nodes === 1) throw new UsageError('--rdzv-endpoint goes with --nnodes N (N above 1)');
  const python = p.flags.get('python');
  return {
    kind, device, workers,
    ...(typeof python === 'string' ? { python } : {}),
    ...(nodes > 1 ? { nodes, rendezvous: String(rendezvous) } : {}),
  };
}

function calibrationFlags(p: Parsed): CalibrationSpec | undefined {
  const file = p.flags.get('calibration');
  const range = rangeFlag(p, 'calibration-range');
  if (file !== undefined && range) throw new UsageError('give either --calibration FILE or --calibration-range LOW,HIGH, not both');
  if (p.flags.has('calibration-samples') && !range) throw new UsageError('--calibration-samples needs --calibration-range');
  const samples = numberFlag(p, 'calibration-samples', DEFAULT_CALIBRATION_SAMPLES, (v) => Number.isInteger(v) && v > 0 && v <= 1e6, 'a positive integer');
  const memory = memoryFlag(p);
  if (typeof file === 'string') return { file, memory };
  return range ? { range, samples, memory } : undefined;
}

function memoryFlag(p: Parsed): MemoryBudget {
  const mib = numberFlag(p, 'memory-mb', DEFAULT_MEMORY_MIB, (v) => v > 0 && v <= 2 ** 20, 'a positive number of MiB');
  return { mib, setting: '--memory-mb N' };
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
