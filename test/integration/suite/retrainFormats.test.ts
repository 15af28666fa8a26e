import * as assert from 'assert';
import { spawnSync } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { loadModel } from '../../../src/core/analyze';
import { GraphEvaluator, isUnsupported } from '../../../src/core/compute/evaluator';
import { REPORT_FILE, type CondenseReport } from '../../../src/core/reduction/report';
import { graphParams } from '../../../src/core/train/rounds';
import type { RetrainCommandResult } from '../../../src/extension/features/retrain';
import type { RoundWritten } from '../../../src/extension/retrains';
import { formatGamma } from '../../../src/shared/hints';
import { writeRetrainData, type RetrainData } from '../../fixtures/retrain/data';
import { api, extension, hasLauncher, note, screenshot, sha256, waitFor, webviewTexts, workspaceModel } from './helpers';

/**
 * Condense and Retrain on models other than TF.js, with the settings' defaults — the learning rate and
 * each round's γ "auto", chosen by the engine — in the real VS Code: the ONNX MLP with the embedded
 * trainer, then the PyTorch .pt MLP with the PyTorch trainer (condense.retrain.trainer = pytorch; skipped,
 * saying why, only when no Python here imports torch). Each run completes, the panel shows its rounds
 * and what was chosen, the chosen round is written next to the original, and the written file loads,
 * has the round's (fewer) parameters and gives the round's validation MSE. The fixtures are the unit
 * tests' (made by scripts/make-onnx-fixtures.py and make-torch-fixtures.py), copied into the workspace.
 */
describe('Condense and Retrain on ONNX and PyTorch models, choosing the learning rate and thresholds', () => {
  const fixture = (...parts: string[]): string => path.join(extension().extensionPath, 'test', 'fixtures', ...parts);

  /** Copies the fixture into a folder of its own in the workspace, with training and validation data made from it. */
  async function prepare(folder: string, source: string): Promise<{ model: string; data: RetrainData; hash: string }> {
    const dir = workspaceModel(folder);
    await fs.mkdir(dir, { recursive: true });
    const model = path.join(dir, path.basename(source));
    await fs.copyFile(source, model);
    // Weights-only files do not record their activation: the engine's default (ReLU) is the extension's default setting.
    const data = await writeRetrainData(dir, model, { train: 96, val: 64 });
    return { model, data, hash: await sha256(model) };
  }

  /**
   * Runs Condense and Retrain with only the data and the run's length given, checks what the engine
   * chose and what the panel shows, writes the chosen round and checks the written file.
   */
  async function retrainAndWrite(model: string, data: RetrainData, written: { file: string; activation?: string }): Promise<CondenseReport> {
    const condense = await api();
    // The only panel open: the webview texts below are this run's.
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const result = await vscode.commands.executeCommand<RetrainCommandResult | undefined>('condense.retrain', vscode.Uri.file(model), {
      trainInputs: data.train.inputs, trainTargets: data.train.targets, valInputs: data.val.inputs, valTargets: data.val.targets,
      tolerance: 10, epochs: 2, rounds: 2,
    });
    assert.ok(result, 'Condense and Retrain returned nothing (see the notifications)');
    const { summary } = result;
    assert.strictEqual(result.outcome, 'completed', JSON.stringify(summary));
    // "auto" reached the engine: a range test chose the rate, and each round's γ was cut from the trees.
    assert.strictEqual(summary.learningRate?.chosenBy, 'range test', JSON.stringify(summary.learningRate));
    assert.match(summary.thresholds ?? '', /^each round removes 12 % of the remaining units/);
    assert.ok(summary.rounds.length >= 1 && summary.rounds.every((r) => r.threshold !== undefined && r.threshold < 1), JSON.stringify(summary.rounds));
    const view = condense.retrains.view(model)!;
    assert.deepStrictEqual([view.status, view.plan.learningRate, view.plan.threshold], ['completed', 'auto', 'auto']);
    assert.ok(summary.chosen !== null, `no round within the tolerance: ${JSON.stringify(summary.rounds)}`);
    const chosen = summary.rounds.find((r) => r.round === summary.chosen)!;
    assert.ok(chosen.params < summary.paramsBefore);

    const out = await vscode.commands.executeCommand<RoundWritten | undefined>('condense.writeRetrainedRound', vscode.Uri.file(model), chosen.round);
    assert.ok(out, `writing round ${chosen.round} returned nothing`);
    assert.strictEqual(path.dirname(out.outDir), path.dirname(model));
    assert.strictEqual(out.mainFile, path.join(out.outDir, written.file));
    assert.deepStrictEqual((await fs.readdir(out.outDir)).sort(), [REPORT_FILE, written.file].sort());
    // The written file loads, holds the round's parameters, and gives the round's validation MSE.
    const { graph } = (await loadModel(out.mainFile, { activation: written.activation })).source;
    assert.deepStrictEqual([graphParams(graph), out.paramsAfter], [chosen.params, chosen.params]);
    const rows = data.val.x.length;
    const y = await new GraphEvaluator(graph, { shape: [rows, data.val.x[0].length], data: Float64Array.from(data.val.x.flat()) }).output(graph.outputs[0]);
    if (isUnsupported(y)) throw new Error(y.unsupported);
    const targets = data.val.y.flat();
    const mse = targets.reduce((s, t, i) => s + (y.data[i] - t) ** 2, 0) / targets.length;
    assert.ok(Math.abs(mse - chosen.metric) <= 1e-4 * chosen.metric, `reported ${chosen.metric}, the written file gives ${mse}`);
    const report = JSON.parse(await fs.readFile(path.join(out.outDir, REPORT_FILE), 'utf8')) as CondenseReport;
    assert.strictEqual(report.retrain?.written, chosen.round);

    if (hasLauncher) {
      // The panel, as drawn: a row per round with its γ, the written mark, and the range test's pick.
      const expected = summary.rounds.map((r) => `${r.round}${r.round === chosen.round ? ' (smallest within)' : ''} · γ ${formatGamma(r.threshold!)}`);
      let seen: string[] = [];
      await waitFor('the panel to show the rounds', async () => JSON.stringify((seen = await webviewTexts('section.retrain tbody tr td:first-child'))) === JSON.stringify(expected), {
        timeoutMs: 30_000,
        describe: () => `${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`,
      });
      assert.deepStrictEqual(await webviewTexts(`section.retrain tbody tr[data-round="${chosen.round}"] .written`), [' written']);
      const [choices] = await webviewTexts('section.retrain .retrain-choices');
      assert.ok(choices?.startsWith(`Learning rate ${summary.learningRate.value} (range test; validation loss after one epoch at `), choices);
      assert.ok(choices.includes(`Trained by ${summary.trainer}.`), choices);
      await screenshot(`retrain-${path.basename(model).replace(/\W/g, '-')}`);
    }
    return report;
  }

  it('ONNX, embedded trainer: the range test and per-round γ choose, and the chosen round is written as .onnx', async () => {
    const { model, data, hash } = await prepare('onnx-retrain', fixture('onnx', 'mlp.onnx'));
    const report = await retrainAndWrite(model, data, { file: 'mlp.onnx' });
    assert.match(report.retrain?.trainer ?? '', /^embedded tfjs/);
    assert.strictEqual(await sha256(model), hash, 'the original is unchanged');
  });

  describe('with the PyTorch trainer', () => {
    let python: string | undefined;
    const settings = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration('condense');

    before(async function () {
      // CI installs python3-torch with apt (/usr/bin/python3); python3 on PATH may be another Python.
      python = ['/usr/bin/python3', 'python3'].find((candidate) => spawnSync(candidate, ['-c', 'import torch, numpy'], { timeout: 60_000 }).status === 0);
      if (!python) {
        note('    skipped: neither /usr/bin/python3 nor python3 on PATH imports torch and numpy (install python3-torch)');
        this.skip();
      }
      // User settings: condense.python is not read from an untrusted workspace's settings.
      await settings().update('retrain.trainer', 'pytorch', vscode.ConfigurationTarget.Global);
      await settings().update('python', python, vscode.ConfigurationTarget.Global);
    });

    after(async () => {
      if (!python) return;
      await settings().update('retrain.trainer', undefined, vscode.ConfigurationTarget.Global);
      await settings().update('python', undefined, vscode.ConfigurationTarget.Global);
    });

    it('PyTorch .pt: trained by PyTorch, the chosen round written as .safetensors', async () => {
      const { model, data, hash } = await prepare('torch-retrain', fixture('torch', 'mlp.pt'));
      const report = await retrainAndWrite(model, data, { file: 'mlp.safetensors', activation: 'relu' });
      assert.match(report.retrain?.trainer ?? '', new RegExp(`^PyTorch .* on cpu.*${python!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      assert.strictEqual(await sha256(model), hash, 'the original is unchanged');
    });
  });
});
