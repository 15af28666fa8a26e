/**
 * Exactness: a trained model made wider by splitting its units into copies
 * computes the same function; condensing the wide model at γ = 0.9999 must find exactly the
 * original units, and the reduced model must compute the same function again (max relative
 * deviation ≤ 1e-5), load in tfjs, and have as many parameters as reported.
 */
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import type { AnalysisJson } from '../../../src/cli/format';
import { loadBackend } from '../../../src/core/compute/backend';
import { verifyModels } from '../../../src/core/verify';
import type { CondenseReport } from '../../../src/core/reduction/report';
import { runCliText } from '../../helpers/cli';
import { saveLayersModel, tempDir } from '../../helpers/models';
import {
  loadFolderWithTfjs, maxRelDeviation, predict, probeBatch, readJson, SavedModelJson, trainBriefly, useCpu, writtenUnits,
} from '../../helpers/tfjs';
import { SplitSpec, widenModel } from '../../helpers/widen';

type Units = Record<string, number>;
type Builder = (u: Units) => tf.LayersModel;

const THRESHOLD = '0.9999';

let seed = 1000;
const glorot = () => tf.initializers.glorotUniform({ seed: seed++ });

function mlp(activation: 'relu' | 'tanh' | 'gelu'): Builder {
  return (u) =>
    tf.sequential({
      layers: [
        tf.layers.dense({ name: 'd1', inputShape: [6], units: u.d1 ?? 20, activation, kernelInitializer: glorot() }),
        tf.layers.dense({ name: 'd2', units: u.d2 ?? 14, activation, kernelInitializer: glorot() }),
        tf.layers.dense({ name: 'out', units: 3, kernelInitializer: glorot() }),
      ],
    });
}

const leakyMlp: Builder = (u) =>
  tf.sequential({
    layers: [
      tf.layers.dense({ name: 'd1', inputShape: [6], units: u.d1 ?? 20, kernelInitializer: glorot() }),
      tf.layers.leakyReLU({ name: 'leaky1', alpha: 0.1 }),
      tf.layers.dense({ name: 'd2', units: u.d2 ?? 14, kernelInitializer: glorot() }),
      tf.layers.leakyReLU({ name: 'leaky2', alpha: 0.2 }),
      tf.layers.dense({ name: 'out', units: 3, kernelInitializer: glorot() }),
    ],
  });

/** Conv2D → MaxPooling → Conv2D → Flatten → Dense: both conv→conv and conv→Flatten→Dense couplings. */
const cnn: Builder = (u) =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'c1', inputShape: [8, 8, 2], filters: u.c1 ?? 6, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: glorot() }),
      tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
      tf.layers.conv2d({ name: 'c2', filters: u.c2 ?? 5, kernelSize: 3, activation: 'relu', kernelInitializer: glorot() }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'd1', units: u.d1 ?? 8, activation: 'relu', kernelInitializer: glorot() }),
      tf.layers.dense({ name: 'out', units: 3, kernelInitializer: glorot() }),
    ],
  });

/** Conv2D → BatchNormalization → ReLU, twice (Activation layer and ReLU layer spellings). */
const bnCnn: Builder = (u) =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'c1', inputShape: [8, 8, 2], filters: u.c1 ?? 6, kernelSize: 3, padding: 'same', kernelInitializer: glorot() }),
      tf.layers.batchNormalization({ name: 'bn1' }),
      tf.layers.activation({ name: 'relu1', activation: 'relu' }),
      tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }),
      // No bias before BN, as usual in CNNs: the folded bias is then BN's shift alone.
      tf.layers.conv2d({ name: 'c2', filters: u.c2 ?? 5, kernelSize: 3, useBias: false, kernelInitializer: glorot() }),
      tf.layers.batchNormalization({ name: 'bn2' }),
      tf.layers.reLU({ name: 'relu2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'd1', units: u.d1 ?? 8, activation: 'relu', kernelInitializer: glorot() }),
      tf.layers.dense({ name: 'out', units: 3, kernelInitializer: glorot() }),
    ],
  });

/** BN statistics far from their 0/1 start, and some negative gammas, so folding matters. */
function randomiseBatchNorm(model: tf.LayersModel, names: string[], seedValue: number): void {
  let state = seedValue;
  const random = (): number => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
  for (const name of names) {
    const layer = model.getLayer(name);
    const n = layer.getWeights()[0].shape[0];
    const values = (f: () => number): tf.Tensor => tf.tensor1d(Array.from({ length: n }, f));
    const ws = [
      values(() => (random() < 0.25 ? -1 : 1) * (0.5 + random())),
      values(() => random() - 0.5),
      values(() => random() - 0.5),
      values(() => 0.5 + 1.5 * random()),
    ];
    layer.setWeights(ws);
    tf.dispose(ws);
  }
}

interface Case {
  name: string;
  build: Builder;
  splits: SplitSpec[];
  inputShape: number[];
  prepare?: (model: tf.LayersModel) => void;
  /** Convolutions train slowly on tfjs-cpu: a few steps suffice to move the weights off their initialisation. */
  training?: { epochs: number; samples: number };
}

/** An MLP case (input [6]): both hidden layers split the same way, d1 with `seed` and d2 with `seed + 1`. */
function mlpCase(name: string, build: Builder, mode: SplitSpec['mode'], seed: number): Case {
  return {
    name,
    build,
    inputShape: [6],
    splits: [
      { layer: 'd1', consumer: 'd2', mode, seed },
      { layer: 'd2', consumer: 'out', mode, seed: seed + 1 },
    ],
  };
}

describe('exactness: condensing a widened trained model', function () {
  let root: string;

  before(async () => {
    await useCpu();
    root = await tempDir();
  });

  const cases: Case[] = [
    mlpCase('ReLU MLP (positively scaled copies)', mlp('relu'), 'scaled', 1),
    mlpCase('LeakyReLU MLP (positively scaled copies)', leakyMlp, 'scaled', 3),
    mlpCase('tanh MLP (exact copies)', mlp('tanh'), 'exact', 5),
    mlpCase('GELU MLP (exact copies)', mlp('gelu'), 'exact', 7),
    {
      name: 'CNN: Conv2D → Conv2D and Conv2D → Flatten → Dense',
      build: cnn,
      inputShape: [8, 8, 2],
      training: { epochs: 2, samples: 128 },
      splits: [
        { layer: 'c1', consumer: 'c2', mode: 'scaled', seed: 9 },
        { layer: 'c2', consumer: 'd1', mode: 'scaled', seed: 10 },
        { layer: 'd1', consumer: 'out', mode: 'scaled', seed: 11 },
      ],
    },
    {
      name: 'CNN with BatchNormalization before ReLU (gamma and beta scaled)',
      build: bnCnn,
      inputShape: [8, 8, 2],
      training: { epochs: 2, samples: 128 },
      prepare: (model) => randomiseBatchNorm(model, ['bn1', 'bn2'], 12345),
      splits: [
        { layer: 'c1', consumer: 'c2', batchNorm: 'bn1', mode: 'scaled', seed: 12 },
        { layer: 'c2', consumer: 'd1', batchNorm: 'bn2', mode: 'scaled', seed: 13 },
        { layer: 'd1', consumer: 'out', mode: 'scaled', seed: 14 },
      ],
    },
  ];

  cases.forEach((c, index) => {
    it(`${c.name}: analyze finds the original units; reduce + verify ≤ 1e-5; tfjs loads it with the reported parameter count`, async () => {
      await useCpu();
      const dir = path.join(root, `case${index}`);
      const original = c.build({});
      await trainBriefly(original, 100 + index, c.training?.epochs, c.training?.samples);
      c.prepare?.(original);
      const originalUnits = writtenUnits({ modelTopology: original.toJSON(null, false) });

      // The wide model computes the original's function (checks the construction itself).
      const { wide, units } = widenModel(original, c.build, c.splits);
      const x = probeBatch(c.inputShape, 64, 7 + index);
      assert.ok(maxRelDeviation(predict(original, x), predict(wide, x)) <= 1e-5, 'the widened model differs from the original');
      for (const s of c.splits) assert.ok(units[s.layer] > originalUnits[s.layer]);
      const wideFile = await saveLayersModel(wide, path.join(dir, 'wide'));

      // analyze --json finds exactly the original units per split layer.
      const analysed = await runCliText('analyze', wideFile, '--json', '--threshold', THRESHOLD, '--backend', 'cpu');
      assert.strictEqual(analysed.code, 0, analysed.err);
      const report = JSON.parse(analysed.out) as AnalysisJson;
      for (const s of c.splits) {
        const layer = report.layers.find((l) => l.name === s.layer);
        assert.ok(layer, `layer ${s.layer} missing from the analysis`);
        assert.strictEqual(layer.reducible, true, `${s.layer}: ${layer.reason}`);
        assert.strictEqual(layer.units, units[s.layer]);
        assert.strictEqual(layer.clusters, originalUnits[s.layer], `${s.layer}: clusters`);
      }
      const out = report.layers.find((l) => l.name === 'out');
      assert.strictEqual(out?.reducible, false);

      // reduce writes the original units back, and verify passes at 1e-5.
      const reducedDir = path.join(dir, 'reduced');
      const reduced = await runCliText('reduce', wideFile, '--out', reducedDir, '--threshold', THRESHOLD, '--backend', 'cpu');
      assert.strictEqual(reduced.code, 0, reduced.err);
      const reducedJson = await readJson<SavedModelJson>(path.join(reducedDir, 'model.json'));
      assert.deepStrictEqual(writtenUnits(reducedJson), originalUnits);

      const verified = await runCliText('verify', wideFile, path.join(reducedDir, 'model.json'), '--tolerance', '1e-5', '--backend', 'cpu');
      assert.strictEqual(verified.code, 0, verified.out + verified.err);
      const fidelity = await verifyModels(await loadBackend('cpu'), wideFile, path.join(reducedDir, 'model.json'));
      assert.ok(fidelity.maxRel <= 1e-5, `max relative deviation ${fidelity.maxRel}`);

      // tfjs loads the written files itself; same function, and as many parameters as reported.
      const loaded = await loadFolderWithTfjs(reducedDir);
      assert.ok(maxRelDeviation(predict(wide, x), predict(loaded, x)) <= 1e-5);
      assert.ok(maxRelDeviation(predict(original, x), predict(loaded, x)) <= 1e-5);
      const condenseReport = await readJson<CondenseReport>(path.join(reducedDir, 'condense-report.json'));
      assert.strictEqual(loaded.countParams(), condenseReport.totals.paramsAfter);
      assert.strictEqual(loaded.countParams(), report.totals.paramsAfter);
      assert.strictEqual(loaded.countParams(), original.countParams());
      assert.strictEqual(wide.countParams(), report.totals.paramsBefore);
      tf.dispose(x);
      [original, wide, loaded].forEach((m) => m.dispose());
    });
  });
});
