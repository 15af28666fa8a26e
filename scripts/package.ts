/**
 * Packages the extension as a platform VSIX: the esbuild bundles and python/condense_train.py (the PyTorch
 * trainer; both let through by .vscodeignore), plus onnxruntime-node's JavaScript and
 * its native library for the one target platform, staged in dist/node_modules where the bundles'
 * run-time require finds them. With it the packaged extension computes similarity and refits with
 * onnxruntime (several times faster than the wasm and TypeScript engines); a platform onnxruntime
 * does not ship a binary for gets a VSIX without it, which falls back to those engines.
 *
 * Run: npm run package -- [--target linux-x64] [--out FILE]   (target default: this machine's)
 */
import { createVSIX } from '@vscode/vsce';
import { spawnSync } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..');
const STAGE = path.join(REPO, 'dist', 'node_modules');

/** VS Code's platform targets that onnxruntime-node ships binaries for, as its folder names. */
const ORT_BINARIES: Record<string, string> = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

export const currentTarget = (): string => `${process.platform}-${process.arch}`;

/** Copies what onnxruntime-node loads at run time for `target` into dist/node_modules; false when there is no binary for it. */
async function stageOnnxRuntime(target: string): Promise<boolean> {
  await fs.rm(STAGE, { recursive: true, force: true });
  const binaries = ORT_BINARIES[target];
  const ort = path.join(REPO, 'node_modules', 'onnxruntime-node');
  if (!binaries || !existsSync(path.join(ort, 'bin', 'napi-v6', binaries))) return false;
  const copy = (from: string, to: string): Promise<void> => fs.cp(from, path.join(STAGE, to), { recursive: true });
  await copy(path.join(ort, 'package.json'), 'onnxruntime-node/package.json');
  await copy(path.join(ort, 'dist'), 'onnxruntime-node/dist');
  await copy(path.join(ort, 'bin', 'napi-v6', binaries), `onnxruntime-node/bin/napi-v6/${binaries}`);
  const common = path.join(REPO, 'node_modules', 'onnxruntime-common');
  await copy(path.join(common, 'package.json'), 'onnxruntime-common/package.json');
  await copy(path.join(common, 'dist', 'cjs'), 'onnxruntime-common/dist/cjs');
  return true;
}

/** Writes the VSIX for `target` from the built bundles (dist/); returns whether onnxruntime is inside. */
export async function packageVsix(packagePath: string, target = currentTarget()): Promise<{ onnxruntime: boolean }> {
  const manifest = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { repository: { url: string } };
  // The README's relative links (bench/results.md) must point into the repository on the extension's page.
  const repository = manifest.repository.url.replace(/\.git$/, '');
  const onnxruntime = await stageOnnxRuntime(target);
  try {
    await createVSIX({
      cwd: REPO, packagePath, target, dependencies: false,
      baseContentUrl: `${repository}/blob/HEAD`, baseImagesUrl: `${repository}/raw/HEAD`,
    });
  } finally {
    await fs.rm(STAGE, { recursive: true, force: true });
  }
  return { onnxruntime };
}

if (require.main === module) {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const target = arg('target') ?? currentTarget();
  const out = path.resolve(arg('out') ?? `condense-${target}.vsix`);
  const built = spawnSync(process.execPath, [path.join(REPO, 'esbuild.mjs')], { cwd: REPO, stdio: 'inherit' });
  if (built.status !== 0) process.exit(1);
  packageVsix(out, target).then(
    ({ onnxruntime }) => console.log(`${path.relative(process.cwd(), out)}: ${target}, ${onnxruntime ? 'with onnxruntime' : 'without onnxruntime (wasm and TypeScript engines)'}`),
    (e: Error) => {
      console.error(`package: ${e.message}`);
      process.exit(1);
    },
  );
}
