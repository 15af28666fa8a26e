import { spawn } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';

export interface RunLimits {
  timeoutMs: number;
  /** peak resident set size allowed, in bytes */
  rssBudget: number;
}

export interface RunResult {
  args: string[];
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** peak resident set size in bytes, as /usr/bin/time or /proc polling saw it */
  peakRss: number;
  timedOut: boolean;
  overBudget: boolean;
  ms: number;
}

const GNU_TIME = '/usr/bin/time';
const OUTPUT_CAP = 64 * 1024;
const POLL_MS = 50;

async function procStatus(pid: number): Promise<Map<string, number>> {
  const fields = new Map<string, number>();
  const text = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  for (const m of text.matchAll(/^(VmRSS|VmHWM):\s+(\d+) kB$/gm)) fields.set(m[1], Number(m[2]) * 1024);
  return fields;
}

/** The node process: the child itself, or the child of /usr/bin/time. */
async function nodePid(pid: number, viaTime: boolean): Promise<number | null> {
  if (!viaTime) return pid;
  const children = await fs.readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const first = Number(children.trim().split(/\s+/)[0]);
  return Number.isInteger(first) && first > 0 ? first : null;
}

/**
 * Runs the built CLI in its own process group with `args`, under a time limit and a memory budget:
 * the peak RSS comes from /usr/bin/time when present (exact) and from polling VmHWM otherwise; a
 * process over the budget or the time limit is killed with its group. The JS heap is capped at the
 * budget too, so a runaway heap ends in V8's own out-of-memory abort rather than the machine's.
 */
export async function runCli(cli: string, args: string[], limits: RunLimits, scratch: string): Promise<RunResult> {
  const viaTime = existsSync(GNU_TIME);
  const peakFile = path.join(scratch, `peak-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  const node = [process.execPath, `--max-old-space-size=${Math.floor(limits.rssBudget / 2 ** 20)}`, cli, ...args];
  const command = viaTime ? [GNU_TIME, '-f', '%M', '-o', peakFile, ...node] : node;
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // the fuzzer's own loader (tsx) is not the CLI's
  const started = Date.now();
  const child = spawn(command[0], command.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { if (stdout.length < OUTPUT_CAP) stdout += chunk.toString('utf8'); });
  child.stderr.on('data', (chunk: Buffer) => { if (stderr.length < OUTPUT_CAP) stderr += chunk.toString('utf8'); });
  let peakRss = 0;
  let timedOut = false;
  let overBudget = false;
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, limits.timeoutMs);
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const pid = await nodePid(child.pid!, viaTime);
      if (pid !== null) {
        const status = await procStatus(pid);
        peakRss = Math.max(peakRss, status.get('VmHWM') ?? 0, status.get('VmRSS') ?? 0);
        if ((status.get('VmRSS') ?? 0) > limits.rssBudget) {
          overBudget = true;
          kill();
        }
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  polling = false;
  await poll;
  if (viaTime) {
    const text = await fs.readFile(peakFile, 'utf8').catch(() => '');
    const kb = Number(text.trim().split('\n').pop());
    if (Number.isFinite(kb)) peakRss = Math.max(peakRss, kb * 1024);
    await fs.rm(peakFile, { force: true });
  }
  if (peakRss > limits.rssBudget) overBudget = true;
  return { args, code, signal, stdout, stderr, peakRss, timedOut, overBudget, ms: Date.now() - started };
}
