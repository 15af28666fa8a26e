/**
 * Issue 7 §1: condense–retrain cycles from the CLI. On combustion-mlp with the original's outputs as
 * targets, the written model is smaller than the original and its validation MSE — recomputed with
 * tfjs on the written folder — meets the tolerance; then the usage errors.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { main } from '../../src/cli/main';
import { loadModel } from '../../src/core/analysis';
import { GraphEvaluator, isUnsupported } from '../../src/core/forward';
import { normalSamples, uniformSamples } from '../../src/core/random';
import type { CondenseReport } from '../../src/core/reduce';
import { encodeSafetensors } from '../../src/core/torch/safetensors';
import { tempDir } from '../helpers/models';
import { loadFolderWithTfjs, readJson, useCpu } from '../helpers/tfjs';

const COMBUSTION = path.resolve(__dirname, '..', '..', 'examples', 'combustion-mlp', 'model.json');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('condense–retrain cycles (CLI)', function () {
  let dir: string;
  const files: Record<string, string> = {};
  let valInputs: number[][];
  let valTargets: number[][];

  before(async () => {
    await useCpu();
    dir = await tempDir();
    const { graph } = (await loadModel(COMBUSTION)).source;
    const make = async (name: string, rows: number, seed: number): Promise<{ x: number[][]; y: number[][] }> => {
      const u = uniformSamples(rows * 6, -1.8, 1.8, seed);
      const x = Array.from({ length: rows }, (_, r) => Array.from(u.subarray(r * 6, (r + 1) * 6)));
      const out = await new GraphEvaluator(graph, { shape: [rows, 6], data: Float64Array.from(x.flat()) }).output(graph.outputs[0]);
      assert.ok(!isUnsupported(out));
      const width = out.data.length / rows;
      // The original's outputs plus 5 % noise: with exact targets the original's MSE would be 0 and tolerate nothing.
      const rms = Math.sqrt(out.data.reduce((s, v) => s + v * v, 0) / out.data.length);
      const noise = normalSamples(out.data.length, seed + 100);
      const y = x.map((_, r) => Array.from({ length: width }, (_, c) => out.data[r * width + c] + 0.05 * rms * noise[r * width + c]));
      files[`${name}-x`] = path.join(dir, `${name}-x.json`);
      files[`${name}-y`] = path.join(dir, `${name}-y.json`);
      await fs.writeFile(files[`${name}-x`], JSON.stringify(x));
      await fs.writeFile(files[`${name}-y`], JSON.stringify(y));
      return { x, y };
    };
    await make('train', 128, 31);
    const val = await make('val', 96, 32);
    valInputs = val.x;
    valTargets = val.y;
  });

  const flags = (): string[] => [
    '--train-inputs', files['train-x'], '--train-targets', files['train-y'],
    '--val-inputs', files['val-x'], '--val-targets', files['val-y'],
  ];

  it('writes a smaller model whose validation metric (recomputed with tfjs) meets the tolerance', async () => {
    const out = path.join(dir, 'retrained');
    const tolerance = 2;
    const r = await cli('reduce', COMBUSTION, '--out', out, ...flags(), '--tolerance', String(tolerance), '--epochs', '1', '--rounds', '2', '--threshold', '0.999', '--backend', 'cpu');
    assert.strictEqual(r.code, 0, r.out + r.err);
    assert.match(r.out, /Round 1:/);
    const report = (await readJson(path.join(out, 'condense-report.json'))) as CondenseReport;
    assert.ok(report.retrain, 'the report holds the rounds');
    assert.ok(report.retrain.rounds.length >= 1 && report.retrain.rounds.length <= 2);
    const chosen = report.retrain.rounds.find((x) => x.round === report.retrain!.chosen)!;
    assert.ok(chosen.meets && chosen.paramsRatio < 1, JSON.stringify(report.retrain.rounds));

    const original = await loadFolderWithTfjs(path.dirname(COMBUSTION));
    const written = await loadFolderWithTfjs(out);
    assert.ok(written.countParams() < original.countParams());
    const x = tf.tensor(valInputs);
    const t = tf.tensor(valTargets);
    const mse = (m: tf.LayersModel): number => tf.tidy(() => tf.mean(tf.squaredDifference(m.predict(x) as tf.Tensor, t)).dataSync()[0]);
    const before = mse(original);
    const after = mse(written);
    tf.dispose([x, t]);
    original.dispose();
    written.dispose();
    assert.ok((after - before) / before <= tolerance * (1 + 1e-3), `tfjs: MSE ${before} → ${after}`);
    // The original's folder holds no leftovers.
    assert.deepStrictEqual((await fs.readdir(path.dirname(COMBUSTION))).sort(), ['group1-shard1of1.bin', 'model.json', 'normalization.json', 'probe-inputs.json']);
  });

  it('usage: a missing --tolerance and a non-TF.js model exit 2 naming the problem', async () => {
    const missing = await cli('reduce', COMBUSTION, '--out', path.join(dir, 'x'), ...flags());
    assert.strictEqual(missing.code, 2);
    assert.match(missing.err, /--tolerance/);

    const weights = Float32Array.from({ length: 6 * 4 }, (_, i) => Math.sin(i));
    const bias = new Float32Array(4);
    const st = encodeSafetensors([
      { name: 'fc.weight', dtype: 'float32', shape: [4, 6], bytes: new Uint8Array(weights.buffer) },
      { name: 'fc.bias', dtype: 'float32', shape: [4], bytes: new Uint8Array(bias.buffer) },
    ], null);
    const file = path.join(dir, 'model.safetensors');
    await fs.writeFile(file, st);
    const other = await cli('reduce', file, '--out', path.join(dir, 'y'), ...flags(), '--tolerance', '0.1');
    assert.strictEqual(other.code, 2, other.err);
    assert.match(other.err, /retraining supports TF\.js Layers models for now/);
  });
});
