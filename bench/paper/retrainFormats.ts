/**
 * The combustion MLP of combustion.ts in all five forms condense reads — TF.js Layers, Keras 2 .h5,
 * Keras 3 .keras, ONNX (spelled as PyTorch exports Linear + GELU: Gemm, then Div/Erf/Add/Mul/Mul) and
 * PyTorch .safetensors — each retrained by the CLI with only the data flags and --tolerance 0.1, the
 * defaults choosing the rest. Prints the markdown table of docs/benchmarks.md.
 *
 *   npx tsx bench/paper/combustion.ts --prepare-only [--out DIR]   (the data and the trained original)
 *   npx tsx bench/paper/retrainFormats.ts [--out DIR] [--forms tfjs,h5,.keras,onnx,safetensors] [--trainer pytorch]
 *
 * Each form is checked before it is retrained: condense's evaluator gives the TF.js original's outputs on
 * the validation inputs (to 1e-5). The files go to DIR/forms/, the retrained models to DIR/retrained-FORM/
 * (DIR/retrained-FORM-pytorch/ with --trainer pytorch, which is passed on to reduce).
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { main } from '../../src/cli/main';
import { loadModel } from '../../src/core/analyze';
import { GraphEvaluator, isUnsupported } from '../../src/core/compute/evaluator';
import { readDataFile } from '../../src/core/codecs/dataFile';
import { writeZip } from '../../src/core/codecs/zip';
import { encodeSafetensors } from '../../src/core/formats/torch/safetensors';
import type { CondenseReport } from '../../src/core/reduction/report';
import { flag } from './args';

interface DenseLayer {
  units: number;
  inputs: number;
  activation: string;
  /** [inputs, units], row-major. */
  kernel: Float32Array;
  bias: Float32Array;
}

const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** [rows, cols] → [cols, rows]. */
function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

async function denseLayers(modelFile: string): Promise<DenseLayer[]> {
  const { graph } = (await loadModel(modelFile)).source;
  return graph.layers.filter((l) => l.className === 'Dense').map((l) => {
    const kernel = l.weights.get('kernel')!;
    const activation = l.config.activation ?? 'linear';
    if (typeof activation !== 'string') throw new Error(`${l.name}: the activation is not named by a string`);
    return {
      units: kernel.shape[1], inputs: kernel.shape[0], activation,
      kernel: Float32Array.from(kernel.data), bias: Float32Array.from(l.weights.get('bias')!.data),
    };
  });
}

function safetensorsForm(layers: DenseLayer[]): Uint8Array {
  return encodeSafetensors(layers.flatMap((l, i) => [
    { name: `net.${2 * i}.weight`, dtype: 'float32' as const, shape: [l.units, l.inputs], bytes: bytes(transposed(l.kernel, l.inputs, l.units)) },
    { name: `net.${2 * i}.bias`, dtype: 'float32' as const, shape: [l.units], bytes: bytes(l.bias) },
  ]), null);
}

function onnxForm(layers: DenseLayer[]): Uint8Array {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const initializer: onnx.ITensorProto[] = [];
  const node: onnx.INodeProto[] = [];
  const tensor = (name: string, dims: number[], data: Float32Array): void => void initializer.push({ name, dims, dataType: FLOAT, rawData: bytes(data) });
  tensor('sqrt2', [], Float32Array.of(Math.SQRT2));
  tensor('one', [], Float32Array.of(1));
  tensor('half', [], Float32Array.of(0.5));
  let x = 'input';
  layers.forEach((l, i) => {
    const p = `/net.${2 * i}`;
    tensor(`net.${2 * i}.weight`, [l.units, l.inputs], transposed(l.kernel, l.inputs, l.units));
    tensor(`net.${2 * i}.bias`, [l.units], l.bias);
    const z = i === layers.length - 1 ? 'output' : `${p}/Gemm_output_0`;
    node.push({ name: `${p}/Gemm`, opType: 'Gemm', input: [x, `net.${2 * i}.weight`, `net.${2 * i}.bias`], output: [z], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] });
    x = z;
    if (l.activation === 'linear') return;
    if (l.activation !== 'gelu') throw new Error(`the ONNX form spells GELU only, not ${l.activation}`);
    const g = `/net.${2 * i + 1}`;
    node.push(
      { name: `${g}/Div`, opType: 'Div', input: [x, 'sqrt2'], output: [`${g}/Div_output_0`] },
      { name: `${g}/Erf`, opType: 'Erf', input: [`${g}/Div_output_0`], output: [`${g}/Erf_output_0`] },
      { name: `${g}/Add`, opType: 'Add', input: [`${g}/Erf_output_0`, 'one'], output: [`${g}/Add_output_0`] },
      { name: `${g}/Mul`, opType: 'Mul', input: [x, `${g}/Add_output_0`], output: [`${g}/Mul_output_0`] },
      { name: `${g}/Mul_1`, opType: 'Mul', input: [`${g}/Mul_output_0`, 'half'], output: [`${g}/Mul_1_output_0`] },
    );
    x = `${g}/Mul_1_output_0`;
  });
  const valueInfo = (name: string, width: number): onnx.IValueInfoProto => ({
    name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: width }] } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8, producerName: 'pytorch', producerVersion: '2.3.0', opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'main_graph', node, initializer, input: [valueInfo('input', layers[0].inputs)], output: [valueInfo('output', layers[layers.length - 1].units)] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** An HDF5 file built by `fill` in h5wasm's memory file system, as bytes. */
async function hdf5File(fill: (root: import('h5wasm').File) => void): Promise<Uint8Array> {
  const h5 = await import('h5wasm');
  await h5.ready;
  const name = `/bench-${Date.now()}-${Math.random().toString(36).slice(2)}.h5`;
  const file = new h5.File(name, 'w');
  fill(file);
  file.close();
  const data = h5.FS!.readFile(name);
  h5.FS!.unlink(name);
  return data;
}

function kerasLayerConfigs(layers: DenseLayer[], keras3: boolean): unknown[] {
  const dense = layers.map((l, i) => ({
    ...(keras3 ? { module: 'keras.layers', registered_name: null } : {}),
    class_name: 'Dense',
    config: { name: i ? `dense_${i}` : 'dense', trainable: true, dtype: 'float32', units: l.units, activation: l.activation, use_bias: true },
  }));
  const input = keras3
    ? { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, layers[0].inputs], dtype: 'float32', name: 'input_layer' }, registered_name: null }
    : { class_name: 'InputLayer', config: { batch_input_shape: [null, layers[0].inputs], dtype: 'float32', name: 'input_1' } };
  return [input, ...dense];
}

async function kerasH5Form(layers: DenseLayer[]): Promise<Uint8Array> {
  const config = { class_name: 'Sequential', config: { name: 'sequential', layers: kerasLayerConfigs(layers, false) } };
  const names = layers.map((_, i) => (i ? `dense_${i}` : 'dense'));
  return hdf5File((root) => {
    root.create_attribute('keras_version', '2.15.0');
    root.create_attribute('backend', 'tensorflow');
    root.create_attribute('model_config', JSON.stringify(config));
    const weights = root.create_group('model_weights');
    weights.create_attribute('layer_names', names);
    layers.forEach((l, i) => {
      const group = weights.create_group(names[i]);
      group.create_attribute('weight_names', [`${names[i]}/kernel:0`, `${names[i]}/bias:0`]);
      const inner = group.create_group(names[i]);
      inner.create_dataset({ name: 'kernel:0', data: l.kernel, shape: [l.inputs, l.units], dtype: '<f' });
      inner.create_dataset({ name: 'bias:0', data: l.bias, shape: [l.units], dtype: '<f' });
    });
  });
}

async function kerasArchiveForm(layers: DenseLayer[]): Promise<Uint8Array> {
  const config = { module: 'keras', class_name: 'Sequential', config: { name: 'sequential', layers: kerasLayerConfigs(layers, true) }, registered_name: null };
  const weights = await hdf5File((root) => {
    const group = root.create_group('layers');
    layers.forEach((l, i) => {
      const vars = group.create_group(i ? `dense_${i}` : 'dense').create_group('vars');
      vars.create_dataset({ name: '0', data: l.kernel, shape: [l.inputs, l.units], dtype: '<f' });
      vars.create_dataset({ name: '1', data: l.bias, shape: [l.units], dtype: '<f' });
    });
  });
  return writeZip([
    { name: 'metadata.json', data: Buffer.from(JSON.stringify({ keras_version: '3.3.3', date_saved: '2026-12-06@00:00:00' })), method: 0 },
    { name: 'config.json', data: Buffer.from(JSON.stringify(config)), method: 0 },
    { name: 'model.weights.h5', data: Buffer.from(weights), method: 0 },
  ]);
}

interface Form {
  name: string;
  file: string;
  extra: string[];
}

/** Writes the wanted forms only (two runs at once with different --forms never write the same file). */
async function writeForms(dir: string, original: string, layers: DenseLayer[], wanted: (form: { name: string; file: string }) => boolean): Promise<Form[]> {
  const forms = path.join(dir, 'forms');
  await fs.mkdir(forms, { recursive: true });
  const all: (Form & { data: () => Uint8Array | Promise<Uint8Array> })[] = [
    { name: 'Keras 2 .h5', file: path.join(forms, 'combustion.h5'), data: () => kerasH5Form(layers), extra: [] },
    { name: 'Keras 3 .keras', file: path.join(forms, 'combustion.keras'), data: () => kerasArchiveForm(layers), extra: [] },
    { name: 'ONNX', file: path.join(forms, 'combustion.onnx'), data: () => onnxForm(layers), extra: [] },
    { name: 'PyTorch .safetensors', file: path.join(forms, 'combustion.safetensors'), data: () => safetensorsForm(layers), extra: ['--activation', 'gelu'] },
  ];
  const chosen: Form[] = [];
  const tfjs = { name: 'TF.js Layers', file: path.join(forms, 'tfjs', 'model.json'), extra: [] };
  if (wanted(tfjs)) {
    await fs.mkdir(path.join(forms, 'tfjs'), { recursive: true });
    for (const name of await fs.readdir(path.dirname(original))) await fs.copyFile(path.join(path.dirname(original), name), path.join(forms, 'tfjs', name));
    chosen.push(tfjs);
  }
  for (const { data, ...form } of all.filter(wanted)) {
    await fs.writeFile(form.file, await data());
    chosen.push(form);
  }
  return chosen;
}

/** The first output by condense's evaluator on the rows. */
async function outputs(file: string, x: { data: Float32Array; shape: number[] }, activation?: string): Promise<Float64Array> {
  const { graph } = (await loadModel(file, { activation })).source;
  const y = await new GraphEvaluator(graph, { shape: x.shape, data: Float64Array.from(x.data) }).output(graph.outputs[0]);
  if (isUnsupported(y)) throw new Error(`${file}: ${y.unsupported}`);
  return y.data;
}

async function run(): Promise<void> {
  const dir = path.resolve(flag('--out') ?? path.join(__dirname, 'out', 'combustion'));
  const wanted = flag('--forms')?.split(',');
  const trainer = flag('--trainer');
  const original = path.join(dir, 'original', 'model.json');
  const layers = await denseLayers(original);
  const valX = await readDataFile(path.join(dir, 'val-inputs.npy'));
  const reference = await outputs(original, valX);
  const forms = await writeForms(dir, original, layers, (f) => !wanted || wanted.some((w) => f.file.endsWith(w) || f.name.toLowerCase().replace(/\./g, '').includes(w)));
  const rows: string[] = [];
  for (const form of forms) {
    const y = await outputs(form.file, valX, form.extra[1]);
    const worst = y.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i])), 0);
    if (worst > 1e-5) throw new Error(`${form.name}: differs from the TF.js original by ${worst}`);
    const out = path.join(dir, `retrained-${path.basename(form.file).replace(/\W/g, '-')}${trainer ? `-${trainer}` : ''}`);
    await fs.rm(out, { recursive: true, force: true });
    const started = performance.now();
    const code = await main([
      'reduce', form.file, '--out', out, '--train-inputs', path.join(dir, 'train-inputs.npy'), '--train-targets', path.join(dir, 'train-targets.npy'),
      '--val-inputs', path.join(dir, 'val-inputs.npy'), '--val-targets', path.join(dir, 'val-targets.npy'), '--tolerance', '0.1', ...form.extra, ...(trainer ? ['--trainer', trainer] : []),
    ], (s) => {
      console.log(`[${form.name} ${new Date().toISOString().slice(11, 19)}] ${s}`);
    }, (s) => {
      console.error(`[${form.name} ${new Date().toISOString().slice(11, 19)}] ${s}`);
    });
    const seconds = (performance.now() - started) / 1000;
    if (code !== 0) {
      rows.push(`| ${form.name} | none within the tolerance | | | | ${seconds.toFixed(0)} s |`);
      continue;
    }
    const report = JSON.parse(await fs.readFile(path.join(out, 'condense-report.json'), 'utf8')) as CondenseReport;
    const r = report.retrain!;
    const chosen = r.rounds.find((x) => x.round === r.chosen)!;
    console.log(`\n${form.name}: the rounds\n\n| round | γ (cut from the trees) | parameters kept | validation MSE (change) | epochs (best) |\n| --: | --: | --: | --: | --: |`);
    for (const x of r.rounds) {
      console.log(`| ${x.round} | ${x.threshold?.toPrecision(4)} | ${(100 * x.paramsRatio).toFixed(1)} % | ${x.metric.toExponential(3)} (${x.change >= 0 ? '+' : '−'}${Math.abs(100 * x.change).toFixed(1)} %)${x.meets ? ' ✓' : ''} | ${x.epochsRun} (${x.bestEpoch}) |`);
    }
    rows.push(
      `| ${form.name} | **${(100 * chosen.paramsRatio).toFixed(1)} %** (${chosen.params}) | ${chosen.metric.toExponential(3)} (${chosen.change >= 0 ? '+' : ''}${(100 * chosen.change).toFixed(1)} %) | ` +
        `round ${chosen.round} of ${r.rounds.length} | ${r.learningRate?.value} | ${r.stopped} | ${seconds.toFixed(0)} s |`,
    );
  }
  console.log('\n| form | size reached | validation MSE (change) | round | learning rate (range test) | why the rounds stopped | time |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

run().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
