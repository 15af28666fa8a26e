/**
 * Hardware-friendly widths (--round-to N): each reduced width is a multiple of N capped at the
 * layer's width, never fewer units than at γ, reached by splitting clusters (never merging more),
 * and the units kept alone compute exactly what they computed before.
 */
import * as assert from 'assert';
import * as path from 'path';
import { analyzeFile } from '../../../../src/core/analyze';
import { estimate, keptUnits, roundedWidth } from '../../../../src/core/estimate';
import { GraphEvaluator, isUnsupported } from '../../../../src/core/compute/evaluator';
import { openModel } from '../../../../src/core/formats/index';
import { planMerge } from '../../../../src/core/reduction/merge';
import { reduceModel } from '../../../../src/core/reduce';
import { uniformSamples } from '../../../../src/core/data/random';
import { main } from '../../../../src/cli/main';
import { tempDir } from '../../../helpers/models';

const EXAMPLE = path.join(__dirname, '..', '..', '..', '..', 'examples', 'combustion-mlp', 'model.json');
const GAMMA = 0.9;

describe('--round-to: hardware-friendly widths', function () {
  it('rounds up to a multiple of N, capped at the width; 1 or none leaves it', () => {
    assert.strictEqual(roundedWidth(17, 128, 8), 24);
    assert.strictEqual(roundedWidth(24, 128, 8), 24);
    assert.strictEqual(roundedWidth(125, 128, 8), 128);
    assert.strictEqual(roundedWidth(7, 10, 8), 8);
    assert.strictEqual(roundedWidth(9, 10, 8), 10);
    assert.strictEqual(roundedWidth(17, 128, 1), 17);
    assert.strictEqual(roundedWidth(17, 128), 17);
  });

  it('plans widths that are multiples of N, never below γ, by splitting γ clusters only', async () => {
    const { analysis } = await analyzeFile(EXAMPLE);
    const atGamma = planMerge(analysis, GAMMA);
    for (const roundTo of [8, 16, 48]) {
      const rounded = planMerge(analysis, GAMMA, roundTo);
      const sizes = estimate(analysis.summary, GAMMA, roundTo);
      rounded.layers.forEach((layer, i) => {
        const width = layer.kept.length;
        const plain = atGamma.layers[i];
        assert.ok(width % roundTo === 0 || width === layer.unitsBefore, `${layer.name}: ${width} is no multiple of ${roundTo}`);
        assert.ok(width >= plain.kept.length && width <= layer.unitsBefore, `${layer.name}: ${width} vs ${plain.kept.length} at γ`);
        assert.strictEqual(sizes.layers.find((l) => l.name === layer.name)!.unitsAfter, width, 'the estimate and the plan agree');
        // Every rounded cluster lies inside one cluster at γ: more representatives, no new merges.
        const clusterAtGamma = new Map(plain.groups.flatMap((g, k) => g.members.map((m) => [m, k] as const)));
        for (const group of layer.groups) {
          assert.strictEqual(new Set(group.members.map((m) => clusterAtGamma.get(m))).size, 1, `${layer.name}: a rounded cluster spans two clusters at γ`);
        }
      });
      assert.ok(rounded.layers.some((l, i) => l.kept.length > atGamma.layers[i].kept.length), `round-to ${roundTo} changed nothing`);
    }
    const summary = analysis.summary.layers.find((l) => l.reducible)!;
    assert.strictEqual(keptUnits(summary, GAMMA, 1), keptUnits(summary, GAMMA));
  });

  it('a reduced model at --round-to keeps its lone units exact, and the width of the whole layer exactly when capped', async () => {
    const { analysis } = await analyzeFile(EXAMPLE);
    const source = analysis.model.source;
    const rows = 16;
    const x = { shape: [rows, 6], data: Float64Array.from(uniformSamples(rows * 6, -1, 1, 9)) };
    const first = source.graph.layers.find((l) => l.className === 'Dense')!.name;
    const before = await new GraphEvaluator(source.graph, x).output(first);
    // The first Dense layer reads the unreduced input: its kept units that were clustered alone keep their outputs exactly.
    const reduced = await reduceModel(analysis, GAMMA, path.join(await tempDir(), 'r8'), { roundTo: 8 });
    const plan = reduced.report.layers.find((l) => l.name === first)!;
    assert.strictEqual(plan.unitsAfter % 8, 0);
    const reducedSource = await openModel(path.join(reduced.outDir, 'model.json'));
    const after = await new GraphEvaluator(reducedSource.graph, x).output(first);
    if (isUnsupported(before) || isUnsupported(after)) throw new Error('not evaluated');
    const lone = plan.clusters.filter((g) => g.members.length === 1);
    assert.ok(lone.length > 0);
    const keptIndex = new Map(plan.clusters.map((g, k) => [g.representative, k]));
    for (const g of lone) {
      for (let r = 0; r < rows; r++) assert.strictEqual(after.data[r * plan.unitsAfter + keptIndex.get(g.representative)!], before.data[r * 128 + g.representative]);
    }
    // Rounding to the full width keeps every unit alone: the reduced model is the original.
    const whole = await reduceModel(analysis, GAMMA, path.join(await tempDir(), 'r128'), { roundTo: 128 });
    assert.deepStrictEqual(whole.report.layers.map((l) => l.unitsAfter), whole.report.layers.map((l) => l.unitsBefore));
    assert.strictEqual(whole.report.roundTo, 128);
    const wholeSource = await openModel(path.join(whole.outDir, 'model.json'));
    const output = source.graph.outputs[0];
    const [y, z] = await Promise.all([new GraphEvaluator(source.graph, x).output(output), new GraphEvaluator(wholeSource.graph, x).output(output)]);
    assert.deepStrictEqual(z, y);
  });

  it('condense reduce --round-to writes rounded widths; the table shows both widths; bad values exit 2', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const dir = path.join(await tempDir(), 'out');
    const code = await main(['reduce', EXAMPLE, '--out', dir, '--threshold', String(GAMMA), '--round-to', '8'], (s) => out.push(s), (s) => err.push(s));
    assert.strictEqual(code, 0, err.join('\n'));
    assert.match(out.join('\n'), /\d+ \(kept \d*[02468]\)/);
    const bad = await main(['analyze', EXAMPLE, '--round-to', '0'], () => undefined, (s) => err.push(s));
    assert.strictEqual(bad, 2);
    assert.match(err.join('\n'), /--round-to must be an integer from 1 to 4096/);
  });
});
