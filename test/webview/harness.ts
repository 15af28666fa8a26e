/**
 * A stand-in for the VS Code webview host, for browser tests of the panel: a local HTTP server that
 * serves the built dist/webview.js, media/panel.css and the codicons with a page like the host's
 * (same CSP and nonce rules), a fake acquireVsCodeApi that records what the panel posts, and helpers
 * to drive the page in Debian's chromium with playwright-core. Builds nothing: run `node esbuild.mjs` first.
 */
import { randomBytes } from 'crypto';
import { promises as fs } from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as path from 'path';
import { Browser, chromium, Page } from 'playwright-core';
import { panelHtml } from '../../src/extension/panelHtml';
import { CHROMIUM, CHROMIUM_ARGS } from '../helpers/chromium';
import type { HostToWebview, PanelState, WebviewToHost } from '../../src/shared/protocol';
import type { PanelSnapshot } from '../../webview/snapshot';
import { ThemeName, THEMES } from './themes';

/** The repository root, whose dist/ and media/ are served. */
export const REPO = path.resolve(__dirname, '..', '..');

/** The only files the page may load, as the host's localResourceRoots would allow. */
const FILES: Record<string, string> = {
  '/dist/webview.js': 'text/javascript',
  '/dist/webview.js.map': 'application/json',
  '/media/panel.css': 'text/css',
  '/dist/codicons/codicon.css': 'text/css',
  '/dist/codicons/codicon.ttf': 'font/ttf',
};

export interface PanelOptions {
  theme?: ThemeName;
  /** What vscode.getState() returns, as after a reload. */
  state?: PanelState;
}

export interface HarnessServer {
  origin: string;
  /** The page's address for the given options. */
  url(options?: PanelOptions): string;
  close(): Promise<void>;
}

/** Runs in the page before webview.js: theme variables as VS Code sets them, and the fake API. */
function bootScript(theme: ThemeName, state: PanelState | undefined): string {
  return `
(() => {
  const themes = ${JSON.stringify(THEMES)};
  window.__setTheme = (name) => {
    const theme = themes[name];
    const html = document.documentElement;
    html.removeAttribute('style');
    for (const [key, value] of Object.entries(theme.vars)) html.style.setProperty(key, value);
    document.body.className = theme.bodyClass;
    document.body.dataset.vscodeThemeKind = theme.bodyClass;
  };
  window.__setTheme(${JSON.stringify(theme)});
  window.__posted = [];
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
  let state = ${JSON.stringify(state ?? null)} ?? undefined;
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return Object.freeze({
      postMessage: (message) => window.__posted.push(JSON.parse(JSON.stringify(message))),
      getState: () => state,
      setState: (next) => { state = JSON.parse(JSON.stringify(next)); window.__state = state; return next; },
    });
  };
})();`;
}

/** The extension's own page (same CSP and markup), with the fake host injected before the bundle. */
function page(origin: string, theme: ThemeName, state: PanelState | undefined): string {
  const nonce = randomBytes(16).toString('base64');
  const html = panelHtml({ cspSource: origin, nonce, resource: (...parts) => `${origin}/${parts.join('/')}` });
  const bundle = `<script nonce="${nonce}" src=`;
  if (!html.includes(bundle)) throw new Error('the panel page no longer loads its bundle the way the harness expects');
  return html.replace(bundle, `<script nonce="${nonce}">${bootScript(theme, state)}</script>\n${bundle}`);
}

export { CHROMIUM };

export async function startServer(root = REPO): Promise<HarnessServer> {
  await fs.access(path.join(root, 'dist', 'webview.js')).catch(() => {
    throw new Error('dist/webview.js is missing: run `node esbuild.mjs` first');
  });
  let origin = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/') {
      const theme = (url.searchParams.get('theme') ?? 'dark') as ThemeName;
      const stateParam = url.searchParams.get('state');
      const state = stateParam ? (JSON.parse(stateParam) as PanelState) : undefined;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page(origin, THEMES[theme] ? theme : 'dark', state));
      return;
    }
    const type = FILES[url.pathname];
    if (!type) {
      res.writeHead(404).end();
      return;
    }
    fs.readFile(path.join(root, url.pathname)).then(
      (body) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (options = {}) => {
      const query = new URLSearchParams({ theme: options.theme ?? 'dark' });
      if (options.state) query.set('state', JSON.stringify(options.state));
      return `${origin}/?${query}`;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export interface PanelPage {
  page: Page;
  /** Console errors, page errors, CSP violations, dialogs (an alert would mean injected markup ran) and requests off the server. */
  problems: string[];
  /** Delivers a host message, as VS Code does (a window message event). */
  send(message: HostToWebview): Promise<void>;
  /** What the panel posted, without its 'rendered' reports (see `rendered`). */
  posted(): Promise<WebviewToHost[]>;
  /** The panel's last 'rendered' report: what it tells the host it shows. */
  rendered(): Promise<Extract<WebviewToHost, { type: 'rendered' }> | undefined>;
  snapshot(): Promise<PanelSnapshot>;
  setTheme(theme: ThemeName): Promise<void>;
}

/** Opens the panel and waits for its 'ready'. */
export async function openPanel(browser: Browser, server: HarnessServer, options: PanelOptions & { width?: number; height?: number } = {}): Promise<PanelPage> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1100, height: options.height ?? 900 }, deviceScaleFactor: 1 });
  const problems: string[] = [];
  // No network: everything but the harness server is refused and reported.
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(server.origin)) return route.continue();
    problems.push(`request off the server: ${url}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(server.url(options));
  await page.waitForFunction(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.some((m) => m.type === 'ready'));
  const violations = async (): Promise<void> => {
    for (const v of await page.evaluate(() => (window as unknown as { __violations: string[] }).__violations.splice(0))) problems.push(`CSP violation: ${v}`);
  };
  return {
    page,
    problems,
    send: async (message) => {
      // Resolves after the panel's own listener (registered earlier) has handled the message.
      await page.evaluate(
        (m) =>
          new Promise<void>((resolve) => {
            window.addEventListener('message', () => setTimeout(resolve, 0), { once: true });
            window.postMessage(m, '*');
          }),
        message,
      );
      await violations();
    },
    posted: () => page.evaluate(() => (window as unknown as { __posted: WebviewToHost[] }).__posted.filter((m) => m.type !== 'rendered')),
    rendered: () =>
      page.evaluate(() =>
        (window as unknown as { __posted: WebviewToHost[] }).__posted.filter((m): m is Extract<WebviewToHost, { type: 'rendered' }> => m.type === 'rendered').pop(),
      ),
    snapshot: async () => {
      await violations();
      return page.evaluate(() => window.__condensePanel);
    },
    setTheme: (theme) => page.evaluate((t) => (window as unknown as { __setTheme(t: string): void }).__setTheme(t), theme),
  };
}
