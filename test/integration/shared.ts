/**
 * What the runner (run.ts), the launcher (web/launcher.ts) and the tests inside VS Code (suite/)
 * agree on: environment variables and the launcher's requests.
 */

/** Which suite runs: against the repository ('development') or the installed VSIX ('packaged'). */
export const SUITE_ENV = 'CONDENSE_TEST_SUITE';

/**
 * Set (to test file names without extension, comma-separated, e.g. "retrain,retrainFormats"): only
 * those files of the development suite run, after activation's, and the packaged suite is skipped.
 */
export const ONLY_ENV = 'CONDENSE_TEST_ONLY';
export type SuiteName = 'development' | 'packaged';

/** Where the tests write what they produce (screenshots, results.json). */
export const OUTPUT_ENV = 'CONDENSE_TEST_OUTPUT';

/** The extensions folder the VSIX is installed into (packaged suite). */
export const EXTENSIONS_DIR_ENV = 'CONDENSE_TEST_EXTENSIONS_DIR';

/** Set by the launcher for code-server: the tests can ask the page for what only it can do. */
export const LAUNCHER_ENV = 'CONDENSE_TEST_LAUNCHER';

/**
 * Under the launcher, the workbench's own log arrives through the same channel as the tests'
 * output: the suite marks its report's lines, and the launcher prints those and files the rest.
 */
export const OUTPUT_MARKER = '[condense-test-output] ';

/**
 * A test logs REQUEST_MARKER + JSON; the launcher carries it out and writes its answer (JSON) to
 * `reply`. Screenshots and the notification centre live in the page, out of the extension host's reach.
 */
export const REQUEST_MARKER = '[condense-launcher-request] ';

/** `webviewText`: the text of every element matching `selector` in the page's webviews (the panel's DOM). */
export type LauncherRequest =
  | { op: 'screenshot'; file: string; reply: string }
  | { op: 'notifications'; reply: string }
  | { op: 'webviewText'; selector: string; reply: string };

export type LauncherAnswer = { ok: true; messages?: string[]; texts?: string[] } | { ok: false; error: string };

/** The suite's summary, written by suite/index.ts for the runner's closing line. */
export interface SuiteResults {
  passed: number;
  failed: number;
  pending: number;
  /** How long the extension's activate() took (its API reports it): recorded, not asserted. */
  activationMs?: number;
}
