import { analyzeModel, loadModel } from '../core/analysis';
import { BackendPreference, BACKENDS, loadBackend } from '../core/backend';
import { InputError } from '../core/errors';
import type { OpenOptions } from '../core/formats';
import { reduceModel } from '../core/reduce';
import { DEFAULT_SAMPLES, DEFAULT_THRESHOLD, estimate } from '../core/summary';
import { analysisJson, formatTable } from './format';
import { verifyModels } from '../core/verify';

const USAGE = `condense — shrink trained neural networks by condensation

Usage:
  condense analyze MODEL [--threshold T] [--json] [--backend B]
  condense reduce MODEL --out DIR [--threshold T] [--force] [--backend B]
  condense verify ORIGINAL REDUCED [--data FILE] [--samples N] [--range LOW,HIGH] [--tolerance X] [--backend B]

MODEL is a TF.js Layers model.json, an .onnx file, a PyTorch state dict (.pt, .pth) or a .safetensors file.
B is one of ${BACKENDS.join(', ')} (default auto).
--activation NAME: the activation between layers of a weights-only file (default relu).
Exit codes: 0 success, 1 a failed check (verify over tolerance), 2 bad input.`;

/** A usage mistake: reported like bad input (exit 2), naming the argument. */
class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

const VALUE_FLAGS = new Set(['threshold', 'out', 'backend', 'data', 'samples', 'tolerance', 'range', 'seed', 'activation']);
const BOOLEAN_FLAGS = new Set(['json', 'force', 'help']);

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

function thresholdFlag(p: Parsed): number {
  return numberFlag(p, 'threshold', DEFAULT_THRESHOLD, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
}

export async function main(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  try {
    const [command, ...rest] = argv;
    const p = parseArgs(rest);
    if (!command || command === '--help' || command === 'help' || p.flags.has('help')) {
      out(USAGE);
      return command ? 0 : 2;
    }
    switch (command) {
      case 'analyze': {
        const [model] = expect(p, 1, 'condense analyze MODEL');
        const threshold = thresholdFlag(p);
        const backend = await loadBackend(backendFlag(p));
        const analysis = await analyzeModel(await loadModel(model, openOptions(p)), { gram: backend.gram, backend: backend.label });
        const sizes = estimate(analysis.summary, threshold);
        out(p.flags.has('json') ? JSON.stringify(analysisJson(analysis.summary, sizes, threshold), null, 2) : formatTable(analysis.summary, sizes, threshold));
        return 0;
      }
      case 'reduce': {
        const [model] = expect(p, 1, 'condense reduce MODEL --out DIR');
        const outDir = p.flags.get('out');
        if (typeof outDir !== 'string') throw new UsageError('condense reduce needs --out DIR');
        const threshold = thresholdFlag(p);
        const backend = await loadBackend(backendFlag(p));
        const analysis = await analyzeModel(await loadModel(model, openOptions(p)), { gram: backend.gram, backend: backend.label });
        const result = await reduceModel(analysis, threshold, outDir, { overwrite: p.flags.has('force') });
        const t = result.estimate.totals;
        out(formatTable(analysis.summary, result.estimate, threshold));
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

function openOptions(p: Parsed): OpenOptions {
  const activation = p.flags.get('activation');
  return typeof activation === 'string' ? { activation } : {};
}

function expect(p: Parsed, count: number, usage: string): string[] {
  if (p.positional.length !== count) throw new UsageError(`usage: ${usage}`);
  return p.positional;
}

function rangeFlag(p: Parsed): [number, number] | undefined {
  const raw = p.flags.get('range');
  if (raw === undefined) return undefined;
  const parts = String(raw).split(',').map(Number);
  if (parts.length !== 2 || !parts.every(Number.isFinite) || parts[0] >= parts[1]) {
    throw new UsageError(`--range must be LOW,HIGH with LOW < HIGH, got "${String(raw)}"`);
  }
  return [parts[0], parts[1]];
}
