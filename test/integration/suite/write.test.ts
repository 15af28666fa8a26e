import * as assert from 'assert';
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { loadBackend } from '../../../src/core/compute/backend';
import { defaultOutputDir } from '../../../src/core/reduce';
import { Fidelity, verifyModels } from '../../../src/core/verify';
import type { ThresholdState } from '../../../src/shared/protocol';
import { api, sha256, workspaceModel } from './helpers';
import { CondenseReport, REPORT_FILE, type Timing } from '../../../src/core/reduction/report';

/**
 * The example's activation is GELU, where merging near-parallel units costs a little accuracy:
 * γ 0.9999 keeps about two thirds of the parameters at a max relative deviation near 0.007, so
 * 0.02 checks the written model closely without depending on the last digits of any backend.
 */
const THRESHOLDS: ThresholdState = { threshold: 0.9999, overrides: {} };
const TOLERANCE = 0.02;

describe('Write Reduced Model and Verify', () => {
  const model = workspaceModel('combustion-mlp', 'model.json');
  const shard = workspaceModel('combustion-mlp', 'group1-shard1of1.bin');
  const outDir = defaultOutputDir(model);
  let originalHashes: string[];

  before(async () => {
    originalHashes = await Promise.all([model, shard].map(sha256));
    // A fresh folder: replacing an existing output asks through a modal dialog first.
    assert.ok(!existsSync(outDir), `${outDir} exists already: the runner should start from a fresh workspace`);
  });

  it('writes the reduced model into <name>.condensed/ next to the model', async () => {
    const condense = await api();
    await condense.analyses.analyze(model);
    condense.analyses.setThresholds(model, THRESHOLDS);
    const expected = condense.analyses.estimateFor(model)!.totals;
    const result = await vscode.commands.executeCommand<{ outDir: string; paramsBefore: number; paramsAfter: number } | undefined>(
      'condense.writeReducedModel',
      vscode.Uri.file(model),
    );
    assert.ok(result, 'Write Reduced Model returned nothing');
    assert.strictEqual(result.outDir, outDir);
    assert.deepStrictEqual((await fs.readdir(outDir)).sort(), [REPORT_FILE, 'group1-shard1of1.bin', 'model.json']);
    // What was written is what the panel's estimate promised at these thresholds.
    assert.strictEqual(result.paramsBefore, expected.paramsBefore);
    assert.strictEqual(result.paramsAfter, expected.paramsAfter);
    assert.ok(result.paramsAfter < result.paramsBefore, 'nothing was reduced');
    const report = JSON.parse(await fs.readFile(path.join(outDir, REPORT_FILE), 'utf8')) as CondenseReport;
    assert.strictEqual(report.model, model);
    assert.strictEqual(report.reducedFile, 'model.json');
    assert.strictEqual(report.threshold, THRESHOLDS.threshold);
    assert.strictEqual(report.totals.paramsAfter, result.paramsAfter);
  });

  it('verifies the written model within tolerance, and tfjs loads it in the test too', async () => {
    const fidelity = await vscode.commands.executeCommand<Fidelity | undefined>('condense.verifyReducedModel', vscode.Uri.file(model));
    assert.ok(fidelity, 'Verify Reduced Model returned nothing');
    assert.strictEqual(fidelity.samples, vscode.workspace.getConfiguration('condense').get('verification.probeSamples'));
    assert.ok(fidelity.maxRel <= TOLERANCE, `Verify: max relative deviation ${fidelity.maxRel} > ${TOLERANCE}`);
    // Independently of the extension's worker: tfjs (cpu) builds both models here and runs the example's own inputs.
    const probe = await verifyModels(await loadBackend('cpu'), model, path.join(outDir, 'model.json'), { data: workspaceModel('combustion-mlp', 'probe-inputs.json') });
    assert.ok(probe.maxRel <= TOLERANCE, `tfjs on probe-inputs.json: max relative deviation ${probe.maxRel} > ${TOLERANCE}`);
  });

  it('with condense.verification.timing, times both models in the worker and keeps the timing in the report', async () => {
    const settings = vscode.workspace.getConfiguration('condense');
    await settings.update('verification.timing', true, vscode.ConfigurationTarget.Global);
    await settings.update('verification.timingBatchSizes', [1, 4], vscode.ConfigurationTarget.Global);
    try {
      const result = await vscode.commands.executeCommand<(Fidelity & { timing?: Timing }) | undefined>('condense.verifyReducedModel', vscode.Uri.file(model));
      assert.ok(result?.timing, 'Verify returned no timing');
      const { timing } = result;
      assert.deepStrictEqual(timing.batches.map((b) => b.batch), [1, 4]);
      for (const b of timing.batches) assert.ok(b.originalMs > 0 && b.reducedMs > 0 && b.runs >= 5, JSON.stringify(b));
      assert.match(timing.runtime, /^tfjs /);
      // The multiply-adds of a Dense network are its kernels: as the panel's estimate counts them.
      const totals = (await api()).analyses.estimateFor(model)!.totals;
      assert.ok(timing.macs && Math.abs(timing.macs.ratio - totals.macsBefore / totals.macsAfter) < 1e-9 * timing.macs.ratio);
      const report = JSON.parse(await fs.readFile(path.join(outDir, REPORT_FILE), 'utf8')) as CondenseReport;
      assert.deepStrictEqual(report.timing, timing);
    } finally {
      await settings.update('verification.timing', undefined, vscode.ConfigurationTarget.Global);
      await settings.update('verification.timingBatchSizes', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it("leaves the original model's bytes unchanged", async () => {
    assert.deepStrictEqual(await Promise.all([model, shard].map(sha256)), originalHashes);
  });

  it('refuses an output folder leading out of the workspace, and writes nothing there', async () => {
    const settings = vscode.workspace.getConfiguration('condense');
    const pattern = '../../../condense-escape-${name}';
    const escaped = defaultOutputDir(model, pattern);
    await settings.update('outputFolder', pattern, vscode.ConfigurationTarget.Global);
    try {
      const result = await vscode.commands.executeCommand('condense.writeReducedModel', vscode.Uri.file(model));
      assert.strictEqual(result, undefined, 'Write Reduced Model wrote outside the workspace');
      assert.ok(!existsSync(escaped), `${escaped} was created`);
    } finally {
      await settings.update('outputFolder', undefined, vscode.ConfigurationTarget.Global);
    }
  });
});
