import * as assert from 'assert';
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { resolveOutputFolder } from '../../../src/extension/outputFolder';
import { tempDir } from '../../helpers/models';

/** A workspace folder holding models/mlp/model.json, and a folder outside it. */
async function workspace(): Promise<{ root: string; model: string; outside: string }> {
  const root = await tempDir();
  const outside = await tempDir();
  const model = path.join(root, 'models', 'mlp', 'model.json');
  await fs.mkdir(path.dirname(model), { recursive: true });
  await fs.writeFile(model, '{}');
  return { root, model, outside };
}

describe('the output folder setting', () => {
  it('puts the reduced model next to the original, also in a new subfolder or a sibling folder inside the workspace', async () => {
    const { root, model } = await workspace();
    assert.deepStrictEqual(await resolveOutputFolder(model, '${name}.condensed', [root]), { outDir: path.join(root, 'models', 'mlp', 'model.condensed') });
    assert.deepStrictEqual(await resolveOutputFolder(model, 'out/${name}', [root]), { outDir: path.join(root, 'models', 'mlp', 'out', 'model') });
    assert.deepStrictEqual(await resolveOutputFolder(model, '../../reduced', [root]), { outDir: path.join(root, 'reduced') });
  });

  it('refuses names leading out of the workspace, absolute paths and empty names, saying why', async () => {
    const { root, model, outside } = await workspace();
    const outOf = await resolveOutputFolder(model, '../../../..', [root]);
    assert.match(outOf.problem ?? '', /condense\.outputFolder \("\.\.\/\.\.\/\.\.\/\.\."\) leads to .* outside .*inside the workspace/);
    assert.match((await resolveOutputFolder(model, outside, [root])).problem ?? '', /is an absolute path/);
    assert.match((await resolveOutputFolder(model, 'C:\\temp\\out', [root])).problem ?? '', /is an absolute path/);
    assert.match((await resolveOutputFolder(model, '  ', [root])).problem ?? '', /is empty/);
  });

  it('refuses the model\'s own folder and the folders above it (replacing them would delete the original)', async () => {
    const { root, model } = await workspace();
    for (const pattern of ['.', '..', 'x/..']) {
      assert.match((await resolveOutputFolder(model, pattern, [root])).problem ?? '', /model's own folder or one above it/, pattern);
    }
  });

  it('follows symbolic links: a link inside the workspace to a folder outside it is refused', async () => {
    const { root, model, outside } = await workspace();
    await fs.symlink(outside, path.join(path.dirname(model), 'elsewhere'));
    assert.match((await resolveOutputFolder(model, 'elsewhere/${name}', [root])).problem ?? '', /outside/);
  });

  it('keeps a model from outside the workspace to its own folder', async () => {
    const { root } = await workspace();
    const { model: stray } = await workspace();
    assert.deepStrictEqual(await resolveOutputFolder(stray, '${name}.condensed', [root]), { outDir: path.join(path.dirname(stray), 'model.condensed') });
    assert.match((await resolveOutputFolder(stray, '../elsewhere', [root])).problem ?? '', /outside/);
  });
});

describe('workspace trust and virtual workspaces (package.json)', () => {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as {
    capabilities: { untrustedWorkspaces: { supported: unknown; restrictedConfigurations: string[] }; virtualWorkspaces: unknown };
    contributes: { configuration: { properties: Record<string, unknown> } };
  };

  it('supports untrusted workspaces in part, taking every setting that names a path or a program, or lifts a limit, from the user only', () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.strictEqual(trust.supported, 'limited');
    // A workspace could otherwise raise the worker's memory cap that contains a hostile model.
    const restricted = ['condense.outputFolder', 'condense.calibration.file', 'condense.auto.validationInputs', 'condense.auto.validationTargets', 'condense.backend', 'condense.worker.memoryLimitMiB', 'condense.python'];
    assert.deepStrictEqual([...trust.restrictedConfigurations].sort(), restricted.sort());
    for (const key of trust.restrictedConfigurations) assert.ok(Object.hasOwn(manifest.contributes.configuration.properties, key), `${key} is not a setting`);
  });

  it('does not run in virtual workspaces (it reads and writes files on disk)', () => {
    assert.strictEqual(manifest.capabilities.virtualWorkspaces, false);
  });
});
