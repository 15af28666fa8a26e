// One build for every bundle: the extension host, the analysis worker, the model.json thread, the CLI, the bench and the webview.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, existsSync } from 'fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** Node bundles; tfjs-node stays external (optional, native), vscode is provided by the host. */
const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', '@tensorflow/tfjs-node'],
  // Prefer ES module entries: jsonc-parser's UMD "main" loads its parts with run-time requires a bundle cannot see.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
  outdir: 'dist',
};

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' } },
  { ...node, entryPoints: { worker: 'src/worker/worker.ts' } },
  { ...node, entryPoints: { modelJsonThread: 'src/extension/modelJsonThread.ts' } },
  { ...node, entryPoints: { cli: 'src/cli/index.ts' } },
  { ...node, entryPoints: { bench: 'bench/run.ts' } },
  {
    entryPoints: { webview: 'webview/main.ts' },
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    outdir: 'dist',
  },
].filter((b) => Object.values(b.entryPoints).every((entry) => existsSync(entry)));

mkdirSync('dist/codicons', { recursive: true });
// The wasm backend looks for its .wasm files next to the bundle.
for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  cpSync(`node_modules/@tensorflow/tfjs-backend-wasm/dist/${file}`, `dist/${file}`);
}
// Codicons are served to the webview from the extension's own files (no network).
for (const file of ['codicon.css', 'codicon.ttf']) cpSync(`node_modules/@vscode/codicons/dist/${file}`, `dist/codicons/${file}`);

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
