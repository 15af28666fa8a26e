/** The CLI's main() run in this process, and the assertion that it refused a file as bad input. */
import * as assert from 'assert';
import { main } from '../../src/cli/main';

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

export async function runCli(...argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out, err };
}

export interface CliText {
  code: number;
  out: string;
  err: string;
}

/** runCli with the output and the messages each joined into one text, for matching and for assertion messages. */
export async function runCliText(...argv: string[]): Promise<CliText> {
  const { code, out, err } = await runCli(...argv);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Exit code 2 and exactly one one-line message, naming `file` and matching `problem`, with no crash. */
export function assertRefused(run: CliRun, file: string, problem: RegExp): void {
  assert.strictEqual(run.code, 2, `exit code ${run.code}: ${run.err.join('\n')}`);
  assert.strictEqual(run.err.length, 1, `expected one message, got ${JSON.stringify(run.err)}`);
  const message = run.err[0];
  assert.ok(!message.includes('\n'), `more than one line: ${message}`);
  assert.ok(!/internal error/.test(message), `crashed: ${message}`);
  assert.ok(message.includes(file), `the message does not name ${file}: ${message}`);
  assert.match(message, problem);
}
