/**
 * Reading TF.js Layers models: quantised weights decode exactly as tfjs decodes them, and the topology
 * and manifest layouts seen in the wild (Keras-converted wrapper, Keras 2.0 bare-list Sequential,
 * Functional models, several shards and manifest groups) are all read, analysed and reduced.
 */
import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../../../../src/core/analyze';
import { countClusters } from '../../../../../src/core/similarity/cluster';
import { reduceModel } from '../../../../../src/core/reduce';
import { readTfjsModel } from '../../../../../src/core/formats/tfjs/read';
import { seededRandom } from '../../../../../src/core/data/random';
import { float32ToFloat16 } from '../../../../../src/core/codecs/float16';
import { concatBytes, RawWeight, readRawWeights, writeModelFolder } from '../../../../helpers/files';
import { saveLayersModel, tempDir } from '../../../../helpers/models';
import {
  LayerJson, loadFolderWithTfjs, maxRelDeviation, predict, probeBatch, readJson, SavedModelJson, trainBriefly, useCpu,
  writtenUnits,
} from '../../../../helpers/tfjs';
import { widenModel } from '../../../../helpers/widen';

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

function asArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** Bit patterns, so that −0 and every last ulp count. */
function bits(data: Float32Array | Int32Array): number[] {
  return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length));
}

/** Quantised weights of every kind, including every uint8 level, every uint16 level and every finite float16. */
function quantisedWeights(): RawWeight[] {
  const random = seededRandom(42);
  const randomBytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const finiteHalves: number[] = [];
  for (let h = 0; h < 0x10000; h++) if (((h >> 10) & 0x1f) !== 0x1f) finiteHalves.push(h);
  const randomHalves = Uint16Array.from({ length: 64 }, () => finiteHalves[Math.floor(random() * finiteHalves.length)]);
  return [
    { spec: { name: 'h/kernel', shape: [8, 16], dtype: 'float32', quantization: { dtype: 'uint8', min: -0.8123, scale: 0.0061 } }, bytes: randomBytes(128) },
    // Three bytes: every weight after it starts at an odd offset.
    { spec: { name: 'extra/odd', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', min: 0.1, scale: 0.3 } }, bytes: randomBytes(3) },
    { spec: { name: 'h/bias', shape: [16], dtype: 'float32', quantization: { dtype: 'uint16', min: -0.05, scale: 1.37e-6 } }, bytes: randomBytes(32) },
    { spec: { name: 'out/kernel', shape: [16, 4], dtype: 'float32', quantization: { dtype: 'float16' } }, bytes: bytesOf(randomHalves) },
    { spec: { name: 'out/bias', shape: [4], dtype: 'float32' }, bytes: bytesOf(Float32Array.from([0.5, -1.25, 3e-8, -0])) },
    { spec: { name: 'extra/u8_all', shape: [256], dtype: 'float32', quantization: { dtype: 'uint8', min: -1.7, scale: 0.0133 } }, bytes: Uint8Array.from({ length: 256 }, (_, i) => i) },
    { spec: { name: 'extra/u16_all', shape: [256, 256], dtype: 'float32', quantization: { dtype: 'uint16', min: -2.3, scale: 7.1e-5 } }, bytes: bytesOf(Uint16Array.from({ length: 65536 }, (_, i) => i)) },
    { spec: { name: 'extra/f16_all', shape: [finiteHalves.length], dtype: 'float32', quantization: { dtype: 'float16' } }, bytes: bytesOf(Uint16Array.from(finiteHalves)) },
    { spec: { name: 'extra/int_u8', shape: [256], dtype: 'int32', quantization: { dtype: 'uint8', min: -3, scale: 0.5 } }, bytes: Uint8Array.from({ length: 256 }, (_, i) => i) },
    { spec: { name: 'extra/int_u16', shape: [7], dtype: 'int32', quantization: { dtype: 'uint16', min: 10, scale: 3 } }, bytes: randomBytes(14) },
    { spec: { name: 'extra/int', shape: [3], dtype: 'int32' }, bytes: bytesOf(Int32Array.from([-7, 0, 2147483647])) },
  ];
}

const SMALL_TOPOLOGY = {
  class_name: 'Sequential',
  config: {
    name: 'quantised',
    layers: [
      { class_name: 'Dense', config: { name: 'h', units: 16, activation: 'relu', use_bias: true, batch_input_shape: [null, 8], dtype: 'float32' } },
      { class_name: 'Dense', config: { name: 'out', units: 4, activation: 'linear', use_bias: true } },
    ],
  },
};

describe('reading TF.js Layers models', function () {
  let root: string;
  before(async () => {
    await useCpu();
    root = await tempDir();
  });

  describe('quantised weights', () => {
    const weights = quantisedWeights();

    async function checkAgainstTfjs(file: string, groups: RawWeight[][]): Promise<void> {
      const model = await readTfjsModel(file);
      // tfjs's own decoding, group by group over the same bytes and specs.
      const expected = new Map<string, tf.Tensor>();
      for (const group of groups) {
        const decoded = tf.io.decodeWeights(asArrayBuffer(concatBytes(group.map((w) => w.bytes))), group.map((w) => w.spec));
        for (const [name, t] of Object.entries(decoded)) expected.set(name, t);
      }
      assert.deepStrictEqual(model.weights.map((w) => w.name), groups.flat().map((w) => w.spec.name));
      for (const w of model.weights) {
        const t = expected.get(w.name)!;
        assert.deepStrictEqual(w.shape, t.shape, w.name);
        assert.strictEqual(w.dtype, t.dtype, w.name);
        const reference = t.dataSync() as Float32Array | Int32Array;
        assert.strictEqual(w.data.length, reference.length, w.name);
        assert.deepStrictEqual(bits(w.data), bits(reference), `${w.name} differs from tf.io.decodeWeights`);
      }
      tf.dispose([...expected.values()]);
    }

    it('uint8, uint16 (min/scale, float32 and int32) and float16 read bit-for-bit as tf.io.decodeWeights', async () => {
      const file = await writeModelFolder(path.join(root, 'quantised'), SMALL_TOPOLOGY, [weights]);
      await checkAgainstTfjs(file, [weights]);
      // Not vacuous: the decoded values are not just the raw levels.
      const model = await readTfjsModel(file);
      const u8 = model.weights.find((w) => w.name === 'extra/u8_all')!;
      assert.ok(Math.abs(u8.data[0] - -1.7) < 1e-6 && Math.abs(u8.data[255] - (-1.7 + 255 * 0.0133)) < 1e-5);
      assert.strictEqual(model.storedBytes, weights.reduce((s, w) => s + w.bytes.length, 0));
    });

    it('reads the same when the weights are split over several manifest groups and shards', async () => {
      const groups = [weights.slice(0, 4), weights.slice(4, 7), weights.slice(7)];
      const file = await writeModelFolder(path.join(root, 'quantised-sharded'), SMALL_TOPOLOGY, groups, [3, 1, 4]);
      const json = await readJson<SavedModelJson>(file);
      assert.deepStrictEqual(json.weightsManifest.map((g) => g.paths.length), [3, 1, 4]);
      await checkAgainstTfjs(file, groups);
      const model = await readTfjsModel(file);
      assert.strictEqual(model.shardPaths.length, 8);
    });
  });

  describe('quantised models through reduce', () => {
    /** Affine quantisation as the TF.js converter does it: min and scale from the value range. */
    function quantise(w: RawWeight, dtype: 'uint8' | 'uint16' | 'float16'): RawWeight {
      const values = new Float32Array(asArrayBuffer(w.bytes));
      if (dtype === 'float16') {
        return { spec: { ...w.spec, quantization: { dtype } }, bytes: bytesOf(Uint16Array.from(values, float32ToFloat16)) };
      }
      const levels = dtype === 'uint8' ? 255 : 65535;
      const min = Math.min(...values);
      const scale = (Math.max(...values) - min) / levels;
      const q = Array.from(values, (v) => Math.round((v - min) / scale));
      return { spec: { ...w.spec, quantization: { dtype, min, scale } }, bytes: dtype === 'uint8' ? Uint8Array.from(q) : bytesOf(Uint16Array.from(q)) };
    }

    it('weights that are only sliced keep their quantisation; tfjs loads the reduced model, exact to 1e-5', async () => {
      const dir = path.join(root, 'quantised-reduce');
      const build = (u: Record<string, number>): tf.LayersModel =>
        tf.sequential({
          layers: [
            tf.layers.dense({ name: 'd1', inputShape: [5], units: u.d1 ?? 8, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }) }),
            tf.layers.dense({ name: 'd2', units: u.d2 ?? 6, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }) }),
            tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 13 }) }),
          ],
        });
      const original = build({});
      await trainBriefly(original, 14, 5);
      // Exact copies stay exact copies after quantisation.
      const { wide } = widenModel(original, build, [
        { layer: 'd1', consumer: 'd2', mode: 'exact', seed: 15 },
        { layer: 'd2', consumer: 'out', mode: 'exact', seed: 16 },
      ]);
      await saveLayersModel(wide, path.join(dir, 'float'));
      const raw = await readRawWeights(path.join(dir, 'float'));
      // Kernels that merging changes stay float32; the others are quantised every way.
      const storage: Record<string, 'uint8' | 'uint16' | 'float16'> = { 'd1/kernel': 'uint8', 'd1/bias': 'uint16', 'd2/bias': 'float16', 'out/bias': 'uint8' };
      const stored = raw.weights.map((w) => (storage[w.spec.name] ? quantise(w, storage[w.spec.name]) : w));
      const file = await writeModelFolder(path.join(dir, 'quantised'), raw.json.modelTopology, [stored]);
      const reference = await loadFolderWithTfjs(path.dirname(file));

      const analysis = await analyzeModel(await loadModel(file));
      for (const [name, count] of [['d1', 8], ['d2', 6]] as const) {
        const summary = analysis.summary.layers.find((l) => l.name === name)!;
        assert.strictEqual(countClusters(summary.dendrogram!, 0.9999), count, name);
      }
      const outDir = path.join(dir, 'reduced');
      const result = await reduceModel(analysis, 0.9999, outDir);
      const written = await readJson<SavedModelJson>(path.join(outDir, 'model.json'));
      const specs = new Map(written.weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w]));
      for (const w of stored) {
        assert.deepStrictEqual(specs.get(w.spec.name)!.quantization, w.spec.quantization, `${w.spec.name}: stored as before`);
      }
      assert.deepStrictEqual(writtenUnits(written), { d1: 8, d2: 6, out: 3 });
      const loaded = await loadFolderWithTfjs(outDir);
      const x = probeBatch([5], 64, 17);
      const deviation = maxRelDeviation(predict(reference, x), predict(loaded, x));
      assert.ok(deviation <= 1e-5, `deviation ${deviation}`);
      assert.strictEqual(loaded.countParams(), result.estimate.totals.paramsAfter);
      [original, wide, reference, loaded].forEach((m) => m.dispose());
      tf.dispose(x);
    });
  });

  describe('topology and manifest layouts', () => {
    let dir: string;
    let original: tf.LayersModel;
    let canonical: { json: SavedModelJson; weights: RawWeight[] };
    let x: tf.Tensor;
    const expectedClusters = { d1: 10, d2: 8 };

    const build = (u: Record<string, number>): tf.LayersModel =>
      tf.sequential({
        layers: [
          tf.layers.dense({ name: 'd1', inputShape: [5], units: u.d1 ?? 10, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
          tf.layers.dense({ name: 'd2', units: u.d2 ?? 8, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
          tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
        ],
      });

    before(async () => {
      await useCpu();
      dir = path.join(root, 'layouts');
      original = build({});
      await trainBriefly(original, 77, 5);
      const { wide } = widenModel(original, build, [
        { layer: 'd1', consumer: 'd2', mode: 'scaled', seed: 21 },
        { layer: 'd2', consumer: 'out', mode: 'exact', seed: 22 },
      ]);
      await saveLayersModel(wide, path.join(dir, 'canonical'));
      canonical = await readRawWeights(path.join(dir, 'canonical'));
      x = probeBatch([5], 64, 3);
    });

    /** Analyses, reduces and reloads a variant: it must behave exactly like the canonical file. */
    async function roundTrip(name: string, file: string, ref: Reference = mlpReference()): Promise<void> {
      const model = await loadModel(file);
      assert.deepStrictEqual(
        model.source.weights.map((w) => [w.name, bits(w.data as Float32Array)]).sort(),
        ref.weights.map((w) => [w.spec.name, bits(new Float32Array(asArrayBuffer(w.bytes)))]).sort(),
        `${name}: weights`,
      );
      const analysis = await analyzeModel(model);
      for (const [layer, clusters] of Object.entries(ref.clusters)) {
        const summary = analysis.summary.layers.find((l) => l.name === layer);
        assert.ok(summary, `${name}: layer ${layer} not found`);
        assert.strictEqual(summary.reducible, true, `${name}: ${layer}: ${summary.reason}`);
        assert.ok(summary.dendrogram, `${name}: ${layer} has no dendrogram`);
        assert.strictEqual(countClusters(summary.dendrogram, 0.9999), clusters, `${name}: ${layer} clusters`);
      }
      const outDir = path.join(dir, `${name}.condensed`);
      const result = await reduceModel(analysis, 0.9999, outDir);
      const written = await readJson<SavedModelJson>(path.join(outDir, 'model.json'));
      assert.deepStrictEqual(writtenUnits(written), ref.units, `${name}: written units`);
      const loaded = await loadFolderWithTfjs(outDir);
      assert.ok(maxRelDeviation(predict(ref.original, ref.x), predict(loaded, ref.x)) <= 1e-5, `${name}: reduced model differs`);
      assert.strictEqual(loaded.countParams(), result.estimate.totals.paramsAfter);
      loaded.dispose();
    }

    interface Reference {
      original: tf.LayersModel;
      weights: RawWeight[];
      clusters: Record<string, number>;
      units: Record<string, number>;
      x: tf.Tensor;
    }
    const mlpReference = (): Reference => ({ original, weights: canonical.weights, clusters: expectedClusters, units: { d1: 10, d2: 8, out: 3 }, x });

    /** The canonical file's Sequential config, {name, layers}. */
    const sequentialConfig = (): { layers: LayerJson[] } => {
      const config = canonical.json.modelTopology.config;
      assert.ok(!Array.isArray(config), 'TF.js writes a Sequential config as {name, layers}');
      return config;
    };
    const kerasWrapper = (modelConfig: unknown): unknown => ({ keras_version: '2.15.0', backend: 'tensorflow', model_config: modelConfig });

    it('reads the TF.js format itself', async () => {
      await roundTrip('tfjs', path.join(dir, 'canonical', 'model.json'));
    });

    it('reads the Keras-converted topology {keras_version, backend, model_config: {class_name, config}}', async () => {
      const file = await writeModelFolder(path.join(dir, 'keras'), kerasWrapper({ class_name: 'Sequential', config: sequentialConfig() }), [canonical.weights]);
      await roundTrip('keras', file);
    });

    it('folds a Keras-converted BatchNormalization whose axis is written [3] (as TF 2 Keras saves it)', async () => {
      const buildCnn = (u: Record<string, number>): tf.LayersModel =>
        tf.sequential({
          layers: [
            tf.layers.conv2d({ name: 'c1', inputShape: [6, 6, 2], filters: u.c1 ?? 5, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
            tf.layers.batchNormalization({ name: 'bn1' }),
            tf.layers.activation({ name: 'relu1', activation: 'relu' }),
            tf.layers.flatten({ name: 'flatten' }),
            tf.layers.dense({ name: 'out', units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
          ],
        });
      const cnn = buildCnn({});
      const bn = cnn.getLayer('bn1');
      const stats = [[1.3, -0.7, 0.9, 1.1, 0.6], [0.2, -0.1, 0.3, 0, -0.4], [0.1, 0.5, -0.2, 0.3, 0], [1.5, 0.8, 1.2, 0.6, 2]].map((v) => tf.tensor1d(v));
      bn.setWeights(stats);
      const { wide } = widenModel(cnn, buildCnn, [{ layer: 'c1', consumer: 'out', batchNorm: 'bn1', mode: 'scaled', seed: 23 }]);
      await saveLayersModel(wide, path.join(dir, 'cnn-canonical'));
      const raw = await readRawWeights(path.join(dir, 'cnn-canonical'));
      const config = raw.json.modelTopology.config;
      assert.ok(!Array.isArray(config), 'TF.js writes a Sequential config as {name, layers}');
      const bnConfig = config.layers.find((l) => l.config.name === 'bn1')?.config;
      assert.ok(bnConfig, 'no bn1 layer');
      bnConfig.axis = [3];
      const file = await writeModelFolder(path.join(dir, 'keras-cnn'), kerasWrapper({ class_name: 'Sequential', config }), [raw.weights]);
      await roundTrip('keras-cnn', file, { original: cnn, weights: raw.weights, clusters: { c1: 5 }, units: { c1: 5, out: 3 }, x: probeBatch([6, 6, 2], 32, 4) });
      tf.dispose(stats);
      [cnn, wide].forEach((m) => m.dispose());
    });

    it('reads a Sequential config written as a bare list of layers (Keras 2.0)', async () => {
      const file = await writeModelFolder(path.join(dir, 'bare-list'), kerasWrapper({ class_name: 'Sequential', config: sequentialConfig().layers }), [canonical.weights]);
      await roundTrip('bare-list', file);
    });

    it('reads a Functional model (Keras "Functional" and TF.js "Model" class names)', async () => {
      const input = tf.input({ shape: [5], name: 'inp' });
      let y = tf.layers.dense({ name: 'd1', units: 30, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
      y = tf.layers.dense({ name: 'd2', units: 30, activation: 'tanh' }).apply(y) as tf.SymbolicTensor;
      y = tf.layers.dense({ name: 'out', units: 3 }).apply(y) as tf.SymbolicTensor;
      const functional = tf.model({ inputs: input, outputs: y, name: 'functional' });
      const topology = functional.toJSON(null, false) as { class_name: string; config: { layers: { name: string; config: Record<string, unknown> }[] } };
      assert.strictEqual(topology.class_name, 'Model');
      // Units as in the canonical (wide) file.
      const units = writtenUnits({ modelTopology: canonical.json.modelTopology });
      for (const layer of topology.config.layers) if (units[layer.name] !== undefined) layer.config.units = units[layer.name];
      await roundTrip('model', await writeModelFolder(path.join(dir, 'functional-model'), topology, [canonical.weights]));
      const keras = kerasWrapper({ ...topology, class_name: 'Functional' });
      await roundTrip('functional', await writeModelFolder(path.join(dir, 'functional-keras'), keras, [canonical.weights]));
      functional.dispose();
    });

    it('reads weights split over several shards and several manifest groups', async () => {
      const w = canonical.weights;
      const file = await writeModelFolder(path.join(dir, 'sharded'), canonical.json.modelTopology, [w.slice(0, 3), w.slice(3)], [3, 2]);
      await roundTrip('sharded', file);
    });
  });
});
