import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import * as tf from '@tensorflow/tfjs';
import type { CondenseResult } from '../../../src/extension/features/condenseModel';
import { saveLayersModel } from '../../helpers/models';
import { api, hasLauncher, notificationMessages, waitFor, workspaceModel } from './helpers';

/** Broken copies of the example, made in the workspace, with the error each must produce. */
async function brokenModels(): Promise<{ file: string; error: string }[]> {
  const source = workspaceModel('combustion-mlp');
  const truncated = workspaceModel('broken-truncated');
  await fs.mkdir(truncated, { recursive: true });
  await fs.copyFile(path.join(source, 'model.json'), path.join(truncated, 'model.json'));
  const bytes = await fs.readFile(path.join(source, 'group1-shard1of1.bin'));
  await fs.writeFile(path.join(truncated, 'group1-shard1of1.bin'), bytes.subarray(0, 1000));
  const badJson = workspaceModel('broken-json');
  await fs.mkdir(badJson, { recursive: true });
  await fs.writeFile(path.join(badJson, 'model.json'), '{"modelTopology": {"class_name": "Sequential", ');
  return [
    { file: path.join(truncated, 'model.json'), error: 'weight group 1 is truncated' },
    { file: path.join(badJson, 'model.json'), error: 'malformed JSON' },
  ];
}

describe('malformed models', () => {
  it('report an error and leave the extension working for the next model', async () => {
    const condense = await api();
    for (const { file, error } of await brokenModels()) {
      const result = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(file));
      assert.strictEqual(result, undefined, `Condense Model on ${file} should fail`);
      assert.strictEqual(condense.analyses.cached(file), undefined);
      if (hasLauncher) {
        // The error message names the file and the problem (read from the notification centre).
        let seen: string[] = [];
        await waitFor(`an error notification naming ${file} and "${error}"`, async () => (seen = await notificationMessages()).some((m) => m.includes(file) && m.includes(error)), {
          timeoutMs: 30_000,
          describe: () => JSON.stringify(seen),
        });
      }
      condense.panelFor(file)?.dispose();
    }
    // The next model still works: the worker survived (or was replaced).
    const next = workspaceModel('small-cnn', 'model.json');
    const result = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(next));
    assert.ok(result, 'Condense Model failed on a good model after the broken ones');
    assert.strictEqual(result.model, next);
    assert.ok(result.layers.some((l) => l.name === 'conv1' && l.clusters === 8), JSON.stringify(result.layers));
  });

  it('a model that needs more memory than the worker may use ends only the worker, saying so; the next model works', async () => {
    const condense = await api();
    // Two inputs to 12 000 units: a few kilobytes on disk, a 12 000² similarity matrix (576 MB) to analyse.
    const wide = await saveLayersModel(
      tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 12_000, activation: 'relu' }), tf.layers.dense({ units: 1 })] }),
      workspaceModel('too-wide'),
    );
    await waitFor('the scan to find the wide model', () => condense.index.has(wide));
    const settings = vscode.workspace.getConfiguration('condense');
    await settings.update('worker.memoryLimitMiB', 300, vscode.ConfigurationTarget.Global);
    try {
      const result = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(wide));
      assert.strictEqual(result, undefined, 'Condense Model should fail on a model beyond the memory cap');
      if (hasLauncher) {
        let seen: string[] = [];
        await waitFor('an error notification naming the model and the memory limit', async () => (seen = await notificationMessages()).some((m) => m.includes(wide) && m.includes('ran out of memory (limit 300 MiB)')), {
          timeoutMs: 30_000,
          describe: () => JSON.stringify(seen),
        });
      }
      condense.panelFor(wide)?.dispose();
      const next = workspaceModel('combustion-mlp', 'model.json');
      condense.analyses.invalidate(next);
      const answer = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(next));
      assert.strictEqual(answer?.model, next, 'Condense Model failed on a good model after the worker ran out of memory');
    } finally {
      await settings.update('worker.memoryLimitMiB', undefined, vscode.ConfigurationTarget.Global);
    }
  });
});

describe('a weight named like a command link', () => {
  it('is quoted in the error notification as inert text, not as a link', async () => {
    const condense = await api();
    const source = workspaceModel('combustion-mlp');
    const dir = workspaceModel('broken-link-name');
    await fs.mkdir(dir, { recursive: true });
    const json = JSON.parse(await fs.readFile(path.join(source, 'model.json'), 'utf8')) as { weightsManifest: { weights: Record<string, unknown>[] }[] };
    json.weightsManifest[0].weights[0] = { ...json.weightsManifest[0].weights[0], name: '[x](command:workbench.action.quit "t")', dtype: 'float64' };
    const file = path.join(dir, 'model.json');
    await fs.writeFile(file, JSON.stringify(json));
    await fs.copyFile(path.join(source, 'group1-shard1of1.bin'), path.join(dir, 'group1-shard1of1.bin'));
    const result = await vscode.commands.executeCommand<CondenseResult | undefined>('condense.condenseModel', vscode.Uri.file(file));
    assert.strictEqual(result, undefined);
    if (hasLauncher) {
      // A link would show as its label "x"; the inert text keeps the whole name, in look-alike brackets.
      let seen: string[] = [];
      await waitFor('an error notification quoting the weight name as text', async () => (seen = await notificationMessages()).some((m) => m.includes(file) && m.includes('float64') && m.includes('\uff3bx\uff3d(command\u2236workbench.action.quit')), {
        timeoutMs: 30_000,
        describe: () => JSON.stringify(seen),
      });
    }
    condense.panelFor(file)?.dispose();
  });
});
