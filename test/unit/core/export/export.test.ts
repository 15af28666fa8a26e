/**
 * Export: the generated C and Fortran, compiled with gcc -O2 and gfortran -O2, compute what the
 * engine's float64 evaluator computes — on the shipped example, a reduced copy of it, a model with
 * every activation export implements, and a float64 model; what it cannot compute is refused.
 */
import * as assert from 'assert';
import { execFileSync } from 'child_process';
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeFile } from '../../../../src/core/analyze';
import { GraphEvaluator, isUnsupported } from '../../../../src/core/compute/evaluator';
import { exportModel, ExportLanguage, exportSource, defaultName } from '../../../../src/core/export/index';
import { exportPlan } from '../../../../src/core/export/plan';
import { decimal } from '../../../../src/core/export/text';
import { openModel } from '../../../../src/core/formats/index';
import { InputError } from '../../../../src/core/model/errors';
import { reduceModel } from '../../../../src/core/reduce';
import { seededRandom } from '../../../../src/core/data/random';
import { saveLayersModel, tempDir } from '../../../helpers/models';
import { useCpu } from '../../../helpers/tfjs';

const EXAMPLE = path.join(__dirname, '..', '..', '..', '..', 'examples', 'combustion-mlp', 'model.json');

/** Rows of inputs in [-2, 2], rounded to float32 so that the compiled code and the engine read the same numbers. */
function inputs(rows: number, width: number, seed: number): Float64Array {
  const rng = seededRandom(seed);
  return Float64Array.from({ length: rows * width }, () => Math.fround(4 * rng() - 2));
}

async function engineOutputs(file: string, x: Float64Array, rows: number): Promise<Float64Array> {
  const source = await openModel(file);
  const width = x.length / rows;
  const y = await new GraphEvaluator(source.graph, { shape: [rows, width], data: x }).output(source.graph.outputs[0]);
  if (isUnsupported(y)) throw new Error(y.unsupported);
  return y.data;
}

/** Builds the exported folder's test program and runs it on the rows. */
function compiledOutputs(dir: string, name: string, language: ExportLanguage, x: Float64Array, rows: number): Float64Array {
  const program = path.join(dir, `${name}_test`);
  if (language === 'c') execFileSync('gcc', ['-O2', '-std=c99', '-Wall', '-Werror', '-o', program, path.join(dir, `${name}_test.c`), path.join(dir, `${name}.c`), '-lm']);
  else execFileSync('gfortran', ['-O2', '-std=f2008', '-Wall', '-o', program, path.join(dir, `${name}.f90`), path.join(dir, `${name}_test.f90`)], { cwd: dir });
  const text = `${rows}\n${Array.from(x, (v) => String(v)).join(' ')}\n`;
  const printed = execFileSync(program, { input: text }).toString();
  return Float64Array.from(printed.trim().split(/\s+/), Number);
}

/** Largest deviation relative to the largest reference output. */
function relativeDeviation(got: Float64Array, want: Float64Array): number {
  assert.strictEqual(got.length, want.length);
  let diff = 0, scale = 0;
  want.forEach((w, i) => {
    diff = Math.max(diff, Math.abs(got[i] - w));
    scale = Math.max(scale, Math.abs(w));
  });
  return diff / scale;
}

async function checkExport(file: string, language: ExportLanguage, tolerance: number, seed: number): Promise<number> {
  const out = path.join(await tempDir(), 'out');
  const result = await exportModel(file, { language, outDir: out, name: 'net' });
  const rows = 37;
  const x = inputs(rows, result.plan.inputs, seed);
  const deviation = relativeDeviation(compiledOutputs(result.outDir, 'net', language, x, rows), await engineOutputs(file, x, rows));
  assert.ok(deviation <= tolerance, `${language}: relative deviation ${deviation} exceeds ${tolerance}`);
  return deviation;
}

describe('export to C and Fortran', function () {
  this.timeout(120_000);
  before(useCpu);

  for (const language of ['c', 'fortran'] as const) {
    it(`${language}: the combustion example (GELU, float32) matches the engine within 1e-5`, async () => {
      await checkExport(EXAMPLE, language, 1e-5, 1);
    });
  }

  it('a reduced model exports and matches the engine in both languages', async () => {
    const { analysis } = await analyzeFile(EXAMPLE);
    const reduced = await reduceModel(analysis, 0.9, path.join(await tempDir(), 'reduced'), {});
    const file = path.join(reduced.outDir, 'model.json');
    const plan = exportPlan(file, (await openModel(file)).graph);
    const widths = plan.steps.flatMap((s) => (s.op === 'dense' ? [s.outputs] : []));
    assert.ok(widths.slice(0, -1).some((w) => w < 128), `the reduction kept every unit: ${widths.join(', ')}`);
    for (const language of ['c', 'fortran'] as const) await checkExport(file, language, 1e-5, 2);
  });

  it('every activation export implements matches the engine, before, between and after Dense layers', async () => {
    const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotNormal({ seed }), biasInitializer: tf.initializers.randomNormal({ stddev: 0.3, seed: seed + 100 }) });
    const model = tf.sequential({
      layers: [
        tf.layers.activation({ activation: 'tanh', inputShape: [5] }),
        tf.layers.dense({ units: 9, activation: 'relu', ...init(1) }),
        tf.layers.dense({ units: 8, activation: 'elu', ...init(2) }),
        tf.layers.dense({ units: 7, activation: 'sigmoid', ...init(3) }),
        tf.layers.dense({ units: 6, activation: 'softplus', ...init(4) }),
        tf.layers.dense({ units: 6, activation: 'swish', ...init(5) }),
        tf.layers.leakyReLU({ alpha: 0.2 }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.dense({ units: 4, activation: 'gelu', ...init(6) }),
        tf.layers.dense({ units: 3, ...init(7) }),
        tf.layers.activation({ activation: 'tanh' }),
      ],
    });
    const file = await saveLayersModel(model, await tempDir());
    for (const language of ['c', 'fortran'] as const) await checkExport(file, language, 1e-5, 3);
  });

  it('a float64 model exports as double / real64 and matches the engine within 1e-12', async () => {
    const rng = seededRandom(7);
    const layers: [string, number[]][] = [['0.weight', [10, 4]], ['0.bias', [10]], ['2.weight', [10, 10]], ['2.bias', [10]], ['4.weight', [3, 10]], ['4.bias', [3]]];
    const header: Record<string, unknown> = {};
    const values: number[] = [];
    for (const [key, shape] of layers) {
      const count = shape.reduce((a, b) => a * b, 1);
      header[key] = { dtype: 'F64', shape, data_offsets: [values.length * 8, (values.length + count) * 8] };
      for (let i = 0; i < count; i++) values.push(rng() - 0.5);
    }
    const json = Buffer.from(JSON.stringify(header));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    const file = path.join(await tempDir(), 'double.safetensors');
    await fs.writeFile(file, Buffer.concat([length, json, Buffer.from(new Float64Array(values).buffer)]));
    const source = await openModel(file);
    assert.strictEqual(exportPlan(file, source.graph).dtype, 'float64');
    const c = exportSource(exportPlan(file, source.graph), 'c', 'net', 'double.safetensors').find((f) => f.name === 'net.c')!;
    assert.match(String(c.data), /static const double kernel_0\[40\]/);
    for (const language of ['c', 'fortran'] as const) await checkExport(file, language, 1e-12, 4);
  });

  it('literals round-trip exactly: 9 digits for float32, the shortest exact form for float64, always with a point', () => {
    const rng = seededRandom(11);
    for (let i = 0; i < 2000; i++) {
      const v = (rng() - 0.5) * 10 ** Math.floor(20 * rng() - 10);
      const f = Math.fround(v);
      assert.strictEqual(Math.fround(Number(decimal(f, 'float32'))), f);
      assert.strictEqual(Number(decimal(v, 'float64')), v);
    }
    assert.strictEqual(decimal(5, 'float64'), '5.0');
    assert.strictEqual(decimal(1e-7, 'float64'), '1.0e-7');
    assert.strictEqual(decimal(2, 'float32'), '2.00000000');
  });

  it('refuses layers it cannot compute, naming them (InputError: exit 2 in the CLI)', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'hidden', units: 4, inputShape: [3] }), tf.layers.dense({ name: 'probabilities', units: 2, activation: 'softmax' })] });
    const file = await saveLayersModel(model, await tempDir());
    await assert.rejects(exportModel(file, { language: 'c', outDir: path.join(await tempDir(), 'out') }), (e: Error) => e instanceof InputError && /layer "probabilities" \(Dense\).*"softmax"/.test(e.message));
    const cnn = path.join(__dirname, '..', '..', '..', '..', 'examples', 'small-cnn', 'model.json');
    await assert.rejects(exportModel(cnn, { language: 'fortran', outDir: path.join(await tempDir(), 'out') }), (e: Error) => e instanceof InputError && /cannot export layer "conv1" \(Conv2D\)/.test(e.message));
  });

  it('names: validated, defaulted from the file name, and text from the model never reaches the source unescaped', async () => {
    const dir = await tempDir();
    for (const bad of ['1net', 'net-work', 'a b', '', 'x'.repeat(49), 'n\u00e9t']) {
      await assert.rejects(exportModel(EXAMPLE, { language: 'c', outDir: path.join(dir, 'bad'), name: bad }), InputError, bad);
    }
    assert.strictEqual(defaultName('/models/combustion-mlp/model.json'), 'combustion_mlp');
    assert.strictEqual(defaultName('/m/2 layers.onnx'), 'model_2_layers');
    const model = tf.sequential({ layers: [tf.layers.dense({ name: 'evil', units: 2, inputShape: [2] })] });
    const file = await saveLayersModel(model, path.join(dir, 'model'));
    interface Saved { modelTopology: { config: { layers: { config: { name: string } }[] } }; weightsManifest: { weights: { name: string }[] }[] }
    const json = JSON.parse(await fs.readFile(file, 'utf8')) as Saved;
    const hostile = 'x */ int pwned; /*\n! end module\n';
    json.modelTopology.config.layers[0].config.name = hostile;
    json.weightsManifest[0].weights.forEach((w: { name: string }) => (w.name = w.name.replace('evil', hostile)));
    await fs.writeFile(file, JSON.stringify(json));
    for (const language of ['c', 'fortran'] as const) {
      const result = await exportModel(file, { language, outDir: path.join(dir, language), name: 'net' });
      for (const name of result.files) {
        const text = await fs.readFile(path.join(result.outDir, name), 'utf8');
        assert.ok(!text.includes('pwned;') && !text.includes('\n! end module'), `${name} holds the model's text unescaped`);
      }
      const x = inputs(3, 2, 5);
      assert.ok(relativeDeviation(compiledOutputs(result.outDir, 'net', language, x, 3), await engineOutputs(file, x, 3)) <= 1e-5);
    }
  });
});
