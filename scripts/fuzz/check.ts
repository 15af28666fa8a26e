import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { promises as fs } from 'fs';
import * as path from 'path';
import type { FuzzCase } from './cases';
import type { RunResult, RunLimits } from './run';

/** What the check reads of the written report. */
interface WrittenReport {
  reducedFile?: unknown;
}

/** What the check reads of a written TF.js model.json. */
interface WrittenModelJson {
  weightsManifest?: { paths?: string[] }[];
}

/** The parsed file, or null when it is missing or not JSON. */
async function readJsonOrNull<T>(file: string): Promise<T | null> {
  return fs.readFile(file, 'utf8').then((text) => JSON.parse(text) as T, () => null);
}

/** Writes a case's files and special entries into `dir`. */
export async function materialize(c: FuzzCase, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const [name, data] of c.files) await fs.writeFile(path.join(dir, name), data);
  for (const s of c.specials) {
    const at = path.join(dir, s.path);
    await fs.rm(at, { force: true, recursive: true });
    if (s.kind === 'symlink') await fs.symlink(s.target, at);
    else if (s.kind === 'dir') await fs.mkdir(at);
    else execFileSync('mkfifo', [at]);
  }
}

/**
 * A fingerprint of everything under `dir`, without following links or opening special files
 * (reading /dev/zero or a FIFO would never end): names, kinds, link targets and file contents.
 */
export async function fingerprint(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const walk = async (at: string, rel: string): Promise<void> => {
    const entries = (await fs.readdir(at, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const full = path.join(at, e.name);
      const name = path.join(rel, e.name);
      if (e.isSymbolicLink()) hash.update(`link ${name} ${await fs.readlink(full)}\n`);
      else if (e.isDirectory()) {
        hash.update(`dir ${name}\n`);
        await walk(full, name);
      } else if (e.isFile()) hash.update(`file ${name}\n`).update(await fs.readFile(full));
      else hash.update(`special ${name}\n`);
    }
  };
  await walk(dir, '');
  return hash.digest('hex');
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m;

/** What went wrong in one run of the CLI, if anything: one short phrase per problem. */
export function runSymptoms(run: RunResult, limits: RunLimits): string[] {
  const symptoms: string[] = [];
  const command = run.args[0];
  if (run.timedOut) symptoms.push(`${command}: hang (killed after ${limits.timeoutMs / 1000} s)`);
  if (run.overBudget) symptoms.push(`${command}: peak RSS ${(run.peakRss / 2 ** 20).toFixed(0)} MB over the ${(limits.rssBudget / 2 ** 20).toFixed(0)} MB budget`);
  if (!run.timedOut && !run.overBudget && (run.code === null || ![0, 1, 2].includes(run.code))) {
    symptoms.push(`${command}: exit ${run.code ?? run.signal}`);
  }
  const output = `${run.stdout}\n${run.stderr}`;
  if (/internal error/i.test(output)) symptoms.push(`${command}: internal error: ${firstProblemLine(run.stderr)}`);
  else if (STACK.test(output)) symptoms.push(`${command}: stack trace: ${firstProblemLine(run.stderr)}`);
  return symptoms;
}

/** The line of stderr that says what broke, shortened for a one-line summary. */
function firstProblemLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /error|Error|abort|FATAL/.test(l) && !/^at /.test(l)) ?? lines[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

export const SENTINEL = 'previous-output.txt';

/**
 * What is wrong with the output side after `reduce` exited with `code`: a temporary folder left
 * next to the output, an output written although reduce failed, an older output damaged although
 * reduce failed, or an output folder without the files its report lists.
 */
export async function outputSymptoms(parent: string, outName: string, code: number | null, replaced: boolean): Promise<string[]> {
  const symptoms: string[] = [];
  const left = (await fs.readdir(parent)).filter((n) => n !== outName);
  if (left.length > 0) symptoms.push(`reduce: left behind next to the output: ${left.join(', ').slice(0, 120)}`);
  const out = path.join(parent, outName);
  const present = await fs.readdir(out).catch(() => null);
  if (code !== 0) {
    if (replaced && !(present?.length === 1 && present[0] === SENTINEL)) symptoms.push(`reduce: exit ${code}, yet the older output folder changed (${present?.join(', ') ?? 'gone'})`);
    if (!replaced && present) symptoms.push(`reduce: exit ${code}, yet an output folder was written`);
    return symptoms;
  }
  if (!present) return [...symptoms, 'reduce: exit 0 without an output folder'];
  if (present.includes(SENTINEL)) symptoms.push('reduce: exit 0, yet the older output folder was not replaced');
  const report = await readJsonOrNull<WrittenReport>(path.join(out, 'condense-report.json'));
  if (!report) return [...symptoms, 'reduce: exit 0 without a readable condense-report.json'];
  const reducedFile = String(report.reducedFile);
  const listed: string[] = [reducedFile];
  if (reducedFile.endsWith('.json')) {
    const model = await readJsonOrNull<WrittenModelJson>(path.join(out, reducedFile));
    for (const group of model?.weightsManifest ?? []) listed.push(...(group.paths ?? []));
  }
  const missing = listed.filter((name) => !present.includes(name));
  if (missing.length > 0) symptoms.push(`reduce: output folder lacks ${missing.join(', ').slice(0, 120)}`);
  return symptoms;
}
