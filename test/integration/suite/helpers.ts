/**
 * Shared by the tests running inside VS Code: the extension and its API, the workspace's models,
 * the engine's own answer for comparison, waiting, and requests to the launcher.
 */
import * as assert from 'assert';
import { createHash, randomUUID } from 'crypto';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vscode from 'vscode';
import { analyzeModel, loadModel } from '../../../src/core/analyze';
import { estimate, ModelSummary } from '../../../src/core/estimate';
import type { CondenseApi } from '../../../src/extension/extension';
import type { ThresholdState } from '../../../src/shared/protocol';
import { LAUNCHER_ENV, LauncherAnswer, LauncherRequest, OUTPUT_ENV, OUTPUT_MARKER, REQUEST_MARKER, SuiteName, SUITE_ENV } from '../shared';

export const EXTENSION_ID = 'condense.condense';

export const suiteName: SuiteName = process.env[SUITE_ENV] === 'packaged' ? 'packaged' : 'development';

/** A model of the test workspace (the runner copies examples/ into a fresh folder). */
export function workspaceModel(...parts: string[]): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) throw new Error('the tests need a workspace folder (the runner opens a copy of examples/)');
  return path.join(folder.uri.fsPath, ...parts);
}

export function extension(): vscode.Extension<CondenseApi> {
  const ext = vscode.extensions.getExtension<CondenseApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not installed in this VS Code`);
  return ext;
}

/** The API, once the extension has activated by itself (workspaceContains:**\/model.json). */
export async function api(): Promise<CondenseApi> {
  const ext = extension();
  await waitFor('the extension to activate', () => ext.isActive, { timeoutMs: 60_000 });
  // A throwing activate() still counts as active, without exports.
  if (!ext.exports) throw new Error(`${EXTENSION_ID} failed to activate: see the extension host log (test-output/integration/${suiteName}/logs/)`);
  return ext.exports;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Adds the last state seen to the failure message. */
  describe?: () => string;
}

/** Polls until `check` returns something truthy; fails with what it waited for (and what it saw). */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      const seen = options.describe ? `; last seen: ${options.describe()}` : '';
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Per-layer counts as Condense Model returns them and the panel reports them. */
export interface Counts {
  layers: { name: string; clusters: number | null; unitsAfter: number | null }[];
  ratio: number;
}

/** The engine's analysis of a model, run here in the test, independent of the extension's worker. */
export async function engineSummary(file: string): Promise<ModelSummary> {
  return (await analyzeModel(await loadModel(file))).summary;
}

/** The engine's counts at the given thresholds. */
export function engineCounts(summary: ModelSummary, t: ThresholdState): Counts {
  const e = estimate(summary, (layer) => t.overrides[layer] ?? t.threshold);
  return { layers: e.layers.map((l) => ({ name: l.name, clusters: l.clusters, unitsAfter: l.unitsAfter })), ratio: e.totals.ratio };
}

/** Same per-layer counts, and the same ratio up to rounding (the webview recomputes it in its own bundle). */
export function assertCounts(actual: Counts | undefined, expected: Counts, what: string): void {
  assert.ok(actual, `${what}: nothing reported`);
  const layers = actual.layers.map((l) => ({ name: l.name, clusters: l.clusters, unitsAfter: l.unitsAfter }));
  assert.deepStrictEqual(layers, expected.layers, `${what}: per-layer counts differ from the engine's`);
  assert.ok(Math.abs(actual.ratio - expected.ratio) < 1e-12, `${what}: ratio ${actual.ratio}, the engine says ${expected.ratio}`);
}

/** Whether `actual` shows exactly `expected` (for waiting on the panel). */
export function sameCounts(actual: Counts | undefined, expected: Counts): boolean {
  try {
    assertCounts(actual, expected, '');
    return true;
  } catch {
    return false;
  }
}

export async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.readFile(file)).digest('hex');
}

/** Only code-server's page (the launcher) can take screenshots or read the notification centre; desktop VS Code runs without it. */
export const hasLauncher = process.env[LAUNCHER_ENV] === '1';

/** A request without its reply file (distributed over the union, as Omit is not). */
type Request<R = LauncherRequest> = R extends LauncherRequest ? Omit<R, 'reply'> : never;

async function askLauncher(request: Request): Promise<Extract<LauncherAnswer, { ok: true }>> {
  const reply = path.join(os.tmpdir(), `condense-launcher-${randomUUID()}.json`);
  console.log(REQUEST_MARKER + JSON.stringify({ ...request, reply }));
  const text = await waitFor(`the launcher to answer ${request.op}`, () => fs.readFile(reply, 'utf8').catch(() => ''), { timeoutMs: 60_000 });
  await fs.rm(reply, { force: true });
  const answer = JSON.parse(text) as LauncherAnswer;
  if (!answer.ok) throw new Error(`the launcher could not ${request.op}: ${answer.error}`);
  return answer;
}

/** A screenshot of the whole window into the test output folder; returns its path. */
export async function screenshot(name: string): Promise<string> {
  const output = process.env[OUTPUT_ENV];
  if (!output) throw new Error(`${OUTPUT_ENV} is not set: the runner says where screenshots go`);
  const file = path.join(output, `${name}.png`);
  await askLauncher({ op: 'screenshot', file });
  return file;
}

/** The messages in the notification centre (opened for the purpose: the smoke-test driver drops toasts). */
export async function notificationMessages(): Promise<string[]> {
  await vscode.commands.executeCommand('notifications.showList');
  try {
    return (await askLauncher({ op: 'notifications' })).messages ?? [];
  } finally {
    await vscode.commands.executeCommand('notifications.hideList');
  }
}

/** The text of every element matching `selector` in the open webviews (the panel's DOM, as drawn). */
export async function webviewTexts(selector: string): Promise<string[]> {
  return (await askLauncher({ op: 'webviewText', selector })).texts ?? [];
}

/** A line in the suite's output (under the launcher only marked lines are printed), e.g. why a test is skipped. */
export function note(line: string): void {
  console.log((hasLauncher ? OUTPUT_MARKER : '') + line);
}
