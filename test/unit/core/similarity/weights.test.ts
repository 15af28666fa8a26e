/**
 * Similarity on weights: the cosine similarities the engine clusters on agree with a
 * plain float64 reference (BatchNormalization folding included) to 1e-5, on every gram engine;
 * and a freshly initialised wide layer shows almost no clusters at γ = 0.99.
 */
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../../../src/core/analyze';
import { loadBackend } from '../../../../src/core/compute/backend';
import { tfjsGram } from '../../../../src/core/compute/engines';
import { clusterLabels, countClusters } from '../../../../src/core/similarity/cluster';
import { normalSamples, seededRandom } from '../../../../src/core/data/random';
import { GramEngine, typescriptGram, unitRows } from '../../../../src/core/similarity/weights';
import { estimate } from '../../../../src/core/estimate';
import { saveLayersModel, tempDir } from '../../../helpers/models';
import { Arr, layerWeights, useCpu } from '../../../helpers/tfjs';

const TOLERANCE = 1e-5;

/** Neuron vectors in float64: kernel column, bias appended, BN folded when given. */
function referenceVectors(kernel: Arr, bias: Arr, bn?: { gamma: Arr; beta: Arr; mean: Arr; variance: Arr; epsilon: number }): number[][] {
  const n = kernel.shape[kernel.shape.length - 1];
  const fanIn = kernel.data.length / n;
  return Array.from({ length: n }, (_, j) => {
    const s = bn ? bn.gamma.data[j] / Math.sqrt(bn.variance.data[j] + bn.epsilon) : 1;
    const v: number[] = [];
    for (let i = 0; i < fanIn; i++) v.push(kernel.data[i * n + j] * s);
    v.push(bn ? (bias.data[j] - bn.mean.data[j]) * s + bn.beta.data[j] : bias.data[j]);
    return v;
  });
}

function referenceCosines(vectors: number[][]): Float64Array {
  const n = vectors.length;
  const norms = vectors.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let k = 0; k < vectors[i].length; k++) dot += vectors[i][k] * vectors[j][k];
      out[i * n + j] = dot / (norms[i] * norms[j]);
    }
  }
  return out;
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.strictEqual(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * A random Dense kernel with planted near-copies: units ≥ bases copy a base unit scaled by a
 * positive factor, plus noise of a few sizes, so some copies sit just above and some just below
 * tight thresholds.
 */
function plantedKernel(fanIn: number, units: number, bases: number, seed: number): { kernel: Float32Array; bias: Float32Array } {
  const random = seededRandom(seed);
  const noise = normalSamples((fanIn + 1) * units, seed + 1);
  const base = normalSamples((fanIn + 1) * bases, seed + 2);
  const kernel = new Float32Array(fanIn * units);
  const bias = new Float32Array(units);
  const sizes = [0, 1e-4, 1e-3, 3e-3, 1e-2];
  for (let j = 0; j < units; j++) {
    const b = j % bases;
    const scale = j < bases ? 1 : 0.3 + 2 * random();
    const eps = j < bases ? 0 : sizes[j % sizes.length];
    for (let i = 0; i <= fanIn; i++) {
      const v = scale * (base[b * (fanIn + 1) + i] + eps * noise[j * (fanIn + 1) + i]);
      if (i < fanIn) kernel[i * units + j] = v;
      else bias[j] = v;
    }
  }
  return { kernel, bias };
}

describe('similarity', function () {
  let root: string;
  let file: string;
  /** Per analysed layer: the float64 reference cosines. */
  const references = new Map<string, Float64Array>();

  before(async () => {
    await useCpu();
    root = await tempDir();
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ name: 'd1', inputShape: [20], units: 120, activation: 'relu' }),
        tf.layers.dense({ name: 'd2', units: 40 }),
        tf.layers.batchNormalization({ name: 'bn', epsilon: 1e-3 }),
        tf.layers.reLU({ name: 'relu' }),
        tf.layers.dense({ name: 'out', units: 3 }),
      ],
    });
    const d1 = plantedKernel(20, 120, 30, 1);
    const d2 = plantedKernel(120, 40, 16, 2);
    const random = seededRandom(3);
    const set = (name: string, ws: tf.Tensor[]): void => {
      model.getLayer(name).setWeights(ws);
      tf.dispose(ws);
    };
    set('d1', [tf.tensor2d(d1.kernel, [20, 120]), tf.tensor1d(d1.bias)]);
    // d2's groups are planted after BN folding: w = w'/s, b = (b' − β)/s + μ with s = γ/√(σ² + ε).
    const column = (f: () => number): number[] => Array.from({ length: 40 }, f);
    const bnGamma = column(() => (random() < 0.3 ? -1 : 1) * (0.3 + random()));
    const bnBeta = column(() => random() - 0.5);
    const bnMean = column(() => random() - 0.5);
    const bnVariance = column(() => 0.2 + 2 * random());
    const bn = [bnGamma, bnBeta, bnMean, bnVariance];
    const s = bnGamma.map((g, j) => g / Math.sqrt(bnVariance[j] + 1e-3));
    const rawKernel = d2.kernel.map((v, i) => v / s[i % 40]);
    const rawBias = d2.bias.map((v, j) => (v - bnBeta[j]) / s[j] + bnMean[j]);
    set('d2', [tf.tensor2d(rawKernel, [120, 40]), tf.tensor1d(rawBias)]);
    set('bn', bn.map((v) => tf.tensor1d(v)));
    file = await saveLayersModel(model, path.join(root, 'planted'));

    const w = layerWeights(model);
    const [d1k, d1b] = w.get('d1')!;
    const [d2k, d2b] = w.get('d2')!;
    const [gamma, beta, mean, variance] = w.get('bn')!;
    references.set('d1', referenceCosines(referenceVectors(d1k, d1b)));
    references.set('d2', referenceCosines(referenceVectors(d2k, d2b, { gamma, beta, mean, variance, epsilon: 1e-3 })));
    model.dispose();
  });

  async function checkEngine(gram: GramEngine, label: string): Promise<void> {
    const analysis = await analyzeModel(await loadModel(file), { gram });
    for (const [name, reference] of references) {
      const detail = analysis.details.get(name)!;
      const n = detail.live.length;
      assert.strictEqual(n, Math.sqrt(reference.length), `${label} ${name}: every unit is live`);
      // The Gram matrix of the engine's unit rows is the cosine matrix.
      const s = await gram.gram(unitRows(detail.vectors, detail.live), n, detail.vectors.d);
      const worst = maxAbsDifference(s, reference);
      assert.ok(worst <= TOLERANCE, `${label} ${name}: gram differs from float64 by ${worst}`);
      // Each unit's highest similarity to another unit, as the summary reports it.
      const summary = analysis.summary.layers.find((l) => l.name === name)!;
      const expectedHighest = Array.from({ length: n }, (_, i) => {
        let best = -1;
        for (let j = 0; j < n; j++) if (j !== i) best = Math.max(best, reference[i * n + j]);
        return best;
      });
      const worstHighest = maxAbsDifference(summary.highest!, expectedHighest);
      assert.ok(worstHighest <= TOLERANCE, `${label} ${name}: highest similarity differs from float64 by ${worstHighest}`);
      // At tight thresholds every pair inside a cluster is at least γ similar by the float64 reference.
      for (const gamma of [0.99999, 0.9999, 0.999]) {
        const labels = clusterLabels(summary.dendrogram!, gamma);
        let pairs = 0;
        for (let i = 0; i < n; i++) {
          for (let j = i + 1; j < n; j++) {
            if (labels[i] !== labels[j]) continue;
            pairs++;
            assert.ok(reference[i * n + j] >= gamma - TOLERANCE, `${label} ${name}: units ${i}, ${j} clustered at ${gamma} with cosine ${reference[i * n + j]}`);
          }
        }
        assert.ok(pairs > 0, `${label} ${name}: no clustered pairs at ${gamma}`);
      }
      // Far below the noise, the planted groups are found exactly.
      const bases = name === 'd1' ? 30 : 16;
      assert.strictEqual(countClusters(summary.dendrogram!, 0.99), bases, `${label} ${name}: clusters at 0.99`);
    }
  }

  it('the TypeScript gram engine on unitRows agrees with float64 cosines to 1e-5 (BN folded)', async () => {
    await checkEngine(typescriptGram, 'typescript');
  });

  // loadBackend pairs each tfjs backend with the fastest similarity engine available (onnxruntime
  // when installed); the tfjs backends' own matMul engines are checked explicitly as well.
  it('loadBackend(\'wasm\'): its gram engine and the tfjs-wasm matMul engine agree with float64 cosines to 1e-5', async () => {
    const backend = await loadBackend('wasm');
    assert.strictEqual(backend.name, 'wasm');
    assert.strictEqual(backend.tf.getBackend(), 'wasm');
    await checkEngine(backend.gram, `wasm/${backend.gram.name}`);
    await checkEngine(tfjsGram(backend.tf, 'wasm'), 'tfjs-wasm');
    await useCpu();
  });

  it('loadBackend(\'cpu\'): its gram engine and the tfjs-cpu matMul engine agree with float64 cosines to 1e-5', async () => {
    const backend = await loadBackend('cpu');
    assert.strictEqual(backend.name, 'cpu');
    assert.strictEqual(backend.tf.getBackend(), 'cpu');
    await checkEngine(backend.gram, `cpu/${backend.gram.name}`);
    await checkEngine(tfjsGram(backend.tf, 'cpu'), 'tfjs-cpu');
  });

  it('a freshly initialised wide layer (512 units, glorot, fan-in 64) shows almost no clusters at γ = 0.99', async () => {
    await useCpu();
    const model = tf.sequential({
      layers: [
        tf.layers.dense({ name: 'wide', inputShape: [64], units: 512, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 9 }) }),
        tf.layers.dense({ name: 'out', units: 4, kernelInitializer: tf.initializers.glorotUniform({ seed: 10 }) }),
      ],
    });
    const fresh = await saveLayersModel(model, path.join(root, 'fresh'));
    model.dispose();
    const analysis = await analyzeModel(await loadModel(fresh));
    const wide = analysis.summary.layers.find((l) => l.name === 'wide')!;
    assert.strictEqual(wide.reducible, true, wide.reason ?? '');
    const clusters = estimate(analysis.summary, 0.99).layers.find((l) => l.name === 'wide')!.clusters!;
    assert.ok(clusters >= 0.99 * 512, `${clusters} clusters of 512 at 0.99`);
    const alike = Array.from(wide.highest!).filter((s) => s >= 0.99).length;
    assert.ok(alike <= 5, `${alike} units have a partner at ≥ 0.99`);
    // The same layer does merge at a loose threshold: the count above is not a constant.
    assert.ok(countClusters(wide.dendrogram!, 0) < 512);
  });
});
