/**
 * Stands in for the VS Code executable that `@vscode/test-electron`'s runTests starts, where no
 * desktop VS Code can be downloaded: it takes the same arguments (--extensionDevelopmentPath=…,
 * --extensionTestsPath=…, --user-data-dir=…, --extensions-dir=…, a folder), starts code-server with
 * the smoke-test driver enabled, opens the workbench in headless Chromium with the tests as the
 * page's payload, prints the tests' report and exits with their exit code.
 *
 * It also serves the tests' requests for what only the page can do (see ../shared.ts):
 * screenshots, the texts in the notification centre and in the webviews. Next to the user data folder it leaves
 * code-server.log and workbench.log (the workbench's own log, which arrives mixed with the tests' output).
 */
import { ChildProcess, spawn } from 'child_process';
import { createWriteStream, promises as fs, WriteStream } from 'fs';
import * as path from 'path';
import { Browser, chromium, Page } from 'playwright-core';
import { format } from 'util';
import { LAUNCHER_ENV, LauncherRequest, OUTPUT_MARKER, REQUEST_MARKER } from '../shared';
import { CHROMIUM_ARGS } from '../../helpers/chromium';
import { CHROMIUM, codeServerDir, codeServerFiles, isInstalled, isolatedEnv, makeIsolatedHome } from './codeServer';

const STARTUP_TIMEOUT_MS = 120_000;
/** A backstop for a run whose tests never report an exit code (a crashed extension host, say). */
const RUN_TIMEOUT_MS = 15 * 60_000;

interface Arguments {
  extensionDevelopmentPath: string;
  extensionTestsPath: string;
  userDataDir: string;
  extensionsDir: string;
  folder: string | undefined;
}

/** The arguments runTests passes; its Electron-only flags (--no-sandbox, --disable-updates, …) do not apply. */
function parseArguments(argv: string[]): Arguments {
  const value = (name: string): string => {
    const v = argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    if (!v) throw new Error(`missing --${name}=…`);
    return path.resolve(v);
  };
  const folder = argv.find((a) => !a.startsWith('-'));
  return {
    extensionDevelopmentPath: value('extensionDevelopmentPath'),
    extensionTestsPath: value('extensionTestsPath'),
    userDataDir: value('user-data-dir'),
    extensionsDir: value('extensions-dir'),
    folder: folder ? path.resolve(folder) : undefined,
  };
}

/** code-server on a free loopback port, in its own process group so that it ends with its extension host. */
function startCodeServer(args: Arguments, home: string, config: string, log: WriteStream): { server: ChildProcess; listening: Promise<string> } {
  const dir = codeServerDir();
  if (!isInstalled(dir)) throw new Error(`no offline VS Code in ${dir}: run  npx tsx test/integration/web/codeServer.ts`);
  const { node, entry } = codeServerFiles(dir);
  const server = spawn(
    node,
    [
      entry,
      '--bind-addr', '127.0.0.1:0',
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--user-data-dir', args.userDataDir,
      '--extensions-dir', args.extensionsDir,
      '--config', config,
      // Only with the smoke-test driver does the workbench take extension tests from the page's payload.
      '--vscode-option', 'enable-smoke-test-driver',
    ],
    { env: { ...isolatedEnv(home), [LAUNCHER_ENV]: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`code-server did not start within ${STARTUP_TIMEOUT_MS / 1000} s (see code-server.log)`)), STARTUP_TIMEOUT_MS);
    let seen = '';
    server.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    server.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited with ${code} before listening (see code-server.log)`));
    });
  });
  return { server, listening };
}

/** Ends code-server's process group (server and extension host), forcibly if it lingers. */
async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-server.pid!, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The workbench URL: the folder to open, and the extension under development and its tests as remote paths. */
function workbenchUrl(origin: string, args: Arguments): string {
  const remote = (p: string): string => `vscode-remote://${new URL(origin).host}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(args.extensionDevelopmentPath)],
    ['extensionTestsPath', remote(args.extensionTestsPath)],
  ];
  const query = new URLSearchParams({ payload: JSON.stringify(payload) });
  if (args.folder) query.set('folder', args.folder);
  return `${origin}/?${query}`;
}

/** Carries out one request of the tests and writes the answer where they wait for it. */
async function serve(page: Page, request: LauncherRequest): Promise<void> {
  let answer: unknown;
  try {
    switch (request.op) {
      case 'screenshot':
        await fs.mkdir(path.dirname(request.file), { recursive: true });
        await page.screenshot({ path: request.file });
        answer = { ok: true };
        break;
      case 'notifications':
        // The test has just opened the centre; its list renders when the centre shows.
        await page.locator('.notifications-center.visible').waitFor({ timeout: 10_000 });
        answer = { ok: true, messages: await page.locator('.notifications-center .notification-list-item-message').allInnerTexts() };
        break;
      case 'webviewText': {
        // A webview is an iframe inside an iframe: search every frame of the page.
        const texts: string[] = [];
        for (const frame of page.frames()) texts.push(...(await frame.locator(request.selector).allTextContents().catch(() => [])));
        answer = { ok: true, texts };
        break;
      }
    }
  } catch (e) {
    answer = { ok: false, error: (e as Error).message };
  }
  await fs.writeFile(`${request.reply}.tmp`, JSON.stringify(answer));
  await fs.rename(`${request.reply}.tmp`, request.reply);
}

/** Console output arrives as codeAutomationLog(level, [format, ...values]). */
function formatLog(args: unknown): string {
  return Array.isArray(args) ? format(...(args as unknown[])) : String(args);
}

/** Opens the workbench, which runs the tests; resolves with their exit code (or 1 if the page dies or hangs). */
async function runWorkbench(browser: Browser, url: string, workbenchLog: WriteStream, interrupted: Promise<number>): Promise<number> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const requests: Promise<void>[] = [];
  let exit!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (exit = resolve));
  await page.exposeFunction('codeAutomationExit', (code: number) => exit(code));
  await page.exposeFunction('codeAutomationLog', (level: string, args: unknown) => {
    const line = formatLog(args);
    if (line.startsWith(OUTPUT_MARKER)) process.stdout.write(`${line.slice(OUTPUT_MARKER.length)}\n`);
    else if (line.startsWith(REQUEST_MARKER)) requests.push(serve(page, JSON.parse(line.slice(REQUEST_MARKER.length)) as LauncherRequest));
    else workbenchLog.write(`[${level}] ${line}\n`);
  });
  page.on('crash', () => {
    console.error('launcher: the workbench page crashed');
    exit(1);
  });
  const timer = setTimeout(() => {
    console.error(`launcher: the tests did not finish within ${RUN_TIMEOUT_MS / 60_000} min`);
    exit(1);
  }, RUN_TIMEOUT_MS);
  try {
    await page.goto(url);
    const code = await Promise.race([exited, interrupted]);
    await Promise.all(requests);
    return code;
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  // runTests forwards Ctrl+C as SIGINT: end code-server and Chromium too, not only this process.
  const interrupted = new Promise<number>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(130));
  });
  const args = parseArguments(process.argv.slice(2));
  const runDir = path.dirname(args.userDataDir);
  const home = path.join(runDir, 'code-server-home');
  await makeIsolatedHome(home);
  const config = path.join(home, 'config.yaml');
  await fs.writeFile(config, '');
  const serverLog = createWriteStream(path.join(runDir, 'code-server.log'));
  const workbenchLog = createWriteStream(path.join(runDir, 'workbench.log'));
  const { server, listening } = startCodeServer(args, home, config, serverLog);
  let browser: Browser | undefined;
  try {
    const origin = await Promise.race([listening, interrupted.then(() => Promise.reject(new Error('interrupted')))]);
    // Playwright's own signal handlers would exit before code-server is stopped: this process handles them.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false });
    return await runWorkbench(browser, workbenchUrl(origin, args), workbenchLog, interrupted);
  } finally {
    await browser?.close();
    await stop(server);
    await new Promise((resolve) => workbenchLog.end(resolve));
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`launcher: ${e.message}`);
    process.exit(1);
  },
);
