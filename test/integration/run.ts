/**
 * The integration suite: mocha tests running inside a real VS Code, started by @vscode/test-electron's
 * runTests. Two runs: against the repository (the development suite), then against the VSIX that
 * `vsce package` makes, installed into a fresh extensions folder (the packaged suite).
 *
 * Which VS Code (CONDENSE_TEST_VSCODE):
 *   web       the offline route: web/launcher.ts stands in for the VS Code executable and runs
 *             code-server (VS Code's workbench and extension host) in headless Chromium; installed
 *             into a cache folder by web/codeServer.ts when missing.
 *   desktop   the desktop VS Code that runTests downloads into .vscode-test/ (needs the internet,
 *             and a display: xvfb-run on a headless Linux).
 *   (unset)   web when it is installed, else desktop, else (no internet) install web.
 *
 * Run: npm run build && npm run test:integration   (npm test runs it after the unit tests)
 * A subset: CONDENSE_TEST_ONLY=retrain,retrainFormats npm run test:integration  (development suite only).
 */
import { runTests, downloadAndUnzipVSCode, resolveCliPathFromVSCodeExecutablePath } from '@vscode/test-electron';
import { spawnSync } from 'child_process';
import * as esbuild from 'esbuild';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { packageVsix } from '../../scripts/package';
import { EXTENSIONS_DIR_ENV, ONLY_ENV, OUTPUT_ENV, SuiteName, SuiteResults, SUITE_ENV } from './shared';
import { codeServerDir, codeServerFiles, installCodeServer, isInstalled, isolatedEnv, makeIsolatedHome } from './web/codeServer';

const REPO = path.resolve(__dirname, '..', '..');
const BUILD = path.join(REPO, 'out', 'integration');
const OUTPUT = path.join(REPO, 'test-output', 'integration');
const EXAMPLES = ['combustion-mlp', 'small-cnn'];
/** Only these test files (CONDENSE_TEST_ONLY); the packaged suite is skipped. */
const only = process.env[ONLY_ENV]?.trim() || undefined;
/** The VSIX holds the bundles, the wasm backend, codicons and media: a few MB, never node_modules. */
/** The bundles take ≈ 1.2 MB, onnxruntime's native library for one platform ≈ 15 MB compressed. */
const MAX_VSIX_BYTES = 32 * 1024 * 1024;

interface TestVSCode {
  name: string;
  /** What runTests starts as "the VS Code executable". */
  executable: string;
  installVsix(vsix: string, extensionsDir: string): Promise<void>;
}

/** Bundles the tests (mocha and node_modules stay external) and the launcher into out/integration/. */
async function build(): Promise<void> {
  const suiteDir = path.join(__dirname, 'suite');
  const suite = (await fs.readdir(suiteDir)).filter((f) => f === 'index.ts' || f.endsWith('.test.ts'));
  await fs.rm(BUILD, { recursive: true, force: true });
  const common: esbuild.BuildOptions = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', packages: 'external', logLevel: 'warning' };
  await esbuild.build({ ...common, entryPoints: suite.map((f) => path.join(suiteDir, f)), outdir: path.join(BUILD, 'suite'), external: ['vscode'] });
  const launcher = path.join(BUILD, 'launcher.js');
  await esbuild.build({ ...common, entryPoints: [path.join(__dirname, 'web', 'launcher.ts')], outfile: launcher, banner: { js: '#!/usr/bin/env node' } });
  await fs.chmod(launcher, 0o755);
}

function webVSCode(): TestVSCode {
  return {
    name: 'code-server (offline, in headless Chromium)',
    executable: path.join(BUILD, 'launcher.js'),
    async installVsix(vsix, extensionsDir) {
      const home = path.join(path.dirname(extensionsDir), 'install-home');
      await makeIsolatedHome(home);
      const { node, entry } = codeServerFiles();
      run(node, [entry, '--extensions-dir', extensionsDir, '--install-extension', vsix], isolatedEnv(home));
    },
  };
}

async function desktopVSCode(): Promise<TestVSCode> {
  const executable = await downloadAndUnzipVSCode({ cachePath: path.join(REPO, '.vscode-test') });
  return {
    name: `desktop VS Code (${executable})`,
    executable,
    async installVsix(vsix, extensionsDir) {
      const userDataDir = path.join(path.dirname(extensionsDir), 'install-user-data');
      run(resolveCliPathFromVSCodeExecutablePath(executable), ['--extensions-dir', extensionsDir, '--user-data-dir', userDataDir, '--install-extension', vsix], process.env);
    },
  };
}

async function chooseVSCode(): Promise<TestVSCode> {
  const choice = process.env.CONDENSE_TEST_VSCODE;
  if (choice && choice !== 'web' && choice !== 'desktop') throw new Error(`CONDENSE_TEST_VSCODE must be web or desktop, not ${choice}`);
  if (choice === 'desktop') return desktopVSCode();
  if (choice === 'web' || isInstalled()) {
    // Installs only what is missing (nothing, usually).
    await installCodeServer();
    return webVSCode();
  }
  try {
    return await desktopVSCode();
  } catch (e) {
    console.log(`No desktop VS Code (${(e as Error).message.split('\n')[0]}): installing the offline one into ${codeServerDir()}.`);
    await installCodeServer();
    return webVSCode();
  }
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): void {
  const result = spawnSync(command, args, { env, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${path.basename(command)} ${args.join(' ')} failed (${result.status}):\n${result.stdout}${result.stderr}`);
}

/** A fresh workspace with copies of the examples, so writing and breaking models never touches examples/. */
async function makeWorkspace(dir: string): Promise<string> {
  for (const example of EXAMPLES) await fs.cp(path.join(REPO, 'examples', example), path.join(dir, example), { recursive: true });
  return dir;
}

/** One run of VS Code with the suite; its counts come from the results file the suite writes. */
async function runSuite(vscode: TestVSCode, suite: SuiteName, extensionDevelopmentPath: string, runDir: string, extensionsDir: string): Promise<SuiteResults> {
  const output = path.join(OUTPUT, suite);
  await fs.rm(output, { recursive: true, force: true });
  await fs.mkdir(output, { recursive: true });
  const userDataDir = path.join(runDir, 'user-data');
  const workspace = await makeWorkspace(path.join(runDir, 'workspace'));
  console.log(`\n== ${suite} suite in ${vscode.name}`);
  try {
    await runTests({
      vscodeExecutablePath: vscode.executable,
      extensionDevelopmentPath,
      extensionTestsPath: path.join(BUILD, 'suite', 'index.js'),
      launchArgs: [workspace, `--user-data-dir=${userDataDir}`, `--extensions-dir=${extensionsDir}`],
      extensionTestsEnv: { [SUITE_ENV]: suite, [OUTPUT_ENV]: output, [EXTENSIONS_DIR_ENV]: extensionsDir, ...(only ? { [ONLY_ENV]: only } : {}) },
    });
  } catch (e) {
    console.error(`${suite} suite: ${(e as Error).message}`);
  }
  // Keep the logs with the output: VS Code's (extension host included) and the launcher's.
  for (const log of [path.join(userDataDir, 'logs'), path.join(runDir, 'code-server.log'), path.join(runDir, 'workbench.log')]) {
    if (existsSync(log)) await fs.cp(log, path.join(output, path.basename(log)), { recursive: true });
  }
  const results = path.join(output, 'results.json');
  if (!existsSync(results)) throw new Error(`the ${suite} suite reported no results: VS Code did not start or run the tests, or the run was interrupted (see above)`);
  const parsed = JSON.parse(await fs.readFile(results, 'utf8')) as SuiteResults;
  if (parsed.activationMs !== undefined) console.log(`${suite}: activate() took ${parsed.activationMs.toFixed(1)} ms`);
  return parsed;
}

/** The platform VSIX `npm run package` makes (bundles, and onnxruntime for this platform), checked for size. */
async function packageForTest(dir: string): Promise<string> {
  const manifest = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  const vsix = path.join(dir, `condense-${manifest.version}.vsix`);
  const { onnxruntime } = await packageVsix(vsix);
  const { size } = await fs.stat(vsix);
  console.log(`VSIX: ${(size / 1024 / 1024).toFixed(2)} MB, ${onnxruntime ? 'with' : 'without'} onnxruntime`);
  if (size > MAX_VSIX_BYTES) throw new Error(`the VSIX is ${size} bytes, over ${MAX_VSIX_BYTES}: check .vscodeignore`);
  return vsix;
}

async function main(): Promise<number> {
  const started = Date.now();
  await build();
  const vscode = await chooseVSCode();
  const temp = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-integration-'));
  const totals: SuiteResults = { passed: 0, failed: 0, pending: 0 };
  const add = (r: SuiteResults): void => {
    totals.passed += r.passed;
    totals.failed += r.failed;
    totals.pending += r.pending;
  };
  try {
    const development = path.join(temp, 'development');
    add(await runSuite(vscode, 'development', REPO, development, path.join(development, 'extensions')));
    if (only) {
      console.log(`\n${ONLY_ENV}=${only}: the packaged suite is skipped`);
      return finish(started, totals);
    }

    const packaged = path.join(temp, 'packaged');
    const extensionsDir = path.join(packaged, 'extensions');
    await vscode.installVsix(await packageForTest(temp), extensionsDir);
    add(await runSuite(vscode, 'packaged', path.join(__dirname, 'packaged-host'), packaged, extensionsDir));
  } finally {
    await fs.rm(temp, { recursive: true, force: true });
  }
  return finish(started, totals);
}

function finish(started: number, totals: SuiteResults): number {
  console.log(`\nintegration suite: ${((Date.now() - started) / 1000).toFixed(0)} s; output in ${path.relative(REPO, OUTPUT)}/`);
  console.log(`integration: ${totals.passed} passed, ${totals.failed} failed${totals.pending ? `, ${totals.pending} skipped` : ''}`);
  return totals.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`integration: ${e.message}`);
    process.exit(1);
  },
);
