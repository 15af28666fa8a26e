// One build for every bundle: the extension host, the analysis worker, the CLI, the bench and the webview.
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
  logLevel: 'warning',
};

const builds = [
  { ...node, entryPoints: { cli: 'src/cli/index.ts' }, outdir: 'dist' },
  { ...node, entryPoints: { bench: 'bench/run.ts' }, outdir: 'dist' },
].filter((b) => Object.values(b.entryPoints).every((entry) => existsSync(entry)));

// The wasm backend looks for its .wasm files next to the bundle.
mkdirSync('dist', { recursive: true });
for (const file of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
  cpSync(`node_modules/@tensorflow/tfjs-backend-wasm/dist/${file}`, `dist/${file}`);
}

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
