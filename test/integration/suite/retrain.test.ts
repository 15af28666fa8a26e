import * as assert from 'assert';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import type { RetrainCommandResult } from '../../../src/extension/features/retrain';
import type { RoundWritten } from '../../../src/extension/retrains';
import { writeRetrainData, type RetrainData } from '../../fixtures/retrain/data';
import { api, hasLauncher, screenshot, sha256, workspaceModel } from './helpers';
import { REPORT_FILE, type CondenseReport } from '../../../src/core/reduction/report';

/**
 * Condense and Retrain on the example MLP in the real VS Code: a run to completion (epochs and
 * rounds reported to the panel's view, a round written next to the original under the output-folder
 * setting), then a run cancelled after its first round, whose round stays writable. Training data: the
 * example's own outputs plus noise (test/fixtures/retrain/data.ts), made in the workspace. Closing
 * the panel mid-run discards the run (and says so), and invalid settings are refused before a run starts.
 */
describe('Condense and Retrain', () => {
  const model = workspaceModel('combustion-mlp', 'model.json');
  const shard = workspaceModel('combustion-mlp', 'group1-shard1of1.bin');
  /** Another output folder than Write Reduced Model's test uses, so no replace prompt can come up. */
  const OUTPUT = '${name}.retrained';
  const outDir = workspaceModel('combustion-mlp', 'model.retrained');
  let data: RetrainData;
  let originalHashes: string[];

  before(async () => {
    originalHashes = await Promise.all([model, shard].map(sha256));
    const dir = workspaceModel('retrain-data');
    await fs.mkdir(dir, { recursive: true });
    data = await writeRetrainData(dir, model);
    const settings = vscode.workspace.getConfiguration('condense');
    await settings.update('outputFolder', OUTPUT, vscode.ConfigurationTarget.Workspace);
    // Fixed settings instead of the engine's choices ("auto", retrainFormats.test.ts): every round
    // condenses at a γ that keeps most of the GELU example's function, from a set learning rate.
    await settings.update('retrain.threshold', 0.999, vscode.ConfigurationTarget.Workspace);
    await settings.update('retrain.learningRate', 0.001, vscode.ConfigurationTarget.Workspace);
  });

  after(async () => {
    const settings = vscode.workspace.getConfiguration('condense');
    for (const key of ['outputFolder', 'retrain.threshold', 'retrain.learningRate']) await settings.update(key, undefined, vscode.ConfigurationTarget.Workspace);
  });

  const files = () => ({ trainInputs: data.train.inputs, trainTargets: data.train.targets, valInputs: data.val.inputs, valTargets: data.val.targets });

  it('retrains round after round, showing every epoch and round in the panel, and writes a round', async () => {
    const condense = await api();
    const result = await vscode.commands.executeCommand<RetrainCommandResult | undefined>('condense.retrain', vscode.Uri.file(model), {
      ...files(), tolerance: 2, epochs: 2, rounds: 2,
    });
    assert.ok(result, 'Condense and Retrain returned nothing (see the notifications)');
    assert.strictEqual(result.outcome, 'completed');
    assert.strictEqual(result.summary.rounds.length, 2, JSON.stringify(result.summary.rounds));
    assert.ok(result.summary.rounds[1].params < result.summary.rounds[0].params && result.summary.rounds[0].paramsRatio < 1);
    // The settings' numbers reached the engine as given.
    assert.deepStrictEqual([result.summary.thresholds, result.summary.learningRate], ['given: 0.999', { value: 0.001, chosenBy: 'given' }]);
    const view = condense.retrains.view(model)!;
    // condense.retrain.batchSize is "auto" by default, as the CLI without --batch-size: the engine chose 32 for 128 rows.
    assert.deepStrictEqual([view.plan.batchSize, result.summary.batchSize], ['auto', 32]);
    assert.strictEqual(view.status, 'completed');
    assert.deepStrictEqual(view.epochs.map((e) => `${e.round}.${e.epoch}`), ['1.1', '1.2', '2.1', '2.2']);
    assert.deepStrictEqual(view.summary, result.summary);
    assert.ok(condense.panelFor(model), 'the panel is open');
    if (hasLauncher) await screenshot('retrain-panel');

    const written = await vscode.commands.executeCommand<RoundWritten | undefined>('condense.writeRetrainedRound', vscode.Uri.file(model), 1);
    assert.ok(written, 'writing round 1 returned nothing');
    assert.strictEqual(written.outDir, outDir);
    assert.deepStrictEqual((await fs.readdir(outDir)).sort(), [REPORT_FILE, 'group1-shard1of1.bin', 'model.json']);
    assert.strictEqual(written.paramsAfter, result.summary.rounds[0].params);
    const report = JSON.parse(await fs.readFile(path.join(outDir, REPORT_FILE), 'utf8')) as CondenseReport;
    assert.strictEqual(report.model, model);
    assert.strictEqual(report.retrain?.written, 1);
    // The written weights: as many as the round kept (the shard holds float32 values).
    const manifest = JSON.parse(await fs.readFile(path.join(outDir, 'model.json'), 'utf8')) as { weightsManifest: { weights: { shape: number[] }[] }[] };
    const count = manifest.weightsManifest.flatMap((g) => g.weights).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
    assert.strictEqual(count, written.paramsAfter);
    assert.strictEqual((await fs.stat(path.join(outDir, 'group1-shard1of1.bin'))).size, 4 * count);
    assert.deepStrictEqual(condense.retrains.view(model)!.written, [{ round: 1, outDir }]);
  });

  it('cancels cooperatively after a round; the finished round stays writable', async () => {
    const condense = await api();
    // Cancel once the first round is reported (as the notification's or the panel's Cancel would).
    const stop = condense.retrains.onDidChange((changed) => {
      if (changed === model && condense.retrains.view(model)?.summary?.rounds.length === 1) condense.retrains.cancel(model);
    });
    try {
      const result = await vscode.commands.executeCommand<RetrainCommandResult | undefined>('condense.retrain', vscode.Uri.file(model), {
        ...files(), tolerance: 2, epochs: 3, rounds: 3,
      });
      assert.ok(result, 'Condense and Retrain returned nothing');
      assert.strictEqual(result.outcome, 'cancelled');
      assert.deepStrictEqual(result.summary.rounds.map((r) => r.round), [1]);
    } finally {
      stop();
    }
    assert.strictEqual(condense.retrains.view(model)?.status, 'cancelled');
    await fs.rm(outDir, { recursive: true, force: true });
    const written = await vscode.commands.executeCommand<RoundWritten | undefined>('condense.writeRetrainedRound', vscode.Uri.file(model), 1);
    assert.ok(written && existsSync(path.join(written.outDir, 'model.json')));
    assert.strictEqual(written.paramsAfter, condense.retrains.view(model)!.summary!.rounds[0].params);
  });

  it('closing the panel mid-run discards the run honestly, and a new run works in a new panel', async () => {
    const condense = await api();
    // Close the panel once the first epoch is shown (as the user closing its tab would).
    const stop = condense.retrains.onDidChange((changed) => {
      if (changed === model && condense.retrains.view(model)?.epochs.length === 1) condense.panelFor(model)?.panel.dispose();
    });
    try {
      const result = await vscode.commands.executeCommand<RetrainCommandResult | undefined>('condense.retrain', vscode.Uri.file(model), {
        ...files(), tolerance: 2, epochs: 3, rounds: 3,
      });
      assert.ok(result, 'Condense and Retrain returned nothing');
      assert.deepStrictEqual([result.outcome, result.writable], ['cancelled', false]);
    } finally {
      stop();
    }
    assert.strictEqual(condense.panelFor(model), undefined);
    assert.strictEqual(condense.retrains.view(model), null);
    // No output folder there, so no replace prompt: writing fails on the discarded run.
    await fs.rm(outDir, { recursive: true, force: true });
    assert.strictEqual(await vscode.commands.executeCommand('condense.writeRetrainedRound', vscode.Uri.file(model), 1), undefined);

    // The closed panel no longer listens: a new run starts, and its new panel follows it.
    const again = await vscode.commands.executeCommand<RetrainCommandResult | undefined>('condense.retrain', vscode.Uri.file(model), {
      ...files(), tolerance: 2, epochs: 1, rounds: 1,
    });
    assert.ok(again, 'a run after closing the panel returned nothing');
    assert.deepStrictEqual([again.outcome, again.writable], ['completed', true]);
    assert.ok(condense.panelFor(model), 'the new run opened a panel');
    assert.strictEqual(condense.retrains.view(model)?.status, 'completed');
  });

  it('refuses invalid settings before starting, naming them', async () => {
    const condense = await api();
    const before = condense.retrains.view(model);
    const result = await vscode.commands.executeCommand<RetrainCommandResult | undefined>('condense.retrain', vscode.Uri.file(model), {
      ...files(), tolerance: 2, epochs: 2.5, rounds: 1,
    });
    assert.strictEqual(result, undefined);
    assert.strictEqual(condense.retrains.view(model), before, 'no run started');
  });

  it("leaves the original model's bytes unchanged", async () => {
    assert.deepStrictEqual(await Promise.all([model, shard].map(sha256)), originalHashes);
  });
});
