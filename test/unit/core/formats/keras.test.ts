/**
 * Keras files: Keras 2 full-model HDF5 (2.0.6 Theano float64 Sequential, tf.keras 2.9
 * Functional CNN with BatchNormalization) and Keras 3 archives, made by
 * scripts/make-keras-fixtures.py with the layouts Keras writes. Each hidden layer was split into
 * copies of a smaller network's units, so condensing at γ = 0.9999 must find those widths, and the
 * reduced file, written in the same flavour, must compute the reference outputs again.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import type { AnalysisJson } from '../../../../src/cli/format';
import { Backend, loadBackend } from '../../../../src/core/compute/backend';
import { openModel } from '../../../../src/core/formats/index';
import { readZipDirectory, readZipEntry } from '../../../../src/core/codecs/zip';
import { verifyModels } from '../../../../src/core/verify';
import { writeZip } from '../../../../src/core/codecs/zip';
import { WorkerClient } from '../../../../src/extension/workerClient';
import { loadHdf5 } from '../../../../src/core/codecs/hdf5';
import { jsonDifferences, patchJson } from '../../../../src/core/formats/keras/jsonPatch';
import { assertRefused, runCli } from '../../../helpers/cli';
import { listing, maxRelDeviation } from '../../../helpers/tfjs';
import { tempDir } from '../../../helpers/models';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'keras');
const THRESHOLD = '0.9999';

interface Reference {
  widths: Record<string, number>;
  inputs: number[][];
  outputs: number[][];
  dtype: 'float32' | 'float64';
  inputShape?: number[];
}

/** The model's outputs on the reference inputs, computed by the project's reader and tfjs. */
async function predict(backend: Backend, file: string, reference: Reference): Promise<Float32Array> {
  const predictor = await (await openModel(file)).predictor(backend);
  try {
    const shape = reference.inputShape ?? [reference.inputs[0].length];
    const [y] = await predictor.run([Float32Array.from(reference.inputs.flat())], reference.inputs.length, [shape]);
    return y;
  } finally {
    predictor.dispose();
  }
}

/** An h5wasm dtype as text: a string as it is, a compound or array type spelled out (String() would give "[object Object]"). */
const dtypeText = (dtype: unknown): string => (typeof dtype === 'string' ? dtype : JSON.stringify(dtype));

/** Every attribute (h5wasm dtype and shape) and dataset (dtype) by path; model_config's length may change. */
async function attributeTypes(bytes: Uint8Array): Promise<Map<string, string>> {
  const hdf5 = await loadHdf5();
  return hdf5.read('test', bytes, (root) => {
    const out = new Map<string, string>();
    const visit = (node: typeof root): void => {
      for (const [name, attribute] of Object.entries(node.attrs)) {
        const dtype = name === 'model_config' ? dtypeText(attribute.dtype).replace(/\d+$/, '') : dtypeText(attribute.dtype);
        out.set(`${node.path} ${name}`, `${dtype} ${JSON.stringify(attribute.shape)}`);
      }
      for (const key of node.keys()) {
        const child = node.get(key);
        if (hdf5.isGroup(child)) visit(child);
        else if (hdf5.isDataset(child)) out.set(child.path, dtypeText(child.dtype));
      }
    };
    visit(root);
    return out;
  });
}

async function weightsFileOf(file: string): Promise<Uint8Array> {
  const bytes = await fs.readFile(file);
  if (!file.endsWith('.keras')) return bytes;
  return readZipEntry(file, bytes, readZipDirectory(file, bytes).get('model.weights.h5')!);
}

describe('Keras models (.h5, .keras)', function () {
  let backend: Backend;
  let references: Record<string, Reference>;
  let root: string;

  before(async () => {
    backend = await loadBackend('cpu');
    references = JSON.parse(await fs.readFile(path.join(FIXTURES, 'reference.json'), 'utf8')) as Record<string, Reference>;
    root = await tempDir();
  });

  it('reads every fixture as Keras computes it (numpy reference outputs, Theano kernels flipped)', async () => {
    for (const [name, reference] of Object.entries(references)) {
      const y = await predict(backend, path.join(FIXTURES, name), reference);
      const deviation = maxRelDeviation(Float32Array.from(reference.outputs.flat()), y);
      assert.ok(deviation <= 1e-5, `${name}: max relative deviation ${deviation}`);
    }
  });

  const splitModels = ['combustion-keras2.0.6.h5', 'cnn-keras2.9.h5', 'mlp-keras3.keras', 'bn-keras3.keras'];
  for (const name of splitModels) {
    it(`${name}: analyze finds the original widths; reduce writes the same flavour that reproduces the outputs`, async () => {
      const reference = references[name];
      const file = path.join(FIXTURES, name);
      const analysis = await runCli('analyze', file, '--json', '--threshold', THRESHOLD, '--backend', 'cpu');
      assert.strictEqual(analysis.code, 0, analysis.err.join('\n'));
      const { layers } = JSON.parse(analysis.out.join('\n')) as AnalysisJson;
      const clusters = Object.fromEntries(layers.filter((l) => l.name in reference.widths).map((l) => [l.name, l.clusters]));
      assert.deepStrictEqual(clusters, reference.widths);

      const out = path.join(root, name);
      const reduce = await runCli('reduce', file, '--out', out, '--threshold', THRESHOLD, '--backend', 'cpu');
      assert.strictEqual(reduce.code, 0, reduce.err.join('\n'));
      assert.deepStrictEqual(await listing(out), ['condense-report.json', name].sort());
      const reduced = path.join(out, name);

      // Re-read by the project's reader: the same format, the original widths, the same stored dtype.
      const [before, after] = await Promise.all([openModel(file), openModel(reduced)]);
      assert.strictEqual(after.format, before.format);
      for (const [layer, width] of Object.entries(reference.widths)) {
        const kernel = after.graph.byName.get(layer)!.weights.get('kernel')!;
        assert.strictEqual(kernel.shape[kernel.shape.length - 1], width, `${layer} kernel ${kernel.shape.join('×')}`);
      }
      assert.deepStrictEqual(after.weights.map((w) => [w.name, w.storage]), before.weights.map((w) => [w.name, w.storage]));
      if (reference.dtype === 'float64') assert.ok(after.weights.every((w) => w.storage === 'float64'));

      // The same function: against the original (verify) and against numpy's reference outputs.
      const fidelity = await verifyModels(backend, file, reduced);
      assert.ok(fidelity.maxRel <= 1e-5, `verify: max relative deviation ${fidelity.maxRel}`);
      const y = await predict(backend, reduced, reference);
      assert.ok(maxRelDeviation(Float32Array.from(reference.outputs.flat()), y) <= 1e-5);

      // The same layout and attribute encodings; only the optimizer state, whose shapes were the old ones, is gone.
      const [original, written] = await Promise.all([weightsFileOf(file), weightsFileOf(reduced)]);
      const expected = [...(await attributeTypes(original))].filter(([key]) => !/^\/optimizer(_weights)?[/ ]/.test(key));
      assert.deepStrictEqual([...(await attributeTypes(written))], expected);
      if (name.endsWith('.keras')) {
        const [zipA, zipB] = await Promise.all([fs.readFile(file), fs.readFile(reduced)]);
        const entries = (zip: Buffer, f: string) => [...readZipDirectory(f, zip).values()].map((e) => [e.name, e.method]);
        assert.deepStrictEqual(entries(zipB, reduced), entries(zipA, file));
      }
    });
  }

  it('the extension\'s bundled worker (dist/worker.js, built by npm test) analyses, reduces and verifies both flavours', async () => {
    const client = new WorkerClient(path.join(__dirname, '..', '..', '..', '..', 'dist', 'worker.js'));
    try {
      for (const name of ['combustion-keras2.0.6.h5', 'mlp-keras3.keras']) {
        const file = path.join(FIXTURES, name);
        const analysed = await client.request<'analyzed'>({ type: 'analyze', file, backend: 'cpu' });
        assert.deepStrictEqual(analysed.files, [file]);
        const outDir = path.join(root, `worker-${name}`);
        const thresholds = { threshold: Number(THRESHOLD), overrides: {} };
        const reduced = await client.request<'reduced'>({ type: 'reduce', file, backend: 'cpu', thresholds, outDir, overwrite: false });
        assert.strictEqual(reduced.mainFile, path.join(outDir, name));
        const verified = await client.request<'verified'>({ type: 'verify', original: file, reduced: reduced.mainFile, backend: 'cpu', samples: 64 });
        assert.ok(verified.fidelity.maxRel <= 1e-5, `${name}: ${verified.fidelity.maxRel}`);
      }
    } finally {
      client.dispose();
    }
  });

  it('rewrites only the values that changed in a config, keeping Python\'s spelling of the rest', () => {
    const text = '{"class_name": "Dense", "config": {"units": 100, "scale": 1.0, "epsilon": 1e-07, "shape": [null, 100]}}';
    const before = JSON.parse(text) as { config: { units: number; shape: (number | null)[] } };
    const after = structuredClone(before);
    after.config.units = 40;
    after.config.shape[1] = 40;
    assert.strictEqual(
      patchJson(text, jsonDifferences(before, after)),
      '{"class_name": "Dense", "config": {"units": 40, "scale": 1.0, "epsilon": 1e-07, "shape": [null, 40]}}',
    );
  });

  describe('bad input: exit code 2 and one message naming the file', () => {
    let caseCount = 0;

    async function expectRefused(file: string, problem: RegExp): Promise<void> {
      const outputs = path.join(root, `refused${++caseCount}`);
      await fs.mkdir(outputs);
      for (const argv of [['analyze', file], ['reduce', file, '--out', path.join(outputs, 'out')]]) {
        const run = await runCli(...argv, '--backend', 'cpu');
        assertRefused(run, file, problem);
      }
      assert.deepStrictEqual(await listing(outputs), []);
    }

    async function copyOf(name: string, change: (bytes: Buffer) => Uint8Array | string, as = name): Promise<string> {
      const file = path.join(root, `case${++caseCount}-${as}`);
      await fs.writeFile(file, change(await fs.readFile(path.join(FIXTURES, name))));
      return file;
    }

    it('a truncated HDF5 file', async () => {
      const file = await copyOf('cnn-keras2.9.h5', (b) => b.subarray(0, Math.floor(b.length * 0.6)));
      await expectRefused(file, /cannot be read as HDF5 \(truncated or damaged\?\): .*truncated file/);
    });

    it('a file that is not HDF5 at all, and a truncated .keras archive', async () => {
      await expectRefused(await copyOf('cnn-keras2.9.h5', () => 'not a model'), /neither an HDF5 file .* nor a zip archive/);
      await expectRefused(await copyOf('mlp-keras3.keras', (b) => b.subarray(0, b.length - 100)), /not a readable zip archive/);
    });

    it('an HDF5 file without model_config, and a weights-only file (save_weights) with advice', async () => {
      await expectRefused(path.join(FIXTURES, 'no-config-keras2.h5'), /no model_config attribute/);
      await expectRefused(path.join(FIXTURES, 'weights-only-keras2.h5'), /weights only \(saved with save_weights\), no architecture; save the whole model/);
    });

    const archive = (entries: Record<string, string>): Buffer =>
      writeZip(Object.entries(entries).map(([name, text]) => ({ name, data: Buffer.from(text), method: 0 })));

    it('a .keras archive with an entry that climbs out, or without config.json', async () => {
      const climbing = path.join(root, 'climbing.keras');
      await fs.writeFile(climbing, archive({ 'config.json': '{}', '../../evil.txt': 'x', 'model.weights.h5': '' }));
      await expectRefused(climbing, /zip entry "\.\.\/\.\.\/evil\.txt" points outside the archive; refused/);
      const noConfig = path.join(root, 'no-config.keras');
      await fs.writeFile(noConfig, archive({ 'metadata.json': '{}' }));
      await expectRefused(noConfig, /has no config\.json/);
    });
  });
});
