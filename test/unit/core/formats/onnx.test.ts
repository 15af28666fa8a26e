/**
 * ONNX models (test/fixtures/onnx, exported by PyTorch: scripts/make-onnx-fixtures.py) through the
 * same engine and CLI as every format: the graph read in Keras vocabulary, exactness on widened
 * trained models (run by onnxruntime), the writer keeping everything it does not change, coupled
 * layers left alone, and bad files refused with exit code 2.
 */
import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import type { AnalysisJson } from '../../../../src/cli/format';
import { checkReduced } from '../../../../src/cli/check';
import { analyzeModel, loadModel } from '../../../../src/core/analyze';
import { loadBackend } from '../../../../src/core/compute/backend';
import { openModel } from '../../../../src/core/formats/index';
import { ModelGraph } from '../../../../src/core/model/graph';
import { bytesField, concatBytes, scanFields, varintField } from '../../../../src/core/codecs/protobuf';
import { ModelSource } from '../../../../src/core/model/registry';
import { float32ToFloat16 } from '../../../../src/core/codecs/float16';
import { reduceModel } from '../../../../src/core/reduce';
import { verifyModels } from '../../../../src/core/verify';
import { assertRefused, runCli } from '../../../helpers/cli';
import { tempDir } from '../../../helpers/models';
import { graphArrays, graphTensors, plantDuplicate, SplitSpec, widen } from '../../../helpers/widen';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'fixtures', 'onnx');
const fixture = (name: string): string => path.join(FIXTURES, name);

/** Writes a source's encoded files (the model and any external data) into `dir`; returns the model file. */
async function writeEncoded(source: ModelSource, files: ReturnType<ModelSource['encode']>, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (const f of files) await fs.writeFile(path.join(dir, f.name), f.data);
  return path.join(dir, source.mainFile);
}

/** The fixture with its ModelProto edited (through onnx-proto), written as `dir/name`. */
async function edited(name: string, dir: string, edit: (model: onnx.ModelProto) => void): Promise<string> {
  const model = onnx.ModelProto.decode(await fs.readFile(fixture(name)));
  edit(model);
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await fs.writeFile(file, onnx.ModelProto.encode(model).finish());
  return file;
}

const initializer = (model: onnx.ModelProto, name: string): onnx.ITensorProto => model.graph!.initializer!.find((t) => t.name === name)!;

/** Units (Dense) or filters (Conv2D) per layer. */
function unitsOf(graph: ModelGraph): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of graph.layers) if (l.className === 'Dense' || l.className === 'Conv2D') out[l.name] = Number(l.config.units ?? l.config.filters);
  return out;
}

const parameters = (source: ModelSource): number => source.weights.reduce((s, w) => s + w.data.length, 0);

describe('ONNX models', function () {
  let root: string;
  let dirs = 0;
  const freshDir = (): string => path.join(root, `case${++dirs}`);

  before(async () => {
    root = await tempDir();
  });

  it('protobuf wire helpers: fields round-trip (varints up to 2^53, nested messages); truncated messages throw', () => {
    const values = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER];
    const message = concatBytes([...values.map((v) => varintField(3, v)), bytesField(4, bytesField(1, 'inner'))]);
    const fields = scanFields(message);
    assert.deepStrictEqual(fields.slice(0, -1).map((f) => [f.field, f.value]), values.map((v) => [3, v]));
    assert.deepStrictEqual(scanFields(fields[fields.length - 1].body).map((f) => Buffer.from(f.body).toString()), ['inner']);
    assert.deepStrictEqual(Buffer.concat(fields.map((f) => f.raw)), Buffer.from(message));
    assert.throws(() => scanFields(message.subarray(0, message.length - 2)), RangeError);
  });

  describe('the graph in Keras vocabulary', () => {
    it('Gemm → Dense (kernel [in, out] from transB [out, in]), ReLU, and GELU as PyTorch writes it (Div, Erf, Add, Mul, Mul)', async () => {
      const source = await openModel(fixture('mlp.onnx'));
      const { graph } = source;
      assert.strictEqual(source.format, 'onnx');
      assert.deepStrictEqual(graph.layers.map((l) => [l.name, l.className, l.config.activation ?? null]), [
        ['x', 'InputLayer', null],
        ['/0/Gemm', 'Dense', 'linear'],
        ['/1/Relu', 'Activation', 'relu'],
        ['/2/Gemm', 'Dense', 'linear'],
        ['/3/Div', 'Activation', 'gelu'],
        ['/4/Gemm', 'Dense', 'linear'],
      ]);
      const stored = onnx.ModelProto.decode(await fs.readFile(fixture('mlp.onnx')));
      const weight = initializer(stored, '2.weight');
      const raw = new Float32Array(Uint8Array.from(weight.rawData!).buffer); // [24, 32]
      const kernel = graph.byName.get('/2/Gemm')!.weights.get('kernel')!;
      assert.deepStrictEqual(kernel.shape, [32, 24]);
      assert.strictEqual(kernel.data[5 * 24 + 7], raw[7 * 32 + 5]);
      assert.deepStrictEqual(graph.byName.get('/2/Gemm')!.outputShape, [24]);
    });

    it('Conv → Conv2D (kernel [kh, kw, in, out]), BatchNormalization left unfolded, pooling, channel-major Flatten; shapes channels-last', async () => {
      const { graph } = await openModel(fixture('cnn.onnx'));
      const layer = (name: string) => graph.byName.get(name)!;
      assert.deepStrictEqual(graph.layers.map((l) => l.className), [
        'InputLayer', 'Conv2D', 'BatchNormalization', 'Activation', 'MaxPooling2D', 'Conv2D', 'LeakyReLU', 'Flatten', 'Dense', 'Activation', 'Dense', 'Softmax',
      ]);
      assert.deepStrictEqual(layer('/0/Conv').weights.get('kernel')!.shape, [3, 3, 1, 8]);
      assert.deepStrictEqual(layer('/4/Conv').weights.get('kernel')!.shape, [3, 3, 8, 6]);
      assert.deepStrictEqual(layer('/1/BatchNormalization').config, { axis: 3, epsilon: Math.fround(1e-5) });
      assert.deepStrictEqual([...layer('/1/BatchNormalization').weights.keys()], ['gamma', 'beta', 'moving_mean', 'moving_variance']);
      assert.strictEqual(layer('/5/LeakyRelu').config.alpha, Math.fround(0.1));
      assert.deepStrictEqual(
        ['x', '/0/Conv', '/3/MaxPool', '/4/Conv', '/6/Flatten', '/7/Gemm'].map((n) => layer(n).outputShape),
        [[12, 12, 1], [12, 12, 8], [6, 6, 8], [4, 4, 6], [96], [16]],
      );
      assert.strictEqual(layer('/6/Flatten').channelMajor, true);
    });

    it('MatMul + Add → Dense on [N, 5, 6] float64 inputs; Flatten of a 2-D tensor is not channel-major', async () => {
      const source = await openModel(fixture('tokens.onnx'));
      const dense = source.graph.byName.get('/0/MatMul')!;
      assert.strictEqual(dense.className, 'Dense');
      assert.deepStrictEqual([...dense.weights.keys()], ['kernel', 'bias']);
      assert.deepStrictEqual(dense.outputShape, [5, 20]);
      assert.strictEqual(dense.weights.get('kernel')!.storage, 'float64');
      assert.ok(!source.graph.byName.has('/0/Add'), 'the bias Add is part of the Dense layer');
    });

    it('GELU with the halving first ((x · 0.5) · (1 + erf(x/√2))) is recognised too, and computes the same', async () => {
      const file = await edited('mlp.onnx', freshDir(), (model) => {
        const nodes = model.graph!.node!;
        const byName = (name: string) => nodes.find((n) => n.name === name)!;
        const [mul, half, constant] = [byName('/3/Mul'), byName('/3/Mul_1'), byName('/3/Constant_2')];
        const [x, plusOne] = mul.input!;
        mul.input = [x, constant.output![0]];
        half.input = [mul.output![0], plusOne];
        // The constant 0.5 must now come before the first Mul.
        nodes.splice(nodes.indexOf(constant), 1);
        nodes.splice(nodes.indexOf(mul), 0, constant);
      });
      const { graph } = await openModel(file);
      assert.deepStrictEqual(graph.layers.map((l) => l.config.activation ?? l.className).slice(1), ['linear', 'relu', 'linear', 'gelu', 'linear']);
      const same = await verifyModels(await loadBackend('cpu'), fixture('mlp.onnx'), file);
      assert.ok(same.maxRel <= 1e-6, `deviation ${same.maxRel}`);
    });

    it('SiLU as exporters write it (Sigmoid, then Mul by the input) is one swish activation', async () => {
      const file = await edited('mlp.onnx', freshDir(), (model) => {
        const nodes = model.graph!.node!;
        const relu = nodes.find((n) => n.name === '/1/Relu')!;
        const [x, y] = [relu.input![0], relu.output![0]];
        nodes.splice(nodes.indexOf(relu), 1,
          { name: '/1/Sigmoid', opType: 'Sigmoid', input: [x], output: ['gate'] },
          { name: '/1/Mul', opType: 'Mul', input: [x, 'gate'], output: [y] });
      });
      const { graph } = await openModel(file);
      assert.deepStrictEqual(graph.layers.map((l) => [l.name, l.config.activation ?? l.className]).slice(1, 4), [
        ['/0/Gemm', 'linear'], ['/1/Sigmoid', 'swish'], ['/2/Gemm', 'linear'],
      ]);
    });

    it('initializers in the typed fields (float_data, double_data, float16 bits in int32_data) and float16 raw_data read as raw float32 does; the writer keeps each data type', async () => {
      const original = await openModel(fixture('mlp.onnx'));
      const halves = (t: onnx.ITensorProto): Uint16Array => Uint16Array.from(new Float32Array(Uint8Array.from(t.rawData!).buffer), float32ToFloat16);
      const file = await edited('mlp.onnx', freshDir(), (model) => {
        const asFloatData = initializer(model, '0.weight');
        asFloatData.floatData = Array.from(new Float32Array(Uint8Array.from(asFloatData.rawData!).buffer));
        asFloatData.rawData = new Uint8Array(0);
        const asDouble = initializer(model, '0.bias');
        asDouble.doubleData = Array.from(new Float32Array(Uint8Array.from(asDouble.rawData!).buffer));
        asDouble.rawData = new Uint8Array(0);
        asDouble.dataType = onnx.TensorProto.DataType.DOUBLE;
        const halfRaw = initializer(model, '2.weight');
        halfRaw.rawData = new Uint8Array(halves(halfRaw).buffer);
        halfRaw.dataType = onnx.TensorProto.DataType.FLOAT16;
        const halfTyped = initializer(model, '2.bias');
        halfTyped.int32Data = Array.from(halves(halfTyped));
        halfTyped.rawData = new Uint8Array(0);
        halfTyped.dataType = onnx.TensorProto.DataType.FLOAT16;
      });
      const source = await openModel(file);
      const weight = (s: ModelSource, name: string) => s.weights.find((w) => w.name === name)!;
      for (const name of ['0.weight', '0.bias', '4.weight']) assert.deepStrictEqual(weight(source, name).data, weight(original, name).data, name);
      for (const name of ['2.weight', '2.bias']) {
        const [a, b] = [weight(source, name).data, weight(original, name).data];
        assert.ok(a.every((v, i) => Math.abs(v - b[i]) <= 1e-3 * Math.max(1, Math.abs(b[i]))), name);
        assert.strictEqual(weight(source, name).storage, 'float16');
      }
      assert.strictEqual(weight(source, '0.bias').storage, 'float64');

      const out = freshDir();
      const run = await runCli('reduce', file, '--out', out, '--threshold', '0.7', '--backend', 'cpu');
      assert.strictEqual(run.code, 0, run.err.join('\n'));
      const written = onnx.ModelProto.decode(await fs.readFile(path.join(out, 'mlp.onnx')));
      const types = Object.fromEntries(written.graph!.initializer!.map((t) => [t.name ?? '', t.dataType] as const));
      assert.deepStrictEqual(types, { '0.weight': 1, '0.bias': 11, '2.weight': 10, '2.bias': 10, '4.weight': 1, '4.bias': 1 });
      const reread = await openModel(path.join(out, 'mlp.onnx'));
      assert.ok(unitsOf(reread.graph)['/0/Gemm'] < 32, 'the ReLU layer was reduced');
    });
  });

  interface Case {
    file: string;
    splits: SplitSpec[];
  }

  /** mlp.onnx's splits (the same graph as mlp-external.onnx's): seeds `seed` and `seed + 1`. */
  const mlpSplits = (seed: number): SplitSpec[] => [
    { layer: '/0/Gemm', consumer: '/2/Gemm', mode: 'scaled', seed },
    { layer: '/2/Gemm', consumer: '/4/Gemm', mode: 'exact', seed: seed + 1 },
  ];

  const cases: Case[] = [
    { file: 'mlp.onnx', splits: mlpSplits(1) },
    {
      file: 'cnn.onnx',
      splits: [
        { layer: '/0/Conv', consumer: '/4/Conv', batchNorm: '/1/BatchNormalization', mode: 'scaled', seed: 3 },
        { layer: '/4/Conv', consumer: '/7/Gemm', mode: 'scaled', seed: 4, channelMajor: 16 },
        { layer: '/7/Gemm', consumer: '/9/Gemm', mode: 'scaled', seed: 5 },
      ],
    },
    {
      file: 'tokens.onnx',
      splits: [
        { layer: '/0/MatMul', consumer: '/2/MatMul', mode: 'exact', seed: 6 },
        { layer: '/2/MatMul', consumer: '/4/MatMul', mode: 'scaled', seed: 7 },
      ],
    },
    { file: 'mlp-external.onnx', splits: mlpSplits(8) },
  ];

  describe('exactness: condensing a widened trained model', () => {
    for (const c of cases) {
      it(`${c.file}: analyze finds the original units; reduce + verify (onnxruntime) ≤ 1e-5; the written model has the original's size`, async () => {
        const backend = await loadBackend('cpu');
        const original = await openModel(fixture(c.file));
        const originalUnits = unitsOf(original.graph);
        const { weights, units } = widen(graphArrays(original.graph), c.splits);
        const wideFile = await writeEncoded(original, original.encode(graphTensors(original.graph, weights), new Map(Object.entries(units))), path.join(freshDir(), 'wide'));
        const same = await verifyModels(backend, fixture(c.file), wideFile);
        assert.ok(same.maxRel <= 1e-5, `the widened model differs from the original: ${same.maxRel}`);

        const analysed = await runCli('analyze', wideFile, '--json', '--threshold', '0.9999', '--backend', 'cpu');
        assert.strictEqual(analysed.code, 0, analysed.err.join('\n'));
        const report = JSON.parse(analysed.out.join('\n')) as AnalysisJson;
        for (const s of c.splits) {
          const layer = report.layers.find((l) => l.name === s.layer);
          assert.ok(layer, `layer ${s.layer} missing from the analysis`);
          assert.strictEqual(layer.reducible, true, `${s.layer}: ${layer.reason}`);
          assert.ok(units[s.layer] > originalUnits[s.layer]);
          assert.strictEqual(layer.units, units[s.layer]);
          assert.strictEqual(layer.clusters, originalUnits[s.layer], `${s.layer}: clusters`);
        }

        const out = path.join(path.dirname(wideFile), '..', 'reduced');
        const reduced = await runCli('reduce', wideFile, '--out', out, '--threshold', '0.9999', '--backend', 'cpu');
        assert.strictEqual(reduced.code, 0, reduced.err.join('\n'));
        const reducedFile = path.join(out, c.file);
        const verified = await runCli('verify', wideFile, reducedFile, '--tolerance', '1e-5', '--backend', 'cpu');
        assert.strictEqual(verified.code, 0, verified.out.join('\n') + verified.err.join('\n'));
        const fidelity = await verifyModels(backend, fixture(c.file), reducedFile);
        assert.ok(fidelity.maxRel <= 1e-5, `reduced vs original: ${fidelity.maxRel}`);

        const written = await openModel(reducedFile);
        assert.deepStrictEqual(unitsOf(written.graph), originalUnits);
        assert.strictEqual(parameters(written), parameters(original));
        assert.strictEqual(report.totals.paramsAfter, parameters(original));
        assert.deepStrictEqual(written.files.map((f) => path.basename(f)), original.files.map((f) => path.basename(f)));
      });
    }
  });

  it('the cnn with planted duplicate filters and neurons reduces exactly; past its tolerance verify exits 1', async () => {
    const source = await openModel(fixture('cnn.onnx'));
    const arrays = graphArrays(source.graph);
    plantDuplicate(arrays.get('/4/Conv')!, 0, 1, 1.7);
    plantDuplicate(arrays.get('/7/Gemm')!, 2, 5, 0.6);
    const planted = await writeEncoded(source, source.encode(graphTensors(source.graph, arrays), new Map()), freshDir());
    const out = freshDir();
    const reduced = await runCli('reduce', planted, '--out', out, '--backend', 'cpu');
    assert.strictEqual(reduced.code, 0, reduced.err.join('\n'));
    const written = await openModel(path.join(out, 'cnn.onnx'));
    assert.deepStrictEqual(unitsOf(written.graph), { '/0/Conv': 8, '/4/Conv': 5, '/7/Gemm': 15, '/9/Gemm': 4 });
    const verified = await runCli('verify', planted, path.join(out, 'cnn.onnx'), '--tolerance', '1e-5', '--backend', 'cpu');
    assert.strictEqual(verified.code, 0, verified.out.join('\n'));
    assert.match(verified.out.join('\n'), /Argmax agreement:\s+100\.00 %/);

    const loose = freshDir();
    assert.strictEqual((await runCli('reduce', fixture('mlp.onnx'), '--out', loose, '--threshold', '0.7', '--backend', 'cpu')).code, 0);
    const failed = await runCli('verify', fixture('mlp.onnx'), path.join(loose, 'mlp.onnx'), '--tolerance', '1e-6', '--backend', 'cpu');
    assert.strictEqual(failed.code, 1, failed.out.join('\n'));
    assert.match(failed.out.join('\n'), /FAILED/);
  });

  it('the writer copies every field it does not change (unknown ones included) and updates value_info shapes', async () => {
    // An extra metadata entry and a field no onnx.proto defines, appended to the exported bytes.
    const metadata = bytesField(14, bytesField(1, 'condense.test'), bytesField(2, 'kept'));
    const unknown = bytesField(99, 'a field from a future onnx.proto');
    const dir = freshDir();
    await fs.mkdir(dir);
    const file = path.join(dir, 'cnn.onnx');
    await fs.writeFile(file, concatBytes([await fs.readFile(fixture('cnn.onnx')), metadata, unknown]));

    const source = await openModel(file);
    const arrays = graphArrays(source.graph);
    plantDuplicate(arrays.get('/4/Conv')!, 0, 1, 1.7);
    const planted = await writeEncoded(source, source.encode(graphTensors(source.graph, arrays), new Map()), freshDir());
    const out = freshDir();
    assert.strictEqual((await runCli('reduce', planted, '--out', out, '--backend', 'cpu')).code, 0);
    const bytes = await fs.readFile(path.join(out, 'cnn.onnx'));
    assert.ok(bytes.includes(Buffer.from(metadata)) && bytes.includes(Buffer.from(unknown)), 'appended fields kept byte for byte');

    const written = onnx.ModelProto.decode(bytes);
    const originalModel = onnx.ModelProto.decode(await fs.readFile(fixture('cnn.onnx')));
    assert.deepStrictEqual(written.opsetImport, originalModel.opsetImport);
    assert.strictEqual(written.producerName, 'pytorch');
    assert.deepStrictEqual(written.graph!.node, originalModel.graph!.node);
    const declared = Object.fromEntries(written.graph!.valueInfo!.map((v) => [v.name ?? '', v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))] as const));
    assert.deepStrictEqual(declared['/4/Conv_output_0'], ['batch', 5, 4, 4]);
    assert.deepStrictEqual(declared['/5/LeakyRelu_output_0'], ['batch', 5, 4, 4]);
    assert.deepStrictEqual(declared['/6/Flatten_output_0'], ['batch', 80]);
    assert.deepStrictEqual(declared['/7/Gemm_output_0'], ['batch', 16]);
    const fidelity = await verifyModels(await loadBackend('cpu'), planted, path.join(out, 'cnn.onnx'));
    assert.ok(fidelity.maxRel <= 1e-5, `deviation ${fidelity.maxRel}`);
  });

  it('a batch size fixed in the file is run in chunks of that size', async () => {
    const file = await edited('mlp.onnx', freshDir(), (model) => {
      for (const v of [...model.graph!.input!, ...model.graph!.output!]) v.type!.tensorType!.shape!.dim![0] = { dimValue: 1 };
    });
    const fidelity = await verifyModels(await loadBackend('cpu'), fixture('mlp.onnx'), file, { samples: 7 });
    assert.strictEqual(fidelity.samples, 7);
    assert.strictEqual(fidelity.maxAbs, 0);
  });

  describe('models onnxruntime cannot run: the check after reduce warns (exit 0), naming whose model fails', () => {
    const withoutOutputs = (model: onnx.ModelProto): void => {
      model.graph!.output = [];
    };
    const crashed = (lines: string[]): boolean => lines.some((l) => /internal error|\n\s+at /.test(l));

    it('an original that fails there too: the reduced model is written, and one warning says the original fails', async () => {
      const file = await edited('mlp.onnx', freshDir(), withoutOutputs);
      const out = path.join(freshDir(), 'out');
      const run = await runCli('reduce', file, '--out', out, '--backend', 'cpu');
      assert.strictEqual(run.code, 0, run.err.join('\n'));
      assert.ok(!crashed(run.err), run.err.join('\n'));
      const warnings = run.err.filter((l) => l.includes('warning'));
      assert.strictEqual(warnings.length, 1, JSON.stringify(run.err));
      assert.match(warnings[0], new RegExp(`could not be checked in onnxruntime: the original ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} fails there too: \\S`));
      assert.ok(!warnings[0].includes('\n'), warnings[0]);
      assert.ok((await fs.readdir(out)).includes('mlp.onnx'));
    });

    it('a reduced model that fails where the original runs: warned about as the reduced model\'s failure; verify refuses it (exit 2)', async () => {
      const backend = await loadBackend('cpu');
      const analysis = await analyzeModel(await loadModel(fixture('mlp.onnx')));
      const result = await reduceModel(analysis, 0.9, path.join(freshDir(), 'out'));
      const reduced = result.mainFile;
      const broken = onnx.ModelProto.decode(await fs.readFile(reduced));
      withoutOutputs(broken);
      await fs.writeFile(reduced, onnx.ModelProto.encode(broken).finish());
      const warnings: string[] = [];
      const check = await checkReduced(backend, fixture('mlp.onnx'), result, { samples: 8 }, 1e-3, (w) => warnings.push(w));
      assert.strictEqual(check, null);
      assert.strictEqual(warnings.length, 1, JSON.stringify(warnings));
      assert.match(warnings[0], /^the reduced model was written but could not be checked in onnxruntime: At least one output should be requested/);
      assertRefused(await runCli('verify', fixture('mlp.onnx'), reduced, '--backend', 'cpu'), reduced, /onnxruntime cannot run this model: /);
    });
  });

  it('layers whose outputs meet in a residual Add are reducible jointly (see structure/coupling.test.ts); the block inside is reducible', async () => {
    const run = await runCli('analyze', fixture('residual.onnx'), '--backend', 'cpu');
    assert.strictEqual(run.code, 0, run.err.join('\n'));
    assert.match(run.out.join('\n'), /\/inp\/Gemm .* reducible, reduced jointly with \/block2\/Gemm \(residual Add \/Add\)/);
    const json = await runCli('analyze', fixture('residual.onnx'), '--json', '--backend', 'cpu');
    const layers = Object.fromEntries((JSON.parse(json.out.join('\n')) as AnalysisJson).layers.map((l) => [l.name, l]));
    for (const name of ['/inp/Gemm', '/block2/Gemm']) {
      assert.strictEqual(layers[name].reducible, true);
      assert.strictEqual(layers[name].reason, null);
    }
    assert.strictEqual(layers['/block1/Gemm'].reducible, true);
    assert.strictEqual(layers['/Add'].type, 'Add');
  });

  describe('bad input: exit code 2 and one message naming the file', () => {
    /** The external-data fixture copied into `dir` (its data file too, unless told otherwise). */
    async function externalCase(dir: string, edit: (model: onnx.ModelProto) => void, withData = true): Promise<string> {
      const file = await edited('mlp-external.onnx', dir, edit);
      if (withData) await fs.copyFile(fixture('mlp-external.onnx.data'), path.join(dir, 'mlp-external.onnx.data'));
      return file;
    }
    const relocate = (location: string) => (model: onnx.ModelProto): void => {
      for (const t of model.graph!.initializer!) t.externalData!.find((e) => e.key === 'location')!.value = location;
    };
    const refuse = async (file: string, problem: RegExp): Promise<void> => {
      assertRefused(await runCli('analyze', file, '--backend', 'cpu'), file, problem);
      const outputs = freshDir();
      assertRefused(await runCli('reduce', file, '--out', path.join(outputs, 'out'), '--backend', 'cpu'), file, problem);
      await assert.rejects(fs.stat(outputs));
    };

    it('a truncated file, and one that is not protobuf at all', async () => {
      const dir = freshDir();
      await fs.mkdir(dir);
      const bytes = await fs.readFile(fixture('cnn.onnx'));
      const truncated = path.join(dir, 'truncated.onnx');
      await fs.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await refuse(truncated, /not a valid ONNX file: truncated or malformed protobuf/);
      const text = path.join(dir, 'text.onnx');
      await fs.writeFile(text, '{"modelTopology": {}, "weightsManifest": []}');
      await refuse(text, /not a valid ONNX file|not an ONNX model/);
    });

    it('initializer shapes that disagree with their byte count (inline and external)', async () => {
      const inline = await edited('mlp.onnx', freshDir(), (model) => {
        initializer(model, '0.weight').dims = [32, 7];
      });
      await refuse(inline, /initializer "0\.weight" has shape \[32, 7\] \(896 bytes of float32\) but its data holds 768 bytes/);
      const external = await externalCase(freshDir(), (model) => {
        initializer(model, '2.bias').dims = [25];
      });
      await refuse(external, /initializer "2\.bias" has shape \[25\] \(100 bytes\) but its external data length is 96/);
    });

    it('NaN in a layer\'s weight is refused naming it; a constant holding -inf (a mask) is no parameter and is tolerated', async () => {
      const nan = await edited('mlp.onnx', freshDir(), (model) => {
        const weight = initializer(model, '2.weight');
        const values = new Float32Array(Uint8Array.from(weight.rawData!).buffer);
        values[7] = NaN;
        weight.rawData = new Uint8Array(values.buffer);
      });
      await refuse(nan, /"2\.weight" holds 1 NaN or infinite value/);
      const masked = await edited('mlp.onnx', freshDir(), (model) => {
        model.graph!.initializer!.push({ name: 'mask', dims: [2], dataType: 1, rawData: new Uint8Array(Float32Array.of(-Infinity, 0).buffer) });
      });
      const run = await runCli('analyze', masked, '--json', '--backend', 'cpu');
      assert.strictEqual(run.code, 0, run.err.join('\n'));
      assert.strictEqual((JSON.parse(run.out.join('\n')) as AnalysisJson).totals.paramsBefore, parameters(await openModel(fixture('mlp.onnx'))));
    });

    it('external data that climbs out of the model\'s folder (even when the file is there), or is given as an absolute path', async () => {
      const dir = freshDir();
      const inner = path.join(dir, 'model');
      await fs.mkdir(dir);
      await fs.copyFile(fixture('mlp-external.onnx.data'), path.join(dir, 'mlp-external.onnx.data'));
      await refuse(await externalCase(inner, relocate('../mlp-external.onnx.data'), false), /weight path "\.\.\/mlp-external\.onnx\.data" climbs out of the model's folder; refused/);
      await refuse(await externalCase(freshDir(), relocate(path.join(dir, 'mlp-external.onnx.data'))), /is not a relative path inside the model's folder/);
    });

    it('a missing or truncated external data file', async () => {
      await refuse(await externalCase(freshDir(), () => undefined, false), /external data file "mlp-external\.onnx\.data" is missing/);
      const dir = freshDir();
      const file = await externalCase(dir, () => undefined);
      const data = path.join(dir, 'mlp-external.onnx.data');
      await fs.truncate(data, (await fs.stat(data)).size - 10);
      await refuse(file, /external data of initializer "4\.bias" is truncated/);
    });

    it('a Conv whose kernel_shape disagrees with its weight, or whose group does not divide its filters (onnxruntime would refuse to run either)', async () => {
      const conv = (model: onnx.ModelProto): onnx.INodeProto => model.graph!.node!.find((n) => n.name === '/4/Conv')!;
      const kernelShape = await edited('cnn.onnx', freshDir(), (model) => {
        conv(model).attribute!.find((a) => a.name === 'kernel_shape')!.ints = [3, 16];
      });
      await refuse(kernelShape, /Conv node "\/4\/Conv" declares kernel_shape \[3,16\], but its weight "4\.weight" is 3×3/);
      for (const group of [0, 4]) {
        const grouped = await edited('cnn.onnx', freshDir(), (model) => {
          conv(model).attribute!.find((a) => a.name === 'group')!.i = group;
        });
        await refuse(grouped, new RegExp(`Conv node "/4/Conv" has group ${group}; it must be a positive divisor of its 6 filters`));
      }
    });

    it('a Gemm whose alpha or beta is not finite, or whose alpha is 0 (they scale the weights the engine holds)', async () => {
      for (const [name, value] of [['beta', NaN], ['alpha', Infinity], ['alpha', 0]] as const) {
        const file = await edited('mlp.onnx', freshDir(), (model) => {
          const gemm = model.graph!.node!.find((n) => n.opType === 'Gemm')!;
          gemm.attribute = [...(gemm.attribute ?? []).filter((a) => a.name !== name), { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value }];
        });
        await refuse(file, /Gemm node "[^"]+" has alpha \S+ and beta \S+; they must be finite, alpha not 0/);
      }
    });

    it('writing is refused when a tensor outside the initializers keeps its data in an external file', async () => {
      const dir = freshDir();
      const file = await edited('mlp.onnx', dir, (model) => {
        const constant = model.graph!.node!.find((n) => n.opType === 'Constant')!.attribute![0].t!;
        constant.rawData = new Uint8Array(0);
        constant.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        constant.externalData = [{ key: 'location', value: 'constant.bin' }];
      });
      await fs.writeFile(path.join(dir, 'constant.bin'), Buffer.from(Float32Array.of(Math.SQRT2).buffer));
      assert.strictEqual((await runCli('analyze', file, '--backend', 'cpu')).code, 0);
      const run = await runCli('reduce', file, '--out', path.join(freshDir(), 'out'), '--backend', 'cpu');
      assertRefused(run, file, /keeps its data in an external file outside the graph's initializers/);
    });
  });
});
