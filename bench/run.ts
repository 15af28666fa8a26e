/**
 * Paper-scale benchmark: the MLP 13-3200-1600-800-400-11 (6.77 M parameters, random weights).
 *
 * Measures the full analysis (analyzeModel: vectors, Gram, clustering, summary) on every available
 * backend and similarity engine, the same work done by numpy/scipy on the same weights
 * (bench/numpy_reference.py), where the time goes, and how long re-counting every layer after a
 * threshold change takes. Prints a table and writes bench/results.md.
 *
 * Also: the least-squares refit (data-aware merge) on the paper-scale MLP, and size against error
 * with and without refit on the shipped examples.
 *
 * Run: npm run bench [-- --runs N]      (times are the best of N runs, default 5)
 */
import { spawnSync } from 'child_process';
import { promises as fs, writeFileSync } from 'fs';
import { monitorEventLoopDelay } from 'perf_hooks';
import { AnalysisCache } from '../src/extension/analysisCache';
import { WorkerClient } from '../src/extension/workerClient';
import * as os from 'os';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { Analysis, analyzeModel, loadModel, LoadedModel } from '../src/core/analyze';
import { Calibration, loadCalibration, MAX_CALIBRATION_SAMPLES } from '../src/core/data/calibration';
import { Value } from '../src/core/compute/evaluator';
import { fmt, outputsOf, relativeMse, table } from './report';
import { applyPlan, planMerge } from '../src/core/reduction/merge';
import { refitPlan } from '../src/core/reduction/refit';
import { Backend, BackendPreference, loadBackend } from '../src/core/compute/backend';
import { onnxGram, onnxProducts, tfjsGram } from '../src/core/compute/engines';
import { ProductEngine, typescriptProducts } from '../src/core/compute/linalg';
import { completeLinkage } from '../src/core/similarity/cluster';
import { GramEngine, highestSimilarity, neuronVectors, NeuronVectors, typescriptGram, unitRows } from '../src/core/similarity/weights';
import { estimate, ModelSummary } from '../src/core/estimate';

const WIDTHS = [13, 3200, 1600, 800, 400, 11];
const GAMMAS = [0.5, 0.8, 0.9, 0.95, 0.99];
const RECOUNT_GOAL_MS = 16;
const RATIO_GOAL = 2;
const HOST_LAG_GOAL_MS = 50;
const BENCH_DIR = path.resolve(__dirname, '..', 'bench');
const EXAMPLES_DIR = path.resolve(__dirname, '..', 'examples');
/** Refit benchmark: generated calibration rows for the paper-scale MLP, and the thresholds of the size/error table. */
const REFIT_ROWS = 2048;
const REFIT_GAMMAS = [0.95, 0.5];

interface Phases {
  vectors: number;
  gram: number;
  highest: number;
  clustering: number;
}

interface Row {
  backend: string;
  engine: string;
  /** analyzeModel, best of the runs (ms). */
  total: number;
  /** Instrumented passes over the same steps analyzeModel takes (ms): per layer, and their sum. */
  phases: Phases;
  layers: LayerPhases[];
  /** Largest |S − cosine| over sampled entries, against float64 cosine. */
  maxError: number;
  summary: ModelSummary;
}

interface NumpyResult {
  times: { vectors: number; gram: number; clustering: number; total: number };
  versions: Record<string, string>;
  layers: Record<string, number[]>;
}

const now = (): number => performance.now();

async function best<T>(runs: number, f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  let ms = Infinity;
  let value!: T;
  for (let r = 0; r < runs; r++) {
    const start = now();
    value = await f();
    ms = Math.min(ms, now() - start);
  }
  return { ms, value };
}

/** Builds the MLP with tfjs layers (seeded initialisers) and saves model.json + one shard. */
async function writeModel(tf: typeof TF, dir: string): Promise<string> {
  const model = tf.sequential();
  WIDTHS.slice(1).forEach((units, i) =>
    model.add(
      tf.layers.dense({
        name: `dense${i + 1}`,
        units,
        activation: i < WIDTHS.length - 2 ? 'relu' : 'linear',
        ...(i === 0 ? { inputShape: [WIDTHS[0]] } : {}),
        kernelInitializer: tf.initializers.glorotUniform({ seed: 10 + i }),
        biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 20 + i }),
      }),
    ),
  );
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer));
      const json = {
        format: 'layers-model',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  model.dispose();
  return path.join(dir, 'model.json');
}

/** Largest |S[i][j] − cos(i, j)| over the diagonal and a fixed sample of pairs, cosine in float64. */
function maxGramError(s: Float32Array, v: NeuronVectors): number {
  const { n, d, rows, norms } = v;
  let worst = 0;
  const check = (i: number, j: number): void => {
    let dot = 0;
    for (let k = 0; k < d; k++) dot += rows[i * d + k] * rows[j * d + k];
    worst = Math.max(worst, Math.abs(s[i * n + j] - dot / (norms[i] * norms[j])));
  };
  for (let i = 0; i < n; i++) check(i, i);
  let state = 12345;
  const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % n;
  for (let t = 0; t < 4000; t++) check(next(), next());
  return worst;
}

interface LayerPhases extends Phases {
  name: string;
  n: number;
  d: number;
}

const PHASES: (keyof Phases)[] = ['vectors', 'gram', 'highest', 'clustering'];
const sumPhases = (layers: LayerPhases[]): Phases =>
  Object.fromEntries(PHASES.map((key) => [key, layers.reduce((s, l) => s + l[key], 0)])) as unknown as Phases;

/**
 * The steps analyzeModel takes per layer (no dead units: weights are random), timed one by one,
 * best of the runs per layer and phase.
 */
async function timePhases(model: LoadedModel, engine: GramEngine, runs: number): Promise<{ layers: LayerPhases[]; maxError: number }> {
  const layers: LayerPhases[] = model.producers.map((info) => ({
    name: info.layer.name,
    n: info.units,
    d: info.layer.weights.get('kernel')!.data.length / info.units + 1,
    vectors: Infinity,
    gram: Infinity,
    highest: Infinity,
    clustering: Infinity,
  }));
  let maxError = 0;
  for (let r = 0; r < runs; r++) {
    for (const [l, info] of model.producers.entries()) {
      const took = (key: keyof Phases, since: number): void => void (layers[l][key] = Math.min(layers[l][key], now() - since));
      let t = now();
      const vectors = neuronVectors(info);
      const rows = unitRows(vectors, Int32Array.from({ length: vectors.n }, (_, i) => i));
      took('vectors', t);
      t = now();
      const s = await engine.gram(rows, vectors.n, vectors.d);
      took('gram', t);
      if (r === 0) maxError = Math.max(maxError, maxGramError(s, vectors));
      t = now();
      highestSimilarity(s, vectors.n);
      took('highest', t);
      t = now();
      completeLinkage(s, vectors.n);
      took('clustering', t);
    }
  }
  return { layers, maxError };
}

async function measure(model: LoadedModel, backend: Backend, engine: GramEngine, runs: number): Promise<Row> {
  const label = `${backend.name} (similarity: ${engine.name})`;
  process.stdout.write(`  ${label} ...`);
  const { ms, value } = await best(runs, () => analyzeModel(model, { gram: engine, backend: label }));
  const { layers, maxError } = await timePhases(model, engine, runs);
  process.stdout.write(` ${fmt(ms)} ms\n`);
  return { backend: backend.name, engine: engine.name, total: ms, phases: sumPhases(layers), layers, maxError, summary: value.summary };
}

/** Engines worth measuring on a backend: the default one first, then the fallbacks. */
async function enginesFor(backend: Backend): Promise<GramEngine[]> {
  const own = backend.name === 'cpu' ? typescriptGram : tfjsGram(backend.tf, backend.name);
  const onnx = await onnxGram();
  return onnx ? [onnx, own] : [own];
}

function runNumpy(modelDir: string, runs: number): NumpyResult | string {
  const script = path.join(BENCH_DIR, 'numpy_reference.py');
  const result = spawnSync('python3', [script, modelDir, String(runs)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) return `python3 not runnable: ${result.error.message}`;
  if (result.status !== 0) return `numpy reference failed: ${result.stderr.trim().split('\n').pop()}`;
  return JSON.parse(result.stdout) as NumpyResult;
}

/** Largest difference between our merge similarities and scipy's, layer by layer (both sorted). */
function treeDifference(summary: ModelSummary, numpy: NumpyResult): number {
  let worst = 0;
  for (const layer of summary.layers) {
    const ours = layer.dendrogram?.sim;
    const theirs = numpy.layers[layer.name];
    if (!ours || !theirs) continue;
    if (ours.length !== theirs.length) return Infinity;
    const sorted = [...theirs].sort((x, y) => y - x);
    ours.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - sorted[i]))));
  }
  return worst;
}

/** Re-counting every layer at each γ: the first (cold) pass and the best of many warm ones. */
function recount(summary: ModelSummary): { cold: number; warm: number } {
  const pass = (): number => {
    const start = now();
    for (const gamma of GAMMAS) estimate(summary, gamma);
    return now() - start;
  };
  const cold = pass();
  let warm = Infinity;
  for (let r = 0; r < 50; r++) warm = Math.min(warm, pass());
  return { cold, warm };
}


/**
 * The extension host's view of an analysis: the same cache and worker client the extension uses,
 * on this (main) thread, while the event loop's delay is sampled. The worst stall is what a user
 * would feel as VS Code stuttering.
 */
async function hostLag(modelPath: string): Promise<{ worstMs: number; p99Ms: number; totalMs: number }> {
  const cache = new AnalysisCache(new WorkerClient(path.join(__dirname, 'worker.js')), () => ({ threshold: 0.95, backend: 'auto' }));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let worst = 0;
  let last = now();
  // A 1 ms timer sees every stall directly, independent of the histogram's sampling.
  const ticker = setInterval(() => {
    const t = now();
    worst = Math.max(worst, t - last - 1);
    last = t;
  }, 1);
  histogram.enable();
  const started = now();
  try {
    await cache.analyze(modelPath);
    cache.estimateFor(modelPath);
  } finally {
    clearInterval(ticker);
    histogram.disable();
    cache.dispose();
  }
  return { worstMs: Math.max(worst, histogram.max / 1e6), p99Ms: histogram.percentile(99) / 1e6, totalMs: now() - started };
}


interface ErrorRow {
  gamma: number;
  ratio: number;
  plain: number;
  refit: number;
  refitMs: number;
}

/** Size against held-out error at each γ, plain merge and refit, for one example. */
async function sizeVersusError(
  file: string,
  gammas: number[],
  calibration: (model: LoadedModel) => Promise<Calibration>,
  heldOut: Value,
): Promise<{ calibration: string; rows: ErrorRow[] }> {
  const model = await loadModel(file);
  const analysis: Analysis = await analyzeModel(model);
  const data = await calibration(model);
  const reference = await outputsOf(model, heldOut);
  const rows: ErrorRow[] = [];
  for (const gamma of gammas) {
    const plan = planMerge(analysis, gamma);
    const started = now();
    const refit = await refitPlan(analysis, plan, data);
    const refitMs = now() - started;
    rows.push({
      gamma,
      ratio: estimate(analysis.summary, gamma).totals.ratio,
      plain: relativeMse(reference, await outputsOf(model, heldOut, applyPlan(analysis, plan))),
      refit: relativeMse(reference, await outputsOf(model, heldOut, refit.changed)),
      refitMs,
    });
  }
  return { calibration: data.description, rows };
}

/** The refit section: time on the paper-scale MLP, size against error on the examples. */
async function refitLines(model: LoadedModel): Promise<string[]> {
  process.stdout.write('  refit, paper-scale MLP ...');
  // Rows enough for its widest fit (3200 features): the refit skips a consumer with fewer rows than features.
  const calibration = await loadCalibration(model.source.graph, { range: [-1, 1], samples: MAX_CALIBRATION_SAMPLES }, model.source.path);
  const analysis = await analyzeModel(model);
  const engines = [await onnxProducts(), typescriptProducts].filter((e): e is ProductEngine => e !== undefined);
  const timings = [];
  for (const gamma of REFIT_GAMMAS) {
    const plan = planMerge(analysis, gamma);
    const ms: Record<string, number> = {};
    let worst = 0;
    for (const engine of engines) {
      const started = now();
      const result = await refitPlan(analysis, plan, calibration, engine);
      ms[engine.name] = now() - started;
      worst = Math.max(worst, ...result.layers.map((l) => l.relativeError ?? 0));
    }
    timings.push({ gamma, ms, kept: plan.layers.map((l) => `${l.kept.length}`).join('-'), worst });
  }
  console.log(` ${timings.map((t) => Object.entries(t.ms).map(([e, ms]) => `${e} ${fmt(ms)} ms`).join(', ')).join('; ')}`);

  process.stdout.write('  size vs error, examples ...');
  const combustionProbe = JSON.parse(await fs.readFile(path.join(EXAMPLES_DIR, 'combustion-mlp', 'probe-inputs.json'), 'utf8')) as number[][];
  const cnnProbe = JSON.parse(await fs.readFile(path.join(EXAMPLES_DIR, 'small-cnn', 'probe-inputs.json'), 'utf8')) as number[][][][];
  const examples = [
    {
      name: 'combustion-mlp',
      note: 'held out: the 64 probe inputs (real states, standardised); calibration generated uniformly in the standardised range',
      ...(await sizeVersusError(
        path.join(EXAMPLES_DIR, 'combustion-mlp', 'model.json'),
        [0.999, 0.99, 0.95, 0.9, 0.8],
        (m) => loadCalibration(m.source.graph, { range: [-1.8, 1.8], samples: REFIT_ROWS }, m.source.path),
        { shape: [combustionProbe.length, combustionProbe[0].length], data: Float64Array.from(combustionProbe.flat()) },
      )),
    },
    {
      name: 'small-cnn',
      note: 'held out: the 32 probe images; calibration: uniform noise images in [0, 1] (no real images needed)',
      ...(await sizeVersusError(
        path.join(EXAMPLES_DIR, 'small-cnn', 'model.json'),
        // Trained from a standard initialisation, it condenses only at low γ.
        [0.8, 0.7, 0.6, 0.5],
        (m) => loadCalibration(m.source.graph, { range: [0, 1], samples: REFIT_ROWS }, m.source.path),
        { shape: [cnnProbe.length, 12, 12, 1], data: Float64Array.from(cnnProbe.flat(3)) },
      )),
    },
  ];
  console.log(' done');
  return [
    '## Data-aware merge (least-squares refit)',
    '',
    `Paper-scale MLP (random weights, so it barely condenses: the worst case, every fit at nearly full width), ${calibration.description}:`,
    '',
    ...table(
      ['γ', 'units kept', ...engines.map((e) => `refit ms (${e.name})`), 'largest relative residual'],
      timings.map((t) => [String(t.gamma), t.kept, ...engines.map((e) => fmt(t.ms[e.name])), t.worst.toExponential(1)]),
    ),
    '',
    'refit = refitPlan: float64 forward passes of the original and the reduced network, and one ridge solve per next layer (normal equations, or their dual when rows < features).',
    'Its products run on onnxruntime\'s double Gemm when onnxruntime is available (the CLI, a development checkout, the platform VSIX), else in TypeScript; the Cholesky factor and its inverse are computed by halves, so products do nearly all the work. The time includes checking every fit, and the refitted model\'s outputs, against the plain merge on the held-out fifth of the calibration samples.',
    '',
    ...examples.flatMap((e) => [
      `${e.name}: relative MSE of the outputs on held-out inputs (${e.note}; ${e.calibration}).`,
      '',
      ...table(
        ['γ', 'parameters', 'plain merge', 'refit', 'plain / refit', 'refit ms'],
        e.rows.map((r) => [String(r.gamma), `${(100 * r.ratio).toFixed(1)} %`, r.plain.toExponential(2), r.refit.toExponential(2), r.plain > 0 ? `${(r.plain / r.refit).toFixed(1)}×` : '—', fmt(r.refitMs)]),
      ),
      '',
    ]),
  ];
}

async function main(): Promise<void> {
  const runsFlag = process.argv.indexOf('--runs');
  const runs = runsFlag > 0 ? Math.max(1, Number(process.argv[runsFlag + 1]) || 5) : 5;
  const loadAtStart = os.loadavg()[0];
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-bench-'));
  try {
    const cpu = await loadBackend('cpu');
    const modelPath = await writeModel(cpu.tf, dir);
    const load = await best(runs, () => loadModel(modelPath));
    const model = load.value;
    const params = model.source.weights.reduce((s, w) => s + w.data.length, 0);
    const flops = model.producers.reduce((s, p) => s + 2 * p.units * p.units * (p.layer.weights.get('kernel')!.data.length / p.units + 1), 0);
    console.log(`MLP ${WIDTHS.join('-')}: ${(params / 1e6).toFixed(2)} M parameters, full Gram ${(flops / 1e9).toFixed(1)} GFLOP; best of ${runs} runs`);

    // numpy runs before and after ours, and the faster of the two counts: the machine may be busy at times.
    process.stdout.write('  numpy/scipy ...');
    const numpyBefore = runNumpy(dir, runs);
    console.log(typeof numpyBefore === 'string' ? ` ${numpyBefore}` : ` ${fmt(numpyBefore.times.total * 1000)} ms`);

    const rows: Row[] = [];
    const preferences: BackendPreference[] = ['tensorflow', 'wasm', 'cpu'];
    for (const preference of preferences) {
      let backend: Backend;
      try {
        backend = await loadBackend(preference);
      } catch (e) {
        console.log(`  ${preference}: not available (${(e as Error).message})`);
        continue;
      }
      for (const engine of await enginesFor(backend)) rows.push(await measure(model, backend, engine, runs));
    }

    let numpy = numpyBefore;
    if (typeof numpyBefore !== 'string') {
      process.stdout.write('  numpy/scipy again ...');
      const numpyAfter = runNumpy(dir, runs);
      console.log(typeof numpyAfter === 'string' ? ` ${numpyAfter}` : ` ${fmt(numpyAfter.times.total * 1000)} ms`);
      if (typeof numpyAfter !== 'string' && numpyAfter.times.total < numpyBefore.times.total) numpy = numpyAfter;
    }
    const numpyMs = typeof numpy === 'string' ? NaN : numpy.times.total * 1000;

    const auto = await loadBackend('auto');
    const recounts = recount(rows[0].summary);
    process.stdout.write('  extension host while the worker analyses ...');
    const lag = await hostLag(modelPath);
    console.log(` worst stall ${fmt(lag.worstMs)} ms`);
    const refit = await refitLines(model);

    const ratio = (ms: number): string => (Number.isNaN(numpyMs) ? 'n/a' : `${(ms / numpyMs).toFixed(2)}×`);
    const mainTable = table(
      ['backend (similarity engine)', 'analyzeModel ms', 'ours / numpy', 'vectors', 'Gram', 'Gram GFLOP/s', 'highest', 'clustering', 'other', 'max |S − cos|'],
      [
        ...rows.map((r) => {
          const p = r.phases;
          const other = Math.max(0, r.total - p.vectors - p.gram - p.highest - p.clustering);
          return [
            `${r.backend} (similarity: ${r.engine})`,
            fmt(r.total),
            ratio(r.total),
            fmt(p.vectors),
            fmt(p.gram),
            (flops / p.gram / 1e6).toFixed(1),
            fmt(p.highest),
            fmt(p.clustering),
            fmt(other),
            r.maxError.toExponential(1),
          ];
        }),
        ...(typeof numpy === 'string'
          ? []
          : [[
              'numpy/scipy (float32 Gram, scipy complete linkage)',
              fmt(numpyMs),
              '1.00×',
              fmt(numpy.times.vectors * 1000),
              fmt(numpy.times.gram * 1000),
              (flops / numpy.times.gram / 1e9).toFixed(1),
              '',
              fmt(numpy.times.clustering * 1000),
              '',
              '',
            ]]),
      ],
    );
    const layerTable = table(
      ['layer', 'n', 'd', 'vectors', 'Gram', 'Gram GFLOP/s', 'highest', 'clustering'],
      rows[0].layers.map((l) => [l.name, String(l.n), String(l.d), fmt(l.vectors), fmt(l.gram), ((2 * l.n * l.n * l.d) / l.gram / 1e6).toFixed(1), fmt(l.highest), fmt(l.clustering)]),
    );
    const treeDiff = typeof numpy === 'string' ? NaN : Math.max(...rows.map((r) => treeDifference(r.summary, numpy)));
    const cpus = os.cpus();
    const lines = [
      '# Benchmark: paper-scale MLP',
      '',
      `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
      '',
      `- Machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}; load average ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0].toFixed(1)} at the end (other work on the machine inflates every time)`,
      `- Node ${process.version}${typeof numpy === 'string' ? `; numpy reference: ${numpy}` : `; Python ${numpy.versions.python}, numpy ${numpy.versions.numpy}, scipy ${numpy.versions.scipy}, BLAS ${numpy.versions.blas}`}`,
      `- Model: MLP ${WIDTHS.join('-')}, ReLU, random weights: ${(params / 1e6).toFixed(2)} M parameters; the full Gram matrices take ${(flops / 1e9).toFixed(1)} GFLOP`,
      `- Times: best of ${runs} runs, in ms. Loading model.json and the shard (not part of the analysis): ${fmt(load.ms)} ms`,
      `- Default backend here (auto): ${auto.label}`,
      '',
      '## Full analysis',
      '',
      `Goal: the full analysis within ${RATIO_GOAL}× numpy. Default engine (${rows[0].backend} with ${rows[0].engine}): ${ratio(rows[0].total)}.`,
      '',
      ...mainTable,
      '',
      'Phase columns come from separately timed passes over the same steps analyzeModel takes (best per layer and phase, summed): vectors = neuronVectors + unitRows,',
      'Gram = the engine, highest = highestSimilarity, clustering = completeLinkage (NN-chain + sorting the merges); other = analyzeModel − phases',
      '(dead-unit split, summary, noise). numpy\'s clustering includes forming 1 − S and its condensed form, which scipy needs.',
      'max |S − cos| compares the engine with float64 cosine on the diagonal and 4000 sampled pairs per layer.',
      'Gram GFLOP/s counts the full product (2·n²·d per layer) whatever an engine computes (numpy and onnxruntime exploit symmetry).',
      `Merge similarities of our trees against scipy's (sorted per layer): largest difference ${Number.isNaN(treeDiff) ? 'n/a' : treeDiff.toExponential(1)}.`,
      '',
      `## Per layer: ${rows[0].backend} (similarity: ${rows[0].engine})`,
      '',
      ...layerTable,
      '',
      '## Re-count after a threshold change',
      '',
      `estimate(summary, γ) over every layer for γ = ${GAMMAS.join(', ')}: ${fmt(recounts.warm)} ms for all ${GAMMAS.length} (warm), ${fmt(recounts.cold)} ms on the first pass (cold JIT); goal ≤ ${RECOUNT_GOAL_MS} ms.`,
      '',
      '## Extension host responsiveness',
      '',
      `The extension's own AnalysisCache and WorkerClient ran the analysis in dist/worker.js (auto backend, worker start-up included: ${fmt(lag.totalMs)} ms) while this thread's event loop was sampled every millisecond.`,
      `Worst stall of the host's event loop: ${fmt(lag.worstMs)} ms (99th percentile ${fmt(lag.p99Ms)} ms); goal ≤ ${HOST_LAG_GOAL_MS} ms.`,
      '',
      ...refit,
    ];
    console.log(['', ...lines.slice(2)].join('\n'));
    writeFileSync(path.join(BENCH_DIR, 'results.md'), lines.join('\n'));
    console.log(`Wrote ${path.join(BENCH_DIR, 'results.md')}`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
