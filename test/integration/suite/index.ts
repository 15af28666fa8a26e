/**
 * The extensionTestsPath module: VS Code calls run() in the extension host once the window is up.
 * Runs the suite's test files with mocha and writes the counts for the runner.
 */
import { promises as fs } from 'fs';
import Mocha from 'mocha';
import * as path from 'path';
import { format } from 'util';
import * as vscode from 'vscode';
import type { CondenseApi } from '../../../src/extension/extension';
import { EXTENSION_ID } from './helpers';
import { LAUNCHER_ENV, ONLY_ENV, OUTPUT_ENV, OUTPUT_MARKER, SuiteResults, SUITE_ENV } from '../shared';

/**
 * Activation comes first: it checks that the extension activated before any command ran. The
 * packaged suite checks what a missing file in the VSIX would break: activation and Condense Model.
 */
const FILES = {
  development: ['activation.test.js', 'condense.test.js', 'hover.test.js', 'write.test.js', 'retrain.test.js', 'retrainFormats.test.js', 'malformed.test.js'],
  packaged: ['activation.test.js', 'condense.test.js'],
};

export async function run(): Promise<void> {
  const suite = process.env[SUITE_ENV] === 'packaged' ? 'packaged' : 'development';
  if (process.env[LAUNCHER_ENV]) {
    // The launcher prints only marked lines: the workbench's own log comes through the same channel.
    Mocha.reporters.Base.consoleLog = (...args: unknown[]) => console.log(OUTPUT_MARKER + format(...args));
  }
  // Generous timeouts: two cores shared with other work, and the first analysis starts a worker and a backend.
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 180_000, slow: 20_000 });
  // A subset (CONDENSE_TEST_ONLY) still starts with activation's test.
  const only = process.env[ONLY_ENV]?.split(',').map((name) => `${name.trim()}.test.js`);
  const files = only ? FILES[suite].filter((f) => f === FILES[suite][0] || only.includes(f)) : FILES[suite];
  for (const file of files) mocha.addFile(path.join(__dirname, file));
  await mocha.loadFilesAsync();
  const results = await new Promise<SuiteResults>((resolve) => {
    const runner = mocha.run(() => resolve({ passed: runner.stats!.passes, failed: runner.stats!.failures, pending: runner.stats!.pending }));
  });
  results.activationMs = vscode.extensions.getExtension<CondenseApi>(EXTENSION_ID)?.exports?.activationMs;
  const output = process.env[OUTPUT_ENV];
  if (output) await fs.writeFile(path.join(output, 'results.json'), JSON.stringify(results));
  if (results.failed > 0) throw new Error(`${results.failed} integration test(s) failed`);
}
