/**
 * Hostile model files, as an attacker would write them: small files that declare gigabytes, files
 * that are not files, names that are JavaScript's own keys, configs that lie about their weights,
 * models changed while they are read, and output folders that reach the original through a
 * symlink. Each is refused with one InputError naming the file, before anything large is allocated,
 * and the original is never touched.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { onnx } from 'onnx-proto';
import { analyzeModel, loadModel } from '../../../../src/core/analyze';
import { readDataFile } from '../../../../src/core/codecs/dataFile';
import { writeZip } from '../../../../src/core/codecs/zip';
import { estimate } from '../../../../src/core/estimate';
import { openModel } from '../../../../src/core/formats/index';
import { encodeSafetensors } from '../../../../src/core/formats/torch/safetensors';
import { CancelledError, InputError } from '../../../../src/core/model/errors';
import { ModelReading } from '../../../../src/core/model/files';
import { reduceModel } from '../../../../src/core/reduce';
import { writeFolder } from '../../../../src/core/reduction/output';
import { assertRefused, CliRun, runCli } from '../../../helpers/cli';
import { copyModelFolder, saveLayersModel, saveSmallDenseModel, tempDir } from '../../../helpers/models';
import { pickle } from '../../../helpers/pickle';
import { LayerJson, listing, readJson, SavedModelJson, SavedSequentialJson, useCpu } from '../../../helpers/tfjs';

const MiB = 1024 ** 2;

const cli = (...argv: string[]): Promise<CliRun> => runCli(...argv, '--backend', 'cpu');

/** openModel refuses `file` with an InputError naming it, and array buffers grew by less than `maxGrowth` meanwhile. */
async function expectOpenRefused(file: string, problem: RegExp, options: { maxModelBytes?: number } = {}, maxGrowth = 8 * MiB): Promise<void> {
  const before = process.memoryUsage().arrayBuffers;
  await assert.rejects(openModel(file, options), (e: unknown) => {
    assert.ok(e instanceof InputError, String(e));
    assert.strictEqual(e.file, file);
    assert.match(e.message, problem);
    return true;
  });
  const growth = process.memoryUsage().arrayBuffers - before;
  assert.ok(growth < maxGrowth, `array buffers grew by ${(growth / MiB).toFixed(1)} MiB`);
}

// ---- hand-made PyTorch files ----------------------------------------------------------------------

const int32 = (v: number): (number | string)[] => [0x4a, String.fromCharCode(...new Uint8Array(Int32Array.of(v).buffer))];
const tuple = (values: number[]): (number | string)[] => [0x28, ...values.flatMap(int32), 0x74];

/** One state-dict item: `key` → _rebuild_tensor_v2(storage "0" of `numel` values of `storageType`, 0, shape, stride). */
function tensorItem(key: string, storageType: string, numel: number, shape: number[], stride: number[]): (number | string | { text: string })[] {
  return [
    { text: key }, 'c', 'torch._utils\n_rebuild_tensor_v2\n', 0x28,
    0x28, { text: 'storage' }, 'c', `torch\n${storageType}\n`, { text: '0' }, { text: 'cpu' }, ...int32(numel), 0x74, 0x51,
    ...int32(0), ...tuple(shape), ...tuple(stride), 0x89, 0x7d, 0x74, 0x52,
  ];
}

const stateDict = (...items: (number | string | { text: string })[][]): Uint8Array => pickle(0x80, 2, 0x7d, 0x28, ...items.flat(), 0x75, 0x2e);

function torchArchive(pkl: Uint8Array, storage: Uint8Array, deflated = false): Buffer {
  return writeZip([
    { name: 'x/data.pkl', data: pkl, method: 0 },
    { name: 'x/data/0', data: storage, method: deflated ? 8 : 0 },
  ]);
}

describe('hostile model files', function () {
  let root: string;
  let base: string;
  let cases = 0;

  before(async () => {
    await useCpu();
    root = await tempDir();
    base = await saveSmallDenseModel(path.join(root, 'base'));
  });

  /** A fresh copy of the small TF.js model: its folder, model.json, shard and parsed JSON. */
  async function freshCopy(): Promise<{ dir: string; file: string; shard: string; json: SavedSequentialJson }> {
    const copy = await copyModelFolder(base, path.join(root, `case${++cases}`, 'model'));
    return { ...copy, json: await readJson<SavedSequentialJson>(copy.file) };
  }

  const write = async (name: string, data: Uint8Array | string): Promise<string> => {
    const file = path.join(root, `case${++cases}`, name);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, data);
    return file;
  };

  describe('small files that declare large tensors', () => {
    it('torch: views that read their storage more than once (stride 0, overlapping strides) are refused', async () => {
      // Four keys over one 4-byte storage: 441 bytes that would expand to 4 × 4 MB.
      const repeated = await write('stride0.pt', torchArchive(
        stateDict(...['a', 'b', 'c', 'd'].map((key) => tensorItem(key, 'FloatStorage', 1, [1000, 1000], [0, 0]))),
        new Uint8Array(4),
      ));
      assert.ok((await fs.stat(repeated)).size < 2000);
      await expectOpenRefused(repeated, /tensor "a" is a view with strides \[0, 0\] that reads elements of its storage more than once/);
      // Rows that overlap: a [1000, 1000] view with row stride 1 over 2000 values.
      const overlapping = await write('overlap.pt', torchArchive(stateDict(tensorItem('w', 'FloatStorage', 2000, [1000, 1000], [1, 1])), new Uint8Array(8000)));
      await expectOpenRefused(overlapping, /tensor "w" is a view with strides \[1, 1\] that reads elements/);
      // A transposed view reads each element once and is accepted.
      const transposed = await write('transposed.pt', torchArchive(stateDict(tensorItem('fc.weight', 'FloatStorage', 6, [3, 2], [1, 3])), new Uint8Array(24)));
      assert.deepStrictEqual((await openModel(transposed)).weights.map((w) => w.shape), [[2, 3]]);
    });

    it('zip: an entry inflating more than 100:1 (a compression bomb) is refused before it is inflated', async () => {
      const zeros = new Uint8Array(16 * MiB);
      const file = await write('bomb.pt', torchArchive(stateDict(tensorItem('fc.weight', 'FloatStorage', 4 * MiB, [2048, 2048], [2048, 1])), zeros, true));
      assert.ok((await fs.stat(file)).size < 64 * 1024);
      await expectOpenRefused(file, /zip entry "x\/data\/0" would inflate \d+ bytes to 16\.0 MiB \(more than 100:1\); refused as a compression bomb/);
      // Below a megabyte, zeros may compress as they like.
      const stored = await write('small.pt', torchArchive(stateDict(tensorItem('fc.weight', 'FloatStorage', 16, [4, 4], [4, 1])), new Uint8Array(64), true));
      assert.strictEqual((await openModel(stored)).weights.length, 1);
    });

    it('zip: an entry inflating past the model limit is refused before it is inflated', async () => {
      // 3 MiB, a tenth of it noise: compresses about 10:1, as some weights do.
      let seed = 1;
      const storage = Uint8Array.from({ length: 3 * MiB }, (_, i) => (i % 10 === 0 ? (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24 : 0));
      // A small view of a large storage: the tensor itself is within any limit.
      const file = await write('inflating.pt', torchArchive(stateDict(tensorItem('fc.weight', 'FloatStorage', storage.length / 4, [2, 2], [2, 1])), storage, true));
      assert.ok((await fs.stat(file)).size < MiB);
      await expectOpenRefused(file, /zip entry "x\/data\/0" would inflate to 3\.0 MiB, more than the limit of 2\.0 MiB; refused/, { maxModelBytes: 2 * MiB });
      assert.strictEqual((await openModel(file)).weights.length, 1);
    });

    it('HDF5: datasets declaring gigabytes in a small file of compressed chunks are refused before any is read', async () => {
      const h5 = await import('h5wasm');
      await h5.ready;
      /** A Keras-like file whose layer "d" has datasets a and b of `values` (compressed), resized to `shape`. */
      const build = (name: string, values: Float32Array, shape: number[], link = false): Uint8Array => {
        const memory = `/${name}`;
        const file = new h5.File(memory, 'w');
        file.create_attribute('model_config', JSON.stringify({ class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 1, batch_input_shape: [null, 1] } }] } }));
        const layer = file.create_group('model_weights').create_group('d');
        for (const part of ['a', 'b']) {
          const dataset = layer.create_dataset({ name: part, data: values, shape: [values.length], maxshape: [null], chunks: [Math.min(values.length, 65536)], compression: 'gzip' });
          if (shape[0] !== values.length) dataset.resize(shape);
        }
        if (link) layer.create_hard_link('/model_weights', 'loop');
        file.close();
        const bytes = h5.FS!.readFile(memory);
        h5.FS!.unlink(memory);
        return bytes;
      };
      // Two datasets of 400 M float32 each, never written: 3.2 GB declared in a few kilobytes.
      const huge = await write('zeros.h5', build('zeros.h5', new Float32Array(16), [400_000_000]));
      assert.ok((await fs.stat(huge)).size < 64 * 1024);
      await expectOpenRefused(huge, /the datasets of the file would inflate \d+ bytes to 2\.98 GiB \(more than 100:1\); refused as a compression bomb/);
      // Compressing about 10:1, as some weights do: within the ratio, past the model limit.
      let seed = 1;
      const noisy = Float32Array.from({ length: MiB }, (_, i) => (i % 10 === 0 ? (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 : 0));
      const compressed = await write('noisy.h5', build('noisy.h5', noisy, [MiB]));
      assert.ok((await fs.stat(compressed)).size < 2 * MiB);
      await expectOpenRefused(compressed, /the datasets of the file would take 8\.0 MiB more, past the limit of 4\.0 MiB for the whole model; refused before reading it/, { maxModelBytes: 4 * MiB });
      // A hard link from a group to its parent makes the tree endless: refused, not walked forever.
      const looped = await write('loop.h5', build('loop.h5', new Float32Array(16), [16], true));
      await expectOpenRefused(looped, /groups nest deeper than 64 levels .*a link back to a parent/);
    });

    it('TF.js: a shard listed twice is refused before any shard is read', async () => {
      const c = await freshCopy();
      await fs.writeFile(c.shard, new Uint8Array(MiB));
      c.json.weightsManifest = [{ paths: Array<string>(32).fill('group1-shard1of1.bin'), weights: [{ name: 'h/kernel', shape: [8 * MiB], dtype: 'float32' }] }];
      await fs.writeFile(c.file, JSON.stringify(c.json));
      await expectOpenRefused(c.file, /weight shard "group1-shard1of1\.bin" is listed twice in the manifest/);
    });

    it('TF.js: a topology without layers is refused before its shards are looked at', async () => {
      const c = await freshCopy();
      c.json.modelTopology.config.layers = [];
      // The shard it names is missing: the topology is refused first.
      c.json.weightsManifest[0].paths = ['not-there.bin'];
      await fs.writeFile(c.file, JSON.stringify(c.json));
      await expectOpenRefused(c.file, /the Sequential model has no layers; refused before reading its weights/);
    });

    it('the model limit is an option of openModel, over the files read and the tensors declared', async () => {
      const c = await freshCopy();
      assert.strictEqual((await openModel(c.file, { maxModelBytes: 4096 })).weights.length, 4);
      await expectOpenRefused(c.file, /the file is \d+ bytes, more than the limit of 100 bytes; refused/, { maxModelBytes: 100 });
      await expectOpenRefused(c.file, /the model's files hold more than the limit of \d+ bytes/, { maxModelBytes: (await fs.stat(c.file)).size + 100 });
      // The CLI's flag, in MiB.
      assertRefused(await cli('analyze', c.file, '--max-model-mb', '0.0001'), c.file, /the file is \d+ bytes, more than the limit of 105 bytes/);
      assert.strictEqual((await cli('analyze', c.file, '--max-model-mb', '1')).code, 0);
    });
  });

  describe('files that are not regular files', () => {
    it('a model file, a shard or a data file that is a device, a folder or a symlink to one is refused', async () => {
      const dir = path.join(root, `case${++cases}`);
      await fs.mkdir(dir);
      const device = path.join(dir, 'model.json');
      await fs.symlink('/dev/zero', device);
      await expectOpenRefused(device, /the file is a device, not a regular file; refused/);
      assertRefused(await cli('analyze', device), device, /is a device, not a regular file/);

      const folder = path.join(dir, 'folder.onnx');
      await fs.mkdir(folder);
      await expectOpenRefused(folder, /the file is a folder, not a regular file/);

      // A pipe would block the reader forever (a symlink to a device outside the folder is refused as climbing out).
      const c = await freshCopy();
      await fs.rm(c.shard);
      execFileSync('mkfifo', [c.shard]);
      await expectOpenRefused(c.file, /weight shard "group1-shard1of1\.bin" is a pipe, not a regular file/);
      const pipe = path.join(dir, 'pipe.safetensors');
      execFileSync('mkfifo', [pipe]);
      await expectOpenRefused(pipe, /the file is a pipe, not a regular file/);

      const data = path.join(dir, 'inputs.npy');
      await fs.symlink('/dev/zero', data);
      await assert.rejects(readDataFile(data), /inputs\.npy: the data file is a device, not a regular file/);
    });
  });

  describe('names from files used as keys', () => {
    it('the unpickler does not take torch.constructor for a storage type', async () => {
      const file = await write('constructor.pt', torchArchive(stateDict(tensorItem('fc.weight', 'constructor', 4, [2, 2], [2, 1])), new Uint8Array(16)));
      await expectOpenRefused(file, /refers to torch\.constructor, which a state dict never needs; refused without running anything/);
    });

    it('safetensors and .npy dtypes named after Object.prototype members are unknown dtypes', async () => {
      const good = encodeSafetensors([{ name: 'w', dtype: 'float32', shape: [2], bytes: new Uint8Array(8) }], null);
      const header = Buffer.from(good.subarray(8, 8 + Number(Buffer.from(good).readBigUInt64LE(0)))).toString().replace('"F32"', '"constructor"');
      const bytes = Buffer.alloc(8 + header.length + 8);
      bytes.writeBigUInt64LE(BigInt(header.length));
      bytes.write(header, 8);
      const file = await write('dtype.safetensors', bytes);
      await expectOpenRefused(file, /tensor "w" has dtype "constructor"; supported: F64/);

      const npyHeader = "{'descr': 'constructor', 'fortran_order': False, 'shape': (2,), }";
      const npy = Buffer.concat([Buffer.from('\x93NUMPY\x01\x00', 'latin1'), Buffer.from(Uint16Array.of(npyHeader.length).buffer), Buffer.from(npyHeader, 'latin1'), Buffer.alloc(8)]);
      const data = await write('inputs.npy', npy);
      await assert.rejects(readDataFile(data), (e: unknown) => e instanceof InputError && /dtype constructor is not supported/.test(e.message));
    });

    it('an ONNX node whose op type is "constructor" is an unknown op, not an activation', async () => {
      const model = onnx.ModelProto.decode(await fs.readFile(path.join(__dirname, '..', '..', '..', 'fixtures', 'onnx', 'mlp.onnx')));
      model.graph!.node!.find((n) => n.name === '/1/Relu')!.opType = 'constructor';
      const file = await write('constructor.onnx', onnx.ModelProto.encode(model).finish());
      const layer = (await openModel(file)).graph.byName.get('/1/Relu')!;
      assert.strictEqual(layer.className, 'constructor');
    });

    it('analysis and reduction agree on a layer named "constructor"', async () => {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({ name: 'constructor', inputShape: [3], units: 6, activation: 'relu' }),
          tf.layers.dense({ name: 'out', units: 2 }),
        ],
      });
      // Units 0–2 point the same way (positive multiples), as do 3–5: two clusters at γ = 0.99.
      const column = [[0.5, -0.2, 0.8, 0.1], [-0.3, 0.9, 0.4, -0.2]];
      const scales = [1, 2, 3, 1, 0.5, 4];
      const kernel = [0, 1, 2].map((i) => scales.map((s, u) => s * column[u < 3 ? 0 : 1][i]));
      const bias = scales.map((s, u) => s * column[u < 3 ? 0 : 1][3]);
      model.layers[0].setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
      const file = await saveLayersModel(model, path.join(root, `case${++cases}`, 'model'));
      model.dispose();
      const analysis = await analyzeModel(await loadModel(file));
      const analysed = estimate(analysis.summary, 0.99).layers.find((l) => l.name === 'constructor')!;
      assert.strictEqual(analysed.unitsAfter, 2);
      const reduced = await reduceModel(analysis, 0.99, path.join(path.dirname(path.dirname(file)), 'out'));
      assert.strictEqual(reduced.report.layers.find((l) => l.name === 'constructor')!.unitsAfter, analysed.unitsAfter);
      assert.strictEqual(reduced.estimate.layers.find((l) => l.name === 'constructor')!.unitsAfter, analysed.unitsAfter);
    });
  });

  describe('configs that do not fit their weights', () => {
    it('Dense units that are negative or fractional, and layers renamed away from their weights, are refused', async () => {
      for (const [units, shown] of [[-3, '-3'], [26667.67, '26667.67']] as const) {
        const c = await freshCopy();
        c.json.modelTopology.config.layers[0].config.units = units;
        await fs.writeFile(c.file, JSON.stringify(c.json));
        assertRefused(await cli('analyze', c.file), c.file, new RegExp(`layer "h" \\(Dense\\) has units ${shown}; it must be a positive integer`));
      }
      const wider = await freshCopy();
      wider.json.modelTopology.config.layers[0].config.units = 9;
      await fs.writeFile(wider.file, JSON.stringify(wider.json));
      assertRefused(await cli('analyze', wider.file), wider.file, /layer "h" \(Dense\) has units 9, but its kernel has shape \[4, 8\]/);

      const renamed = await freshCopy();
      renamed.json.modelTopology.config.layers[0].config.name = 'renamed';
      await fs.writeFile(renamed.file, JSON.stringify(renamed.json));
      assertRefused(await cli('analyze', renamed.file), renamed.file, /layer "renamed" \(Dense\) has no kernel in the weights/);
    });

    it('an input of a dtype other than float32: reduce writes the model and warns that the check cannot probe it; verify refuses it', async () => {
      const c = await freshCopy();
      c.json.modelTopology.config.layers[0].config.dtype = 'F64';
      await fs.writeFile(c.file, JSON.stringify(c.json));
      const out = path.join(root, `case${++cases}`, 'out');
      const reduced = await cli('reduce', c.file, '--out', out);
      assert.strictEqual(reduced.code, 0, reduced.err.join('\n'));
      const warnings = reduced.err.filter((l) => l.includes('warning'));
      assert.strictEqual(warnings.length, 1, JSON.stringify(reduced.err));
      assert.match(warnings[0], /could not be checked against the original: .*: input "\w+" has dtype "F64"; only float32 inputs can be probed/);
      assertRefused(await cli('verify', c.file, path.join(out, 'model.json')), c.file, /has dtype "F64"; only float32 inputs can be probed/);
    });

    it('a layer name with a line break and 10,000 characters is quoted escaped and cut short in the refusal', async () => {
      const c = await freshCopy();
      c.json.modelTopology.config.layers[0].config.name = `h\n${'x'.repeat(10_000)}`;
      await fs.writeFile(c.file, JSON.stringify(c.json));
      const run = await cli('analyze', c.file);
      assertRefused(run, c.file, /layer "h\\nx+…/);
      assert.ok(run.err[0].length < c.file.length + 300, `${run.err[0].length} characters`);
    });

    it('a batch normalisation renamed away from its statistics is refused', async () => {
      const model = tf.sequential({
        layers: [
          tf.layers.dense({ name: 'h', inputShape: [4], units: 8 }),
          tf.layers.batchNormalization({ name: 'bn' }),
          tf.layers.dense({ name: 'out', units: 2 }),
        ],
      });
      const file = await saveLayersModel(model, path.join(root, `case${++cases}`, 'model'));
      model.dispose();
      const json = await readJson<SavedModelJson>(file);
      const { config } = json.modelTopology;
      assert.ok(!Array.isArray(config), 'TF.js writes a Sequential config as {name, layers}');
      config.layers[1].config.name = 'moved';
      await fs.writeFile(file, JSON.stringify(json));
      assertRefused(await cli('analyze', file), file, /layer "moved" \(BatchNormalization\) has no moving_mean in the weights/);
    });
  });

  describe('functional configs whose model tfjs could never build (it would loop forever building it)', () => {
    type Edit = (layers: LayerJson[]) => void;
    /** A small functional TF.js model x → h → out, saved, its topology edited; returns its model.json. */
    async function functionalCase(edit: Edit): Promise<string> {
      const x = tf.input({ name: 'x', shape: [4] });
      const h = tf.layers.dense({ name: 'h', units: 8 }).apply(x) as tf.SymbolicTensor;
      const out = tf.layers.dense({ name: 'out', units: 4 }).apply(h) as tf.SymbolicTensor;
      const model = tf.model({ inputs: x, outputs: out });
      const file = await saveLayersModel(model, path.join(root, `case${++cases}`, 'model'));
      model.dispose();
      const json = await readJson<SavedModelJson>(file);
      const { config } = json.modelTopology;
      assert.ok(!Array.isArray(config), 'TF.js writes a functional config as {name, layers, …}');
      edit(config.layers);
      await fs.writeFile(file, JSON.stringify(json));
      return file;
    }
    const byName = (layers: LayerJson[], name: string): LayerJson => layers.find((l) => l.name === name)!;

    it('the unedited model opens (the cases below differ from it by one edit each)', async () => {
      const file = await functionalCase(() => undefined);
      assert.strictEqual((await openModel(file)).graph.layers.length, 3);
    });

    it('a layer without its name (inbound nodes refer to layers by it, not by config.name)', async () => {
      const file = await functionalCase((layers) => {
        delete byName(layers, 'h').name;
      });
      await expectOpenRefused(file, /layer 1 \("Dense"\) has no name/);
      assertRefused(await cli('analyze', file), file, /layer 1 \("Dense"\) has no name/);
    });

    it('an inbound node that consumes a call a layer never gets, directly or through a cycle of later calls', async () => {
      const pastCalls = await functionalCase((layers) => {
        byName(layers, 'out').inbound_nodes = [[['h', 1, 0, {}]]];
      });
      await expectOpenRefused(pastCalls, /layer "out" consumes call 1 of layer "h", which the model never makes/);
      // h's second call consumes out's first, which consumes h's second.
      const cycle = await functionalCase((layers) => {
        byName(layers, 'h').inbound_nodes = [[['x', 0, 0, {}]], [['out', 0, 0, {}]]];
        byName(layers, 'out').inbound_nodes = [[['h', 1, 0, {}]]];
      });
      await expectOpenRefused(cycle, /consumes call \d of layer "(h|out)", which the model never makes/);
    });
  });

  describe('a model changed while it is used', () => {
    it('the fingerprint records every file before it is read, and reduce refuses a model changed since', async () => {
      const c = await freshCopy();
      const loaded = await loadModel(c.file);
      assert.deepStrictEqual(loaded.source.fingerprint.map((f) => [path.basename(f.path), f.size]), [
        ['model.json', (await fs.stat(c.file)).size],
        ['group1-shard1of1.bin', (await fs.stat(c.shard)).size],
      ]);
      const analysis = await analyzeModel(loaded);
      // Another shard of the same size swapped in (a new file renamed over the old one).
      const swapped = `${c.shard}.new`;
      await fs.writeFile(swapped, Buffer.from(await fs.readFile(c.shard)).reverse());
      await fs.rename(swapped, c.shard);
      const out = path.join(path.dirname(c.dir), 'out');
      await assert.rejects(reduceModel(analysis, 0.5, out), (e: unknown) => e instanceof InputError && /"group1-shard1of1\.bin" changed while the model was being read or analysed/.test(e.message));
      assert.deepStrictEqual(await listing(path.dirname(c.dir)), ['model'], 'nothing was written');
    });

    it('a file changed between its stamp and the end of reading is noticed', async () => {
      const file = await write('changing.bin', new Uint8Array(100));
      const reading = new ModelReading();
      await reading.read(file);
      await fs.writeFile(file, new Uint8Array(101));
      await assert.rejects(reading.checkUnchanged(file), /the model file changed while the model was being read/);
    });
  });

  describe('the output folder', () => {
    it('reduce --force does not replace a folder holding the original through a symlink, either way round', async () => {
      const c = await freshCopy();
      const real = c.dir;
      const alias = path.join(path.dirname(real), 'alias');
      await fs.symlink(real, alias);
      const through = path.join(alias, 'model.json');
      const before = await listing(real);
      assertRefused(await cli('reduce', through, '--out', real, '--force'), real, /would hold or replace the original model/);
      assertRefused(await cli('reduce', c.file, '--out', alias, '--force'), alias, /would hold or replace the original model/);
      assert.deepStrictEqual(await listing(real), before);
      assert.strictEqual((await cli('analyze', c.file)).code, 0, 'the original is intact');
    });

    it('a write that fails or is cancelled leaves nothing behind', async () => {
      const parent = path.join(root, `case${++cases}`);
      await fs.mkdir(parent);
      const files = [{ name: 'model.json', data: '{}' }, { name: 'missing-folder/weights.bin', data: new Uint8Array(8) }];
      await assert.rejects(writeFolder(path.join(parent, 'out'), files, { protect: [] }), (e: unknown) => e instanceof InputError && /cannot write the output folder/.test(e.message));
      assert.deepStrictEqual(await listing(parent), []);
      await assert.rejects(writeFolder(path.join(parent, 'out'), files.slice(0, 1), { protect: [], cancel: { cancelled: true } }), CancelledError);
      assert.deepStrictEqual(await listing(parent), []);
      // An existing folder survives a failed replacement.
      await writeFolder(path.join(parent, 'out'), files.slice(0, 1), { protect: [] });
      await assert.rejects(writeFolder(path.join(parent, 'out'), files, { protect: [], overwrite: true }), InputError);
      assert.deepStrictEqual(await listing(parent), ['out']);
      assert.deepStrictEqual(await listing(path.join(parent, 'out')), ['model.json']);
    });
  });
});
