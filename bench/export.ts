/**
 * Latency of the exported C against onnxruntime for the combustion example MLP, original and
 * reduced (γ 0.9): the same weights, per sample, at batch 1 and 1024, median of repeated runs after
 * warm-up. The ONNX model is built here from the same plan (Gemm, GELU as its Erf form), so both
 * sides compute the same function. Single-threaded onnxruntime, to compare like with like.
 *
 * Run: npm run bench:export   (needs gcc and onnxruntime-node; writes bench/export.md)
 */
import { execFileSync } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { analyzeFile } from '../src/core/analyze';
import { exportModel } from '../src/core/export/index';
import { ExportPlan } from '../src/core/export/plan';
import { reduceModel } from '../src/core/reduce';
import { uniformSamples } from '../src/core/data/random';

const EXAMPLE = path.join(__dirname, '..', 'examples', 'combustion-mlp', 'model.json');
const BATCHES = [1, 1024];
const REPEATS = 31;

/** The plan as an ONNX graph: Gemm per Dense layer, GELU as 0.5·x·(1 + erf(x/√2)). */
function onnxOf(plan: ExportPlan): Uint8Array {
  const nodes: onnx.INodeProto[] = [];
  const initializer: onnx.ITensorProto[] = [];
  const constant = (name: string, dims: number[], values: ArrayLike<number>): string => {
    initializer.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(values) });
    return name;
  };
  const half = constant('half', [], [0.5]), one = constant('one', [], [1]), root2 = constant('root2', [], [Math.SQRT2]);
  let at = 'x';
  plan.steps.forEach((s, k) => {
    if (s.op === 'dense') {
      nodes.push({ opType: 'Gemm', input: [at, constant(`w${k}`, [s.inputs, s.outputs], s.kernel), constant(`b${k}`, [s.outputs], s.bias)], output: [`z${k}`] });
      at = `z${k}`;
    } else {
      if (s.activation.name !== 'gelu') throw new Error(`bench: ${s.activation.name} is not built here`);
      const v = (n: string): string => `${n}${k}`;
      nodes.push(
        { opType: 'Div', input: [at, root2], output: [v('d')] },
        { opType: 'Erf', input: [v('d')], output: [v('e')] },
        { opType: 'Add', input: [v('e'), one], output: [v('p')] },
        { opType: 'Mul', input: [at, v('p')], output: [v('m')] },
        { opType: 'Mul', input: [v('m'), half], output: [v('g')] },
      );
      at = v('g');
    }
  });
  const io = (name: string, width: number): onnx.IValueInfoProto => ({
    name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'n' }, { dimValue: width }] } } },
  });
  nodes.push({ opType: 'Identity', input: [at], output: ['y'] });
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'mlp', node: nodes, initializer, input: [io('x', plan.inputs)], output: [io('y', plan.outputs)] },
  }).finish();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A C driver timing NAME_predict: prints, per batch size, the median microseconds per sample. */
function cDriver(name: string): string {
  return `#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "${name}.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double d = *(const double *)a - *(const double *)b; return (d > 0) - (d < 0); }
int main(void) {
  long batches[] = {${BATCHES.join(', ')}};
  for (int k = 0; k < ${BATCHES.length}; k++) {
    long rows = batches[k];
    float *x = malloc(sizeof(float) * ${name}_N_INPUTS * rows), *y = malloc(sizeof(float) * ${name}_N_OUTPUTS * rows);
    for (long i = 0; i < ${name}_N_INPUTS * rows; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    long reps = rows == 1 ? 2000 : 4;
    double t[${REPEATS}];
    for (int w = 0; w < 3; w++) ${name}_predict(x, y, rows);
    for (int r = 0; r < ${REPEATS}; r++) {
      double start = now();
      for (long i = 0; i < reps; i++) ${name}_predict(x, y, rows);
      t[r] = (now() - start) / reps / rows * 1e6;
    }
    qsort(t, ${REPEATS}, sizeof(double), cmp);
    printf("%ld %.4f %g\\n", rows, t[${REPEATS} / 2], (double)y[0]);
    free(x); free(y);
  }
  return 0;
}
`;
}

async function timeC(model: string, dir: string): Promise<Map<number, number>> {
  const result = await exportModel(model, { language: 'c', outDir: path.join(dir, 'c'), name: 'net', overwrite: true });
  await fs.writeFile(path.join(result.outDir, 'bench.c'), cDriver('net'));
  const program = path.join(result.outDir, 'bench');
  execFileSync('gcc', ['-O2', '-o', program, path.join(result.outDir, 'bench.c'), path.join(result.outDir, 'net.c'), '-lm']);
  const lines = execFileSync(program).toString().trim().split('\n').map((l) => l.split(' ').map(Number));
  return new Map(lines.map(([rows, us]) => [rows, us]));
}

async function timeOnnx(plan: ExportPlan): Promise<Map<number, number>> {
  const session = await ort.InferenceSession.create(onnxOf(plan), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const times = new Map<number, number>();
  for (const rows of BATCHES) {
    const x = new ort.Tensor('float32', uniformSamples(rows * plan.inputs, -1, 1, 3), [rows, plan.inputs]);
    const reps = rows === 1 ? 200 : 4;
    for (let w = 0; w < 3; w++) await session.run({ x });
    const samples: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < reps; i++) await session.run({ x });
      samples.push(Number(process.hrtime.bigint() - start) / 1e3 / reps / rows);
    }
    times.set(rows, median(samples));
  }
  await session.release();
  return times;
}

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-bench-export-'));
  const { analysis } = await analyzeFile(EXAMPLE);
  const reduced = await reduceModel(analysis, 0.9, path.join(dir, 'reduced'), {});
  const rows: string[] = [];
  for (const [label, file] of [['original', EXAMPLE], ['reduced (γ 0.9)', path.join(reduced.outDir, 'model.json')]] as const) {
    const work = await fs.mkdtemp(path.join(dir, 'm-'));
    const c = await timeC(file, work);
    const plan = (await exportModel(file, { language: 'c', outDir: path.join(work, 'plan'), name: 'net' })).plan;
    const ortTimes = await timeOnnx(plan);
    const widths = plan.steps.flatMap((s) => (s.op === 'dense' ? [s.outputs] : [])).join('-');
    for (const batch of BATCHES) {
      rows.push(`| ${label} | ${plan.inputs}-${widths} | ${batch} | ${c.get(batch)!.toFixed(3)} | ${ortTimes.get(batch)!.toFixed(3)} | ${(ortTimes.get(batch)! / c.get(batch)!).toPrecision(2)}× |`);
    }
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const text = [
    '# Exported C vs onnxruntime: the combustion example MLP',
    '',
    `\`npm run bench:export\` (bench/export.ts) on ${cpu}, Node ${process.version}, gcc -O2 (no -march), onnxruntime-node single-threaded.`,
    `Microseconds per sample, median of ${REPEATS} timed runs after warm-up. The C is \`condense export --to c\`'s output unchanged;`,
    'the ONNX graph is built from the same weights (Gemm, GELU in its Erf form). A shared machine: take the ratios, not the digits.',
    '',
    '| model | widths | batch | C µs/sample | onnxruntime µs/sample | onnxruntime ÷ C |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  await fs.writeFile(path.join(__dirname, 'export.md'), text);
  process.stdout.write(text);
  await fs.rm(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
