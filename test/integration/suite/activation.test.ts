import * as assert from 'assert';
import { existsSync } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { EXTENSIONS_DIR_ENV } from '../shared';
import { api, extension, suiteName, waitFor, workspaceModel } from './helpers';

const COMMANDS = ['condense.condenseModel', 'condense.writeReducedModel', 'condense.verifyReducedModel', 'condense.refreshModels', 'condense.findThresholds'];

/** What the extension loads at run time from its own folder: the VSIX must carry every one. */
const RUNTIME_FILES = [
  'dist/extension.js',
  'dist/worker.js',
  'dist/webview.js',
  'dist/tfjs-backend-wasm.wasm',
  'dist/codicons/codicon.css',
  'dist/codicons/codicon.ttf',
  'media/panel.css',
  'media/condense.svg',
];

describe(`activation (${suiteName})`, () => {
  it('activates by itself in a workspace holding a model, and registers its commands', async () => {
    // No command has run yet: activation comes from workspaceContains:**/model.json.
    const condense = await api();
    const commands = await vscode.commands.getCommands(true);
    for (const command of COMMANDS) assert.ok(commands.includes(command), `${command} is not registered`);
    // The background scan finds the example models.
    for (const model of [workspaceModel('combustion-mlp', 'model.json'), workspaceModel('small-cnn', 'model.json')]) {
      await waitFor(`the scan to find ${model}`, () => condense.index.has(model), { describe: () => JSON.stringify(condense.index.list()) });
    }
  });

  it('runs the copy under test', () => {
    const { extensionPath } = extension();
    if (suiteName === 'development') {
      assert.strictEqual(extensionPath, path.resolve(__dirname, '..', '..', '..'), 'the extension should run from the repository');
      return;
    }
    const installed = process.env[EXTENSIONS_DIR_ENV];
    assert.ok(installed && extensionPath.startsWith(installed + path.sep), `the extension runs from ${extensionPath}, not from the VSIX installed into ${installed}`);
    const missing = RUNTIME_FILES.filter((file) => !existsSync(path.join(extensionPath, file)));
    assert.deepStrictEqual(missing, [], 'files missing from the VSIX');
  });
});
