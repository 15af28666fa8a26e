/**
 * Fuzzes the CLI with mutated copies of the committed models of every format (see scripts/fuzz/):
 * each case is written to a scratch folder and run through `node bin/condense.js analyze` and, when
 * that succeeds, `reduce --out … --force`, each in a child process under a time limit and a memory
 * budget. A case fails on an exit code other than 0/1/2, a stack trace or "internal error", a hang,
 * peak RSS over the budget, a half-written or missing output, or a changed input byte.
 *
 *   npm run fuzz -- [--cases N] [--seed S] [--keep DIR] [--only I,J…] [--format F,…] [--workers W]
 *                   [--timeout SECONDS] [--rss-mb MB] [--backend B]
 *
 * Cases are numbered from 0; case I of seed S is the same on every run (`--only I` reruns it).
 * Needs the built CLI (`npm run build`). Exit 1 when any case fails.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FORMATS, Format, FuzzCase, loadFixtures, makeCase } from './fuzz/cases';
import { SENTINEL, fingerprint, materialize, outputSymptoms, runSymptoms } from './fuzz/check';
import { RunLimits, RunResult, runCli } from './fuzz/run';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'condense.js');

interface Options {
  cases: number;
  seed: number;
  keep: string | null;
  only: number[] | null;
  formats: Format[];
  workers: number;
  limits: RunLimits;
  backend: string | null;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    cases: 200, seed: 1, keep: null, only: null, formats: [...FORMATS], workers: 2,
    limits: { timeoutMs: 60_000, rssBudget: 1536 * 2 ** 20 }, backend: null,
  };
  const integer = (flag: string, raw: string | undefined, min: number): number => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new Error(`${flag} needs an integer ≥ ${min}, got ${raw}`);
    return value;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    i++;
    switch (flag) {
      case '--cases': options.cases = integer(flag, value, 1); break;
      case '--seed': options.seed = integer(flag, value, 0); break;
      case '--keep': options.keep = path.resolve(value ?? ''); break;
      case '--only': options.only = (value ?? '').split(',').map((v) => integer(flag, v, 0)); break;
      case '--workers': options.workers = integer(flag, value, 1); break;
      case '--timeout': options.limits.timeoutMs = integer(flag, value, 1) * 1000; break;
      case '--rss-mb': options.limits.rssBudget = integer(flag, value, 64) * 2 ** 20; break;
      case '--backend': options.backend = value ?? ''; break;
      case '--format': {
        const names = (value ?? '').split(',');
        const unknown = names.find((n) => !(FORMATS as readonly string[]).includes(n));
        if (unknown !== undefined) throw new Error(`--format takes ${FORMATS.join(', ')}, got ${unknown}`);
        options.formats = names as Format[];
        break;
      }
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  return options;
}

interface Outcome {
  c: FuzzCase;
  symptoms: string[];
  runs: RunResult[];
}

/** Runs one case in `scratch`: analyze, then reduce when analyze succeeded; checks the inputs are untouched. */
async function runCase(c: FuzzCase, scratch: string, options: Options): Promise<Outcome> {
  const caseDir = path.join(scratch, c.id);
  const input = path.join(caseDir, 'input');
  const outParent = path.join(caseDir, 'out');
  const outName = 'reduced';
  await materialize(c, input);
  await fs.mkdir(outParent);
  if (c.replaceOutput) {
    await fs.mkdir(path.join(outParent, outName));
    await fs.writeFile(path.join(outParent, outName, SENTINEL), 'an earlier output, to be replaced only by a complete one\n');
  }
  const before = await fingerprint(input);
  const model = path.join(input, c.model);
  const backend = options.backend ? ['--backend', options.backend] : [];
  const runs: RunResult[] = [];
  const symptoms: string[] = [];
  try {
    const analyze = await runCli(CLI, ['analyze', model, ...backend], options.limits, caseDir);
    runs.push(analyze);
    symptoms.push(...runSymptoms(analyze, options.limits));
    // reduce opens and analyses the model exactly as analyze does before it writes anything, so a
    // model analyze rejects would only be rejected again.
    if (analyze.code === 0) {
      const reduce = await runCli(CLI, ['reduce', model, '--out', path.join(outParent, outName), '--force', ...backend], options.limits, caseDir);
      runs.push(reduce);
      symptoms.push(...runSymptoms(reduce, options.limits));
      if (!reduce.timedOut && !reduce.overBudget) symptoms.push(...(await outputSymptoms(outParent, outName, reduce.code, c.replaceOutput)));
    }
    if ((await fingerprint(input)) !== before) symptoms.push('an input file changed');
  } finally {
    await fs.rm(caseDir, { recursive: true, force: true });
  }
  return { c, symptoms, runs };
}

/** Writes a failing case where it can be rerun: its input folder and what happened. */
async function keepCase(outcome: Outcome, options: Options): Promise<void> {
  const dir = path.join(options.keep!, outcome.c.id);
  await fs.rm(dir, { recursive: true, force: true });
  await materialize(outcome.c, path.join(dir, 'input'));
  const rerun = `npm run fuzz -- --seed ${options.seed} --only ${outcome.c.index}${options.backend ? ` --backend ${options.backend}` : ''}`;
  const record = {
    id: outcome.c.id,
    seed: options.seed,
    index: outcome.c.index,
    format: outcome.c.format,
    fixture: outcome.c.fixture,
    mutation: outcome.c.mutation,
    model: path.join('input', outcome.c.model),
    symptoms: outcome.symptoms,
    rerun,
    runs: outcome.runs.map((r) => ({ args: r.args.map((a) => a.replace(/^.*\/input\//, 'input/')), code: r.code, signal: r.signal, ms: r.ms, peakRssMb: Math.round(r.peakRss / 2 ** 20), stdout: r.stdout, stderr: r.stderr })),
  };
  await fs.writeFile(path.join(dir, 'case.json'), JSON.stringify(record, null, 1));
}

/**
 * What a failure is, for the totals: its most telling symptom with the case's numbers as #, e.g.
 * "analyze: internal error: TypeError: Cannot read properties of undefined (reading 'data')".
 */
function failureClass(symptoms: string[]): string {
  const crash = symptoms.find((s) => /internal error|stack trace/.test(s));
  const main = crash ?? symptoms.find((s) => !/: exit \d+$/.test(s)) ?? symptoms[0];
  return main
    .replace(/^(\w+): (internal error|stack trace): (?:condense: internal error: )?/, '$1: $2: ')
    .replace(/\d+(\.\d+)?(e[+-]?\d+)?/g, '#')
    .slice(0, 110)
    .trim();
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  await fs.access(path.join(ROOT, 'dist', 'cli.js')).catch(() => {
    throw new Error('dist/cli.js is missing: run npm run build first');
  });
  const fixtures = loadFixtures(ROOT);
  const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => i);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-fuzz-'));
  const failures: Outcome[] = [];
  const started = Date.now();
  let next = 0;
  let done = 0;
  // How many mutated models analyze still accepted: a measure of how deep the mutations reach.
  const accepted = new Map<Format, { accepted: number; all: number }>();
  const worker = async () => {
    while (next < indices.length) {
      const c = makeCase(fixtures, options.seed, indices[next++], options.formats);
      const outcome = await runCase(c, scratch, options);
      done++;
      const counts = accepted.get(c.format) ?? { accepted: 0, all: 0 };
      accepted.set(c.format, { accepted: counts.accepted + (outcome.runs[0]?.code === 0 ? 1 : 0), all: counts.all + 1 });
      if (outcome.symptoms.length > 0) {
        failures.push(outcome);
        console.log(`FAIL ${c.id} ${c.format} ${path.basename(c.fixture)} | ${c.mutation.slice(0, 200)} | ${outcome.symptoms.join('; ')}`);
        if (options.keep) await keepCase(outcome, options);
      }
      if (done % 50 === 0) console.error(`… ${done}/${indices.length} cases, ${failures.length} failing, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.workers }, worker));
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const byClass = new Map<string, number>();
  for (const f of failures) {
    const key = `${f.c.format} ${failureClass(f.symptoms)}`;
    byClass.set(key, (byClass.get(key) ?? 0) + 1);
  }
  for (const [cls, count] of [...byClass].sort((a, b) => b[1] - a[1])) console.log(`  ${count}× ${cls}`);
  console.log(`Accepted by analyze (then reduced): ${[...accepted].map(([format, n]) => `${format} ${n.accepted}/${n.all}`).join(', ')}`);
  console.log(`${indices.length} cases (seed ${options.seed}), ${failures.length} failing, ${((Date.now() - started) / 1000).toFixed(0)} s${failures.length && options.keep ? `; kept in ${options.keep}` : ''}`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => {
    console.error(`fuzz: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 2;
  },
);
