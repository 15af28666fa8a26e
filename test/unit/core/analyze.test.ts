/**
 * analyzeFile: the one way from a file to its analysis (open, calibration inputs, analyse) that the CLI,
 * the worker and the retrain rounds share.
 */
import { strict as assert } from 'assert';
import * as path from 'path';
import { analyzeFile, analyzeModel, loadModel } from '../../../src/core/analyze';
import { loadCalibration } from '../../../src/core/data/calibration';

const COMBUSTION = path.resolve(__dirname, '..', '..', '..', 'examples', 'combustion-mlp', 'model.json');

describe('analyzeFile', () => {
  it('without calibration inputs: the weights-only analysis of the opened model, and no calibration', async () => {
    const { analysis, calibration } = await analyzeFile(COMBUSTION);
    assert.equal(calibration, undefined);
    assert.equal(analysis.model.source.path, COMBUSTION);
    const direct = await analyzeModel(await loadModel(COMBUSTION));
    assert.deepStrictEqual(analysis.summary, direct.summary);
    assert.ok(analysis.summary.layers.some((l) => l.analysed) && analysis.summary.layers.every((l) => l.similarity !== 'data'));
  });

  it('with a calibration spec: reads the inputs for the model and measures similarity on them, as the steps one by one do', async () => {
    const spec = { range: [-1, 1] as [number, number], samples: 64, seed: 3 };
    const { analysis, calibration } = await analyzeFile(COMBUSTION, { calibration: spec });
    assert.ok(calibration);
    assert.equal(calibration.description, '64 uniform samples in [-1, 1]');
    const model = await loadModel(COMBUSTION);
    const direct = await analyzeModel(model, { calibration: await loadCalibration(model.source.graph, spec, model.source.path) });
    assert.deepStrictEqual(analysis.summary, direct.summary);
    assert.ok(analysis.summary.layers.some((l) => l.similarity === 'data'));
  });

  it('passes the analysis options through (progress reports up to every producer)', async () => {
    const seen: number[] = [];
    const { analysis } = await analyzeFile(COMBUSTION, { onProgress: (p) => seen.push(p.done) });
    assert.equal(seen.at(-1), analysis.model.producers.length);
  });
});
