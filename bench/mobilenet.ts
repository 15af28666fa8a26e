/**
 * A real MobileNetV2 (Keras, TF.js Layers, uint8-quantised weights) as shipped in the npm package
 * nsfwjs: the bias-dominance case of issue 6 measured on it, and what calibration data changes.
 *
 * Run: npm run bench:mobilenet   (fetches nsfwjs@4.3.0 from the npm registry once, into
 * ~/.cache/condense-bench/; writes bench/mobilenet.md)
 *
 * No natural images are reachable offline, so calibration and held-out inputs are uniform noise images
 * in [0, 1] (the model's input range): enough to show the mechanism, not the accuracy on real photos.
 */
import { execFileSync } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { analyzeModel, loadModel } from '../src/core/analyze';
import { loadBackend } from '../src/core/compute/backend';
import { loadCalibration } from '../src/core/data/calibration';
import { countClusters } from '../src/core/similarity/cluster';
import { applyPlan, planMerge } from '../src/core/reduction/merge';
import { uniformSamples } from '../src/core/data/random';
import { refitPlan } from '../src/core/reduction/refit';
import { estimate, LayerSummary } from '../src/core/estimate';
import { fmt, outputsOf, relativeMse, table } from './report';

const PACKAGE = 'nsfwjs@4.3.0';
const CACHE = path.join(os.homedir(), '.cache', 'condense-bench', PACKAGE.replace('@', '-'));
const LAYER = 'Conv_1';
const GAMMA = 0.9;
const CALIBRATION_IMAGES = 64;
const HELD_OUT_IMAGES = 32;
const IMAGE: [number, number, number] = [224, 224, 3];

/** model.json and its shard, unpacked from the package's JavaScript modules (the package embeds them as UMD modules). */
export async function fetchMobileNet(): Promise<string> {
  const modelFile = path.join(CACHE, 'model.json');
  if (existsSync(modelFile)) return modelFile;
  await fs.mkdir(CACHE, { recursive: true });
  const unpack = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-nsfwjs-'));
  try {
    const tarball = execFileSync('npm', ['pack', PACKAGE, '--silent', '--pack-destination', unpack], { encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('tar', ['xzf', path.join(unpack, tarball), '-C', unpack]);
    const models = path.join(unpack, 'package', 'dist', 'models', 'mobilenet_v2');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const json = require(path.join(models, 'model.min.js')) as { modelTopology: unknown; weightsManifest: { paths: string[] }[] };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const shard = require(path.join(models, 'group1-shard1of1.min.js')) as string;
    await fs.writeFile(path.join(CACHE, json.weightsManifest[0].paths[0]), Buffer.from(shard, 'base64'));
    await fs.writeFile(modelFile, JSON.stringify({ format: 'layers-model', ...json }));
    return modelFile;
  } finally {
    await fs.rm(unpack, { recursive: true, force: true });
  }
}

const noiseImages = (count: number, seed: number) => ({ shape: [count, ...IMAGE], data: Float64Array.from(uniformSamples(count * IMAGE[0] * IMAGE[1] * IMAGE[2], 0, 1, seed)) });

/** Share of samples whose top class is the same in both outputs. */
function topOneAgreement(a: Float64Array, b: Float64Array, classes: number): number {
  const top = (y: Float64Array, s: number): number => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (y[s * classes + c] > y[s * classes + best]) best = c;
    return best;
  };
  const samples = a.length / classes;
  let same = 0;
  for (let s = 0; s < samples; s++) if (top(a, s) === top(b, s)) same++;
  return same / samples;
}

async function main(): Promise<void> {
  const file = await fetchMobileNet();
  const backend = await loadBackend();
  const model = await loadModel(file);
  const layerOf = (layers: LayerSummary[]): LayerSummary => layers.find((l) => l.name === LAYER)!;

  console.log('weights only ...');
  const byWeights = await analyzeModel(model, { gram: backend.gram, allowBiasDominated: true });
  const plain = layerOf(byWeights.summary.layers);
  const dominance = plain.biasDominance!;
  const flagged = layerOf((await analyzeModel(model, { gram: backend.gram })).summary.layers);

  const calibration = await loadCalibration(model.source.graph, { range: [0, 1], samples: CALIBRATION_IMAGES, seed: 7 }, file);
  console.log(`calibration: ${calibration.description} ...`);
  let started = performance.now();
  const byData = await analyzeModel(model, { gram: backend.gram, calibration });
  const dataMs = performance.now() - started;
  const measured = layerOf(byData.summary.layers);

  console.log('plain merge and refit at γ = ' + GAMMA + ' ...');
  const heldOut = noiseImages(HELD_OUT_IMAGES, 8);
  const reference = await outputsOf(model, heldOut);
  const classes = reference.length / HELD_OUT_IMAGES;
  const plan = planMerge(byData, GAMMA);
  const merged = await outputsOf(model, heldOut, applyPlan(byData, plan));
  started = performance.now();
  const refit = await refitPlan(byData, plan, calibration);
  const refitMs = performance.now() - started;
  const refitted = await outputsOf(model, heldOut, refit.changed);
  const sizes = estimate(byData.summary, GAMMA).totals;

  const lines = [
    '# Benchmark: a real MobileNetV2 (nsfwjs)',
    '',
    `Written by \`npm run bench:mobilenet\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length} cores; backend ${backend.label}.`,
    '',
    `Model: the MobileNetV2 of the npm package \`${PACKAGE}\` (Keras, TF.js Layers, ${model.source.graph.layers.length} layers, uint8-quantised weights dequantised as tfjs does), ` +
      `${sizes.paramsBefore} parameters. Layer \`${LAYER}\`: the 1×1 convolution to ${plain.units} channels before the classifier, BatchNormalization folded in.`,
    '',
    '## The folded bias dominates the weights',
    '',
    ...table(
      ['measure', LAYER],
      [
        ['median \\|folded bias\\|', dominance.medianBias.toFixed(2)],
        ['median norm of the weight part', dominance.medianWeightNorm.toFixed(2)],
        [`clusters at γ ${GAMMA}, bias-appended cosine`, String(countClusters(plain.dendrogram!, GAMMA))],
        [`clusters at γ ${GAMMA}, weight part alone`, String(countClusters(dominance.weightOnly, GAMMA))],
        ['highest weight-only similarity of two filters', Math.max(...dominance.weightOnly.sim).toFixed(3)],
        ['without data or --allow-bias-dominated', flagged.reducible ? 'reduced (!)' : 'not reduced: flagged bias-dominated'],
      ],
    ),
    '',
    'The bias-appended cosine groups filters whose biases agree although their weights do not: merging on it would wreck the layer, so',
    'condense flags the layer and does not reduce it unless told to, or unless calibration data measures the similarity on what the filters compute.',
    '',
    `## With calibration data (${calibration.description})`,
    '',
    ...table(
      ['measure', 'value'],
      [
        [`${LAYER}: similarity measured on`, measured.similarity ?? 'weights'],
        [`${LAYER}: clusters at γ ${GAMMA}`, String(countClusters(measured.dendrogram!, GAMMA))],
        [`whole model at γ ${GAMMA}: parameters kept`, `${(100 * sizes.ratio).toFixed(1)} %`],
        ['analysis with data, ms', fmt(dataMs)],
        [`held-out relative MSE of the outputs, plain merge (${HELD_OUT_IMAGES} noise images)`, relativeMse(reference, merged).toExponential(2)],
        ['held-out relative MSE of the outputs, refit', relativeMse(reference, refitted).toExponential(2)],
        ['top-1 agreement with the original, plain merge', `${(100 * topOneAgreement(reference, merged, classes)).toFixed(0)} %`],
        ['top-1 agreement with the original, refit', `${(100 * topOneAgreement(reference, refitted, classes)).toFixed(0)} %`],
        ['consumers whose fit beat the plain merge on held-out samples / not', `${refit.layers.filter((l) => !l.skipped).length} / ${refit.layers.filter((l) => l.skipped).length}`],
        [
          'outputs on the held-out calibration samples, relative MSE: refitted / plain',
          refit.outputError ? `${refit.outputError.fit.toExponential(2)} / ${refit.outputError.plain.toExponential(2)}` : '—',
        ],
        ['refit written', refit.taken ? 'yes' : 'no: it did not improve the outputs, the plain merge is written'],
        ['refit ms', fmt(refitMs)],
      ],
    ),
    '',
    'Noise images are not photos: the pre-activations on them are more alike than on real inputs, so the sizes above overstate what the',
    'model keeps on its real input distribution. Give real images (`--calibration FILE`) for a size to rely on. With this few samples',
    '(the memory budget for 224×224 activations allows 16) the layer-by-layer fits match the calibration images and generalise worse',
    'than the plain merge; each fit and the whole refit are checked on calibration samples held out of the fits, so the refit is not',
    'written here.',
    '',
  ];
  await fs.writeFile(path.join(__dirname, 'mobilenet.md'), lines.join('\n'));
  console.log(lines.join('\n'));
}

// bench/speed.ts imports the model's download from here.
if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
