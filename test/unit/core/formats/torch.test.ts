/**
 * PyTorch state dicts (.pt/.pth from torch.save, made by scripts/make-torch-fixtures.py): read with
 * the restricted unpickler, mapped to an inferred chain, condensed exactly, written as safetensors,
 * and verified; anything that is not a plain state dict is refused without running it.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import type { AnalysisJson } from '../../../../src/cli/format';
import { loadBackend } from '../../../../src/core/compute/backend';
import { readDataFile } from '../../../../src/core/codecs/dataFile';
import { openModel } from '../../../../src/core/formats/index';
import { ModelGraph } from '../../../../src/core/model/graph';
import { ModelSource } from '../../../../src/core/model/registry';
import { sizeOf, Tensor } from '../../../../src/core/model/tensor';
import { encodeSafetensors, parseSafetensors } from '../../../../src/core/formats/torch/safetensors';
import { encodeFloats, RawTensor } from '../../../../src/core/codecs/dtypes';
import { writeZip } from '../../../../src/core/codecs/zip';
import { verifyModels } from '../../../../src/core/verify';
import type { CondenseReport } from '../../../../src/core/reduction/report';
import { assertRefused, CliRun, runCli } from '../../../helpers/cli';
import { tempDir } from '../../../helpers/models';
import { Arr, maxRelDeviation, readJson } from '../../../helpers/tfjs';
import { SplitSpec, widen } from '../../../helpers/widen';
import { pickle } from '../../../helpers/pickle';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'fixtures', 'torch');
const fixture = (name: string): string => path.join(FIXTURES, name);
const MARKER = '/tmp/condense-malicious-marker';

const cli = (...argv: string[]): Promise<CliRun> => runCli(...argv, '--backend', 'cpu');

/** A torch.save-like archive: stored entries, as torch writes them. */
function storedZip(entries: Record<string, Uint8Array>): Buffer {
  return writeZip(Object.entries(entries).map(([name, data]) => ({ name, data, method: 0 })));
}

/** Runs a source's rebuilt model on a fixture's inputs. */
async function predict(source: ModelSource, inputs: string): Promise<Float32Array> {
  const x = await readDataFile(fixture(inputs));
  const predictor = await source.predictor(await loadBackend('cpu'));
  try {
    const [y] = await predictor.run([x.data], x.shape[0], [x.shape.slice(1)]);
    return y;
  } finally {
    predictor.dispose();
  }
}

describe('PyTorch state dicts', function () {
  let root: string;
  before(async () => {
    root = await tempDir();
  });

  async function write(name: string, bytes: Uint8Array): Promise<string> {
    const file = path.join(root, name);
    await fs.writeFile(file, bytes);
    return file;
  }

  describe('reading', () => {
    it('mlp.pt: tensors in state-dict order; the protocol-4, deflated, big-endian and safetensors copies hold the same values', async () => {
      const source = await openModel(fixture('mlp.pt'));
      assert.strictEqual(source.format, 'pytorch');
      assert.deepStrictEqual(source.weights.map((w) => w.name), ['net.0.weight', 'net.0.bias', 'net.2.weight', 'net.2.bias', 'net.4.weight', 'net.4.bias']);
      // Kernels are in the engine's layout: Linear [out, in] becomes Dense [in, out].
      assert.deepStrictEqual(source.weights.map((w) => w.shape), [[6, 20], [20], [20, 14], [14], [14, 3], [3]]);
      for (const copy of ['mlp-protocol4.pt', 'mlp-deflated.pt', 'mlp-bigendian.pt', 'mlp.safetensors']) {
        const other = await openModel(fixture(copy));
        const byName = new Map(other.weights.map((w) => [w.name, w]));
        for (const w of source.weights) assert.deepStrictEqual(byName.get(w.name)?.data, w.data, `${copy}: ${w.name}`);
      }
    });

    it('strided.pt: views (a transposed weight, a bias at an offset into a shared storage) read as PyTorch sees them', async () => {
      const expected = await readJson<Record<string, number[][] | number[]>>(fixture('strided.json'));
      const source = await openModel(fixture('strided.pt'));
      for (const w of source.weights) {
        assert.deepStrictEqual(Array.from(w.data), (expected[w.name] as number[]).flat(), w.name);
      }
    });

    it('the rebuilt chains compute what PyTorch computed: MLP, six-layer Sequential (safetensors in name order), CNN with BatchNorm and channel-major flatten', async () => {
      for (const [file, name] of [['mlp.pt', 'mlp'], ['deep.safetensors', 'deep'], ['cnn.pth', 'cnn']]) {
        const expected = (await readDataFile(fixture(`${name}-output.npy`))).data;
        const actual = await predict(await openModel(fixture(file)), `${name}-input.npy`);
        assert.ok(maxRelDeviation(expected, actual) <= 1e-5, `${file}: ${maxRelDeviation(expected, actual)}`);
      }
    });

    it('layers are named by their state-dict prefixes; BatchNorm is folded into the convolution before it', async () => {
      const run = await cli('analyze', fixture('cnn.pth'), '--json');
      assert.strictEqual(run.code, 0, run.err.join('\n'));
      const layers = (JSON.parse(run.out.join('\n')) as AnalysisJson).layers.map((l) => [l.name, l.type, l.units, l.reducible, l.reason]);
      assert.deepStrictEqual(layers, [
        ['conv1', 'Conv2D', 6, true, null],
        ['bn1', 'BatchNormalization', 0, false, 'folded into conv1 for analysis'],
        ['conv2', 'Conv2D', 8, true, null],
        ['bn2', 'BatchNormalization', 0, false, 'folded into conv2 for analysis'],
        ['fc1', 'Dense', 10, true, null],
        ['fc2', 'Dense', 3, false, 'output layer: its units are the model outputs'],
      ]);
    });

    it('--activation: leaky_relu and Keras names are accepted, anything else refused', async () => {
      for (const activation of ['leaky_relu', 'gelu', 'tanh', 'linear']) {
        const run = await cli('analyze', fixture('mlp.pt'), '--activation', activation);
        assert.strictEqual(run.code, 0, `${activation}: ${run.err.join('\n')}`);
      }
      assertRefused(await cli('analyze', fixture('mlp.pt'), '--activation', 'softmax'), 'mlp.pt', /unknown activation "softmax"/);
    });

    it('a convolutional state dict needs NCHW samples to verify: without --data, or with rows of the wrong shape, it says so', async () => {
      assertRefused(await cli('verify', fixture('cnn.pth'), fixture('cnn.pth')), 'cnn.pth', /unknown size \[1, \?, \?\].*--data/);
      const csv = await write('rows.csv', Buffer.from('1,2,3,4\n5,6,7,8\n'));
      assertRefused(await cli('verify', fixture('cnn.pth'), fixture('cnn.pth'), '--data', csv), csv, /shape \[2, 4\].*\[1, \?, \?\]/);
      const ok = await cli('verify', fixture('cnn.pth'), fixture('cnn.pth'), '--data', fixture('cnn-input.npy'), '--tolerance', '0');
      assert.strictEqual(ok.code, 0, ok.out.join('\n') + ok.err.join('\n'));
    });
  });

  describe('exactness: condensing a widened trained state dict', () => {
    interface Case {
      name: string;
      file: string;
      activation: string;
      splits: SplitSpec[];
      data?: string;
    }
    const mlpSplits = (mode: 'scaled' | 'exact', seed: number): SplitSpec[] => [
      { layer: 'net.0', consumer: 'net.2', mode, seed },
      { layer: 'net.2', consumer: 'net.4', mode, seed: seed + 1 },
    ];
    const cases: Case[] = [
      { name: 'ReLU MLP (positively scaled copies)', file: 'mlp.pt', activation: 'relu', splits: mlpSplits('scaled', 1) },
      { name: 'LeakyReLU MLP (positively scaled copies)', file: 'mlp.pt', activation: 'leaky_relu', splits: mlpSplits('scaled', 3) },
      { name: 'tanh MLP (exact copies)', file: 'mlp.pt', activation: 'tanh', splits: mlpSplits('exact', 5) },
      { name: 'GELU MLP (exact copies)', file: 'mlp.pt', activation: 'gelu', splits: mlpSplits('exact', 7) },
      {
        name: 'CNN: Conv2d+BatchNorm → Conv2d+BatchNorm → flatten (channel-major) → Linear → Linear',
        file: 'cnn.pth',
        activation: 'relu',
        data: 'cnn-input.npy',
        splits: [
          { layer: 'conv1', consumer: 'conv2', batchNorm: 'bn1', mode: 'scaled', seed: 9 },
          { layer: 'conv2', consumer: 'fc1', batchNorm: 'bn2', mode: 'scaled', seed: 10 },
          { layer: 'fc1', consumer: 'fc2', mode: 'scaled', seed: 11 },
        ],
      },
    ];

    cases.forEach((c, index) => {
      it(`${c.name}: analyze finds the original units, reduce writes them, verify ≤ 1e-5`, async () => {
        const dir = path.join(root, `exact${index}`);
        await fs.mkdir(dir);
        const original = fixture(c.file);
        const source = await openModel(original, { activation: c.activation });
        const { weights, units } = widenSplits(source.graph, c.splits);
        const wide = path.join(dir, 'wide.safetensors');
        await fs.writeFile(wide, source.encode(tensorsByName(source.graph, weights), new Map())[0].data);
        const flags = ['--activation', c.activation, ...(c.data ? ['--data', fixture(c.data)] : [])];

        // The wide state dict computes the original's function (checks the construction itself).
        const same = await verifyModels(await loadBackend('cpu'), original, wide, { activation: c.activation, data: c.data && fixture(c.data) });
        assert.ok(same.maxRel <= 1e-5, `the widened model differs from the original: ${same.maxRel}`);

        const analysed = await cli('analyze', wide, '--json', '--threshold', '0.9999', ...flags);
        assert.strictEqual(analysed.code, 0, analysed.err.join('\n'));
        const layers = new Map((JSON.parse(analysed.out.join('\n')) as AnalysisJson).layers.map((l) => [l.name, l]));
        const originalUnits = new Map(source.graph.layers.map((l) => [l.name, Number(l.config.units ?? l.config.filters)]));
        for (const s of c.splits) {
          const layer = layers.get(s.layer);
          assert.ok(layer, `layer ${s.layer} missing from the analysis`);
          assert.strictEqual(layer.reducible, true, `${s.layer}: ${layer.reason}`);
          assert.strictEqual(layer.units, units[s.layer]);
          assert.strictEqual(layer.clusters, originalUnits.get(s.layer), `${s.layer}: clusters`);
        }

        const out = path.join(dir, 'reduced');
        const reduced = await cli('reduce', wide, '--out', out, '--threshold', '0.9999', ...flags);
        assert.strictEqual(reduced.code, 0, reduced.err.join('\n'));
        assert.deepStrictEqual((await fs.readdir(out)).sort(), ['condense-report.json', 'wide.safetensors']);
        const report = await readJson<CondenseReport>(path.join(out, 'condense-report.json'));
        assert.strictEqual(report.reducedFile, 'wide.safetensors');
        assert.deepStrictEqual(
          report.layers.map((l) => [l.name, l.unitsAfter]),
          c.splits.map((s) => [s.layer, originalUnits.get(s.layer)]),
        );

        // Same function as the wide and as the original file; every tensor back to its original shape and dtype.
        const reducedFile = path.join(out, 'wide.safetensors');
        for (const reference of [wide, original]) {
          const verified = await cli('verify', reference, reducedFile, '--tolerance', '1e-5', ...flags);
          assert.strictEqual(verified.code, 0, verified.out.join('\n') + verified.err.join('\n'));
        }
        const written = await openModel(reducedFile, { activation: c.activation });
        assert.deepStrictEqual(
          written.weights.map((w) => [w.name, w.shape, w.storage]),
          source.weights.map((w) => [w.name, w.shape, w.storage]),
        );
      });
    });
  });

  describe('refusals', () => {
    /** analyze, reduce and verify all refuse the file the same way. */
    async function expectRefused(file: string, problem: RegExp): Promise<void> {
      const name = path.basename(file);
      assertRefused(await cli('analyze', file), name, problem);
      assertRefused(await cli('reduce', file, '--out', path.join(root, 'never')), name, problem);
      assertRefused(await cli('verify', file, fixture('mlp.pt')), name, problem);
      await assert.rejects(fs.stat(path.join(root, 'never')));
    }

    it('a malicious pickle (GLOBAL posix.system + REDUCE) is refused and runs nothing', async () => {
      await fs.rm(MARKER, { force: true });
      await expectRefused(fixture('malicious.pt'), /posix\.system.*refused without running anything/);
      await assert.rejects(fs.stat(MARKER), 'the marker file exists: the pickle ran');
    });

    it('a whole pickled module (torch.save(model)) is refused with the state_dict advice', async () => {
      await expectRefused(fixture('module.pt'), /whole pickled object \(__main__\.MLP\).*torch\.save\(model\.state_dict\(\), path\).*ONNX/);
    });

    it('a TorchScript archive (torch.jit.save) is refused with the state_dict advice', async () => {
      await expectRefused(fixture('script.pt'), /TorchScript archive \(torch\.jit\.save\), not a state dict.*state_dict\(\)/);
    });

    it('a training checkpoint is refused, naming its entries', async () => {
      await expectRefused(fixture('checkpoint.pt'), /not a plain state dict: "model", "epoch" are not tensors.*state_dict\(\)/);
    });

    it('names and opcodes outside a state dict are refused: STACK_GLOBAL builtins.eval, INST, REDUCE on a storage type, BUILD on a tensor list', async () => {
      const archive = (pkl: Uint8Array): Buffer => storedZip({ 'x/data.pkl': pkl, 'x/version': Buffer.from('3\n') });
      const cases: [Uint8Array, RegExp][] = [
        [pickle(0x80, 2, 0x8c, 8, 'builtins', 0x8c, 4, 'eval', 0x93, { text: '1' }, 0x85, 0x52, 0x2e), /builtins\.eval.*refused without running/],
        [pickle(0x80, 2, 0x28, 'i', 'os\nsystem\n', 0x2e), /opcode 0x69 at byte 3 is not used by state dicts/],
        [pickle(0x80, 2, 'c', 'torch\nFloatStorage\n', 0x29, 0x52, 0x2e), /REDUCE at byte \d+ calls something other/],
        [pickle(0x80, 2, 0x5d, 0x7d, 0x62, 0x2e), /BUILD at byte \d+ on something other than a dict/],
      ];
      for (const [index, [pkl, problem]] of cases.entries()) {
        await expectRefused(await write(`crafted${index}.pt`, archive(pkl)), problem);
      }
    });

    it('storages that are missing, of the wrong size, or too small for the tensor, and absurd shapes', async () => {
      const tensor = (numel: number, shape: number[]): Uint8Array => {
        const ints = (values: number[]): (number | string)[] => values.flatMap((v) => [0x4a, String.fromCharCode(...new Uint8Array(Int32Array.of(v).buffer))]);
        return pickle(
          0x80, 2, 0x7d, { text: 'fc.weight' }, 'c', 'torch._utils\n_rebuild_tensor_v2\n', 0x28,
          0x28, { text: 'storage' }, 'c', 'torch\nFloatStorage\n', { text: '0' }, { text: 'cpu' }, ...ints([numel]), 0x74, 0x51,
          ...ints([0]), 0x28, ...ints(shape), 0x74, 0x28, ...ints(shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1))), 0x74,
          0x89, 0x7d, 0x74, 0x52, 0x73, 0x2e,
        );
      };
      const archive = (pkl: Uint8Array, storage?: Uint8Array): Buffer =>
        storedZip({ 'x/data.pkl': pkl, ...(storage ? { 'x/data/0': storage } : {}) });
      const good = await write('handmade.pt', archive(tensor(4, [2, 2]), new Uint8Array(16)));
      assert.strictEqual((await cli('analyze', good)).code, 0, 'the hand-made state dict itself is read');
      await expectRefused(await write('no-storage.pt', archive(tensor(4, [2, 2]))), /storage data\/0 is missing/);
      await expectRefused(await write('short-storage.pt', archive(tensor(4, [2, 2]), new Uint8Array(12))), /holds 12 bytes, but 4 float32 values need 16/);
      await expectRefused(await write('past-storage.pt', archive(tensor(4, [3, 2]), new Uint8Array(16))), /"fc\.weight" reaches past the end of its storage/);
      await expectRefused(await write('huge.pt', archive(tensor(4, [65536, 65536]), new Uint8Array(16))), /shape \[65536, 65536\].*more than this tool will allocate/);
    });

    it('truncated, garbled and foreign files: exit 2 with the reason', async () => {
      const bytes = await fs.readFile(fixture('mlp.pt'));
      await expectRefused(await write('half.pt', bytes.subarray(0, bytes.length >> 1)), /no end-of-central-directory record.*truncated/);
      const holed = Buffer.concat([bytes.subarray(0, 1000), bytes.subarray(1100)]);
      await expectRefused(await write('holed.pt', holed), /not a readable zip archive: broken zip64 end record/);
      await expectRefused(await write('empty.pt', Buffer.alloc(0)), /not a PyTorch file/);
      const garbled = Buffer.from(bytes);
      const storage = garbled.indexOf(Buffer.from('mlp/data/0')) + 'mlp/data/0'.length + 80;
      garbled[storage] ^= 0xff;
      await expectRefused(await write('garbled.pt', garbled), /fails its CRC check/);
      await expectRefused(await write('legacy.pt', Buffer.from([0x80, 0x02, 0x8a, 0x0a])), /legacy \(pre-1\.6\) serialization/);
      await expectRefused(await write('text.pt', Buffer.from('not a model at all')), /not a PyTorch file/);
      const truncatedPickle = storedZip({ 'x/data.pkl': pickle(0x80, 2, 0x7d, 0x58, 9, 0, 0, 0, 'fc') });
      await expectRefused(await write('cut-pickle.pt', truncatedPickle), /ends in the middle of an instruction/);
    });

  });

  describe('chain inference', () => {
    const tensor = (name: string, shape: number[]): RawTensor => {
      const values = Array.from({ length: sizeOf(shape) }, (_, i) => Math.sin(3 * i + name.length));
      return { name, dtype: 'float32', shape, bytes: encodeFloats('float32', values) };
    };
    async function layerRows(file: string): Promise<[string, string, string | null][]> {
      const run = await cli('analyze', file, '--json');
      assert.strictEqual(run.code, 0, run.err.join('\n'));
      return (JSON.parse(run.out.join('\n')) as AnalysisJson).layers.map((l) => [l.name, l.type, l.reason]);
    }

    it('modules that are not Linear/Conv2d/BatchNorm end the chain, are listed in place and carried through unchanged', async () => {
      // A LayerNorm-like module (weight and bias vectors, no running statistics) between two Linear chains.
      const tensors = [
        tensor('fc1.weight', [4, 3]), tensor('fc1.bias', [4]), tensor('norm.weight', [4]), tensor('norm.bias', [4]),
        tensor('fc2.weight', [5, 4]), tensor('fc2.bias', [5]), tensor('fc3.weight', [2, 5]), tensor('fc3.bias', [2]),
      ];
      const file = await write('with-norm.safetensors', encodeSafetensors(tensors, null));
      assert.deepStrictEqual(await layerRows(file), [
        ['fc1', 'Dense', 'output layer: its units are the model outputs'],
        ['norm', 'Unmatched', 'not analysed: Unmatched'],
        ['fc2', 'Dense', null],
        ['fc3', 'Dense', 'output layer: its units are the model outputs'],
      ]);
      // Two chains are two inputs and two outputs for verification.
      const verified = await cli('verify', file, file, '--tolerance', '0');
      assert.strictEqual(verified.code, 0, verified.out.join('\n') + verified.err.join('\n'));
      const out = path.join(root, 'with-norm');
      assert.strictEqual((await cli('reduce', file, '--out', out, '--threshold', '0.1')).code, 0);
      const written = parseSafetensors('reduced', await fs.readFile(path.join(out, 'with-norm.safetensors')));
      assert.ok(written.tensors.find((t) => t.name === 'fc2.weight')!.shape[0] < 5, 'fc2 was not reduced at γ = 0.1');
      for (const name of ['norm.weight', 'norm.bias', 'fc1.weight', 'fc1.bias']) {
        assert.deepStrictEqual(written.tensors.find((t) => t.name === name)!.bytes, tensors.find((t) => t.name === name)!.bytes, name);
      }
    });

    it('a grouped (depthwise) convolution after a convolution is carried, not analysed: its filters read different channels', async () => {
      const tensors = [tensor('conv.weight', [4, 3, 3, 3]), tensor('dw.weight', [4, 1, 3, 3]), tensor('pw.weight', [6, 4, 1, 1]), tensor('head.weight', [5, 6, 1, 1])];
      assert.deepStrictEqual(await layerRows(await write('depthwise.safetensors', encodeSafetensors(tensors, null))), [
        ['conv', 'Conv2D', 'output layer: its units are the model outputs'],
        ['dw', 'Unmatched', 'not analysed: Unmatched'],
        ['pw', 'Conv2D', null],
        ['head', 'Conv2D', 'output layer: its units are the model outputs'],
      ]);
    });
  });
});

/**
 * widen() on the engine-layout weights of the graph's layers, one split at a time. A Linear after a
 * Conv2d reads the feature map flattened channel-major as PyTorch does (rows c·P + p of its
 * [C·P, out] kernel), so while it takes a conv's copies it is seen as [C, P·out]: whole
 * per-channel blocks move. (Derived from the shapes, not from the graph, so that a graph that got
 * the flatten order wrong fails the test.)
 */
function widenSplits(graph: ModelGraph, splits: SplitSpec[]): { weights: Map<string, Arr[]>; units: Record<string, number> } {
  let weights = new Map<string, Arr[]>();
  for (const layer of graph.layers) {
    const roles = ROLES[layer.className];
    if (!roles) continue;
    weights.set(layer.name, roles.flatMap((role) => {
      const w = layer.weights.get(role);
      return w ? [{ shape: w.shape.slice(), data: Float32Array.from(w.data) }] : [];
    }));
  }
  const units: Record<string, number> = {};
  for (const split of splits) {
    const consumer = split.consumer as string;
    const kernel = (): Arr => weights.get(consumer)![0];
    const channels = weights.get(split.layer)![0].shape.at(-1)!;
    const flattened = graph.byName.get(split.layer)!.className === 'Conv2D' && graph.byName.get(consumer)!.className === 'Dense';
    const positions = flattened ? kernel().shape[0] / channels : 0;
    if (positions) kernel().shape = [channels, positions * kernel().shape[1]];
    const step = widen(weights, [split]);
    weights = step.weights;
    Object.assign(units, step.units);
    if (positions) kernel().shape = [kernel().shape[0] * positions, kernel().shape[1] / positions];
  }
  return { weights, units };
}

const ROLES: Record<string, string[]> = {
  Dense: ['kernel', 'bias'],
  Conv2D: ['kernel', 'bias'],
  BatchNormalization: ['gamma', 'beta', 'moving_mean', 'moving_variance'],
};

/** The widened arrays as weight tensors by weight name. */
function tensorsByName(graph: ModelGraph, arrays: Map<string, Arr[]>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, arrs] of arrays) {
    const layer = graph.byName.get(name)!;
    const present = ROLES[layer.className].filter((role) => layer.weights.has(role));
    present.forEach((role, i) => out.set(layer.weights.get(role)!.name, { shape: arrs[i].shape, dtype: 'float32', data: arrs[i].data }));
  }
  return out;
}
