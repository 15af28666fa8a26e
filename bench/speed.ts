/**
 * Measured speed-up of reduced models, with and without --round-to 8, side by side in one run, beside
 * the multiply-add ratio (what `condense verify --timing` prints):
 *  - the Fashion-MNIST CNN (conv32-conv64-dense128, bench/fashion_cnn.py: trained briefly in PyTorch,
 *    exported to ONNX) in onnxruntime, one intra-op thread, batch 1 and 1024;
 *  - the MobileNetV2 of bench/mobilenet.ts (nsfwjs, TF.js Layers, 224×224×3) in tfjs — its format's
 *    runtime: no TF.js → ONNX converter is reachable offline — batch 1 and 16 (a batch of 1024 holds
 *    616 MB of input and takes minutes per run on one core).
 * The machine's load average is recorded before and after each measurement.
 *
 * Run: npm run bench:speed   (needs /usr/bin/python3 with torch, dataset-fashion-mnist, onnxruntime-node
 * and the nsfwjs package from the npm registry once; writes bench/speed.md)
 */
import { execFileSync } from 'child_process';
import { existsSync, promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { analyzeFile } from '../src/core/analyze';
import { Backend, loadBackend } from '../src/core/compute/backend';
import type { CalibrationSpec } from '../src/core/data/calibration';
import { reduceModel } from '../src/core/reduce';
import type { Timing } from '../src/core/reduction/report';
import { measureTiming } from '../src/core/timing';
import { verifyModels } from '../src/core/verify';
import { fetchMobileNet } from './mobilenet';
import { table } from './report';

const CACHE = path.join(os.homedir(), '.cache', 'condense-bench', 'fashion-cnn');

interface Case {
  name: string;
  file: string;
  threshold: number;
  calibration: CalibrationSpec;
  /** Refit the next layers on the calibration data (else the plain merge). */
  refit: boolean;
  batches: number[];
  /** Held-out rows (and labels) the reduced model's accuracy is measured on, or generated inputs. */
  check: { data?: string; labels?: string; range?: [number, number]; samples?: number };
}

/** The plain reduction (as "original") timed against the rounded one (as "reduced"). */
interface Direct {
  model: string;
  timing: Timing;
  load: [number, number];
}

interface Row {
  model: string;
  roundTo: number;
  widths: string;
  paramsKept: number;
  agreement: string;
  timing: Timing;
  load: [number, number];
}

async function fashionCnn(): Promise<string> {
  const file = path.join(CACHE, 'fashion-cnn.onnx');
  if (!existsSync(file)) execFileSync('/usr/bin/python3', [path.join(__dirname, 'fashion_cnn.py'), CACHE], { stdio: 'inherit' });
  return file;
}

/** The case reduced once per rounding (one analysis), each reduced file checked and timed against the original. */
async function measureCase(backend: Backend, c: Case, out: string): Promise<{ rows: Row[]; direct: Direct }> {
  console.log(`${c.name}: analysing ...`);
  const { analysis, calibration } = await analyzeFile(c.file, { calibration: c.calibration, gram: backend.gram });
  const rows: Row[] = [];
  const files: string[] = [];
  for (const roundTo of [1, 8]) {
    console.log(`${c.name}, round-to ${roundTo}: reducing and checking ...`);
    const written = await reduceModel(analysis, c.threshold, path.join(out, `${path.basename(c.file, path.extname(c.file))}-round${roundTo}`), {
      roundTo, ...(c.refit ? { calibration } : {}),
    });
    const widths = written.report.layers.map((l) => `${l.unitsBefore}→${l.unitsAfter}`).join(', ');
    const check = await verifyModels(backend, c.file, written.mainFile, { ...c.check, seed: 3 });
    const agreement = check.accuracy
      ? `accuracy ${(100 * check.accuracy.original).toFixed(1)} → ${(100 * check.accuracy.reduced).toFixed(1)} %`
      : `top-1 agreement ${(100 * (check.argmaxAgreement ?? 0)).toFixed(1)} %`;
    console.log(`${c.name}, round-to ${roundTo}: timing ...`);
    const before = os.loadavg()[0];
    const timing = await measureTiming(backend, c.file, written.mainFile, { batches: c.batches, threads: 1 });
    rows.push({ model: c.name, roundTo, widths, paramsKept: written.estimate.totals.ratio, agreement, timing, load: [before, os.loadavg()[0]] });
    files.push(written.mainFile);
  }
  // The two reductions against each other, alternately in one measurement: whether rounding pays, load aside.
  console.log(`${c.name}: plain against rounded reduction ...`);
  const before = os.loadavg()[0];
  const direct = await measureTiming(backend, files[0], files[1], { batches: c.batches, threads: 1 });
  return { rows, direct: { model: c.name, timing: direct, load: [before, os.loadavg()[0]] } };
}

async function main(): Promise<void> {
  const backend = await loadBackend();
  const fashion = await fashionCnn();
  const cases: Case[] = [
    {
      name: 'Fashion-MNIST CNN (ONNX)',
      file: fashion,
      threshold: 0.7,
      calibration: { file: path.join(CACHE, 'calibration.npy') },
      refit: true,
      batches: [1, 1024],
      check: { data: path.join(CACHE, 'held-out.npy'), labels: path.join(CACHE, 'held-out-labels.npy') },
    },
    {
      name: 'MobileNetV2 (TF.js)',
      file: await fetchMobileNet(),
      threshold: 0.9,
      calibration: { range: [0, 1], samples: 16, seed: 7 },
      refit: false,
      batches: [1, 16],
      check: { range: [0, 1], samples: 32 },
    },
  ];
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-speed-'));
  const rows: Row[] = [];
  const directs: Direct[] = [];
  try {
    for (const c of cases) {
      const measured = await measureCase(backend, c, out);
      rows.push(...measured.rows);
      directs.push(measured.direct);
    }
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
  const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
  const lines = [
    '# Benchmark: measured speed-up, with and without --round-to 8',
    '',
    `Written by \`npm run bench:speed\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ` +
      'shared with other jobs: the load average (1 min) before and after each measurement is in the last column.',
    '',
    'Each model is reduced at one threshold twice — plain, and with widths rounded up to multiples of 8 — and both reduced files are timed',
    'against the original by `measureTiming` (what `condense verify --timing` runs): two warm-up runs, then both models alternately until at',
    'least 5 runs and 3 s are in (at most 1000 runs); the median per batch. MAC ratio: multiply-adds per sample, original over reduced.',
    '',
    ...table(
      ['model', 'round-to', 'batch', 'original ms', 'reduced ms', 'speed-up', 'MAC ratio', 'params kept', 'runs', 'spread', 'load before → after'],
      rows.flatMap((r) => r.timing.batches.map((b) => [
        r.model, r.roundTo === 1 ? 'off' : String(r.roundTo), String(b.batch), ms(b.originalMs), ms(b.reducedMs), `${b.speedup.toFixed(2)}×`,
        r.timing.macs ? `${r.timing.macs.ratio.toFixed(2)}×` : '—', `${(100 * r.paramsKept).toFixed(1)} %`, String(b.runs), `${(100 * b.spread).toFixed(0)} %`,
        `${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)}`,
      ])),
    ),
    '',
    'The two reductions timed against each other in one measurement (plain as the first model, rounded as the second), so the machine\'s',
    'load falls on both alike: a speed-up above 1× means the rounded model runs faster despite its extra multiply-adds.',
    '',
    ...table(
      ['model', 'batch', 'plain ms', 'rounded ms', 'rounded speed-up', 'MAC ratio plain / rounded', 'runs', 'spread', 'load before → after'],
      directs.flatMap((d) => d.timing.batches.map((b) => [
        d.model, String(b.batch), ms(b.originalMs), ms(b.reducedMs), `${b.speedup.toFixed(2)}×`, d.timing.macs ? `${d.timing.macs.ratio.toFixed(2)}×` : '—',
        String(b.runs), `${(100 * b.spread).toFixed(0)} %`, `${d.load[0].toFixed(1)} → ${d.load[1].toFixed(1)}`,
      ])),
    ),
    '',
    ...table(['model', 'round-to', 'widths (before→after)', 'accuracy / agreement', 'runtime', 'threads'], rows.map((r) => [
      r.model, r.roundTo === 1 ? 'off' : String(r.roundTo), r.widths.length > 120 ? `${r.widths.slice(0, 117)}…` : r.widths, r.agreement, r.timing.runtime, r.timing.threads,
    ])),
    '',
    'Fashion-MNIST CNN: trained for 2 epochs on 12000 training images (bench/fashion_cnn.py), reduced at γ 0.7 with similarity and',
    'refit on 512 test images, accuracy on 2000 other test images. MobileNetV2: reduced at γ 0.9 with similarity on 16 uniform noise',
    'images (see bench/mobilenet.md for why noise and why 16), plain merge, top-1 agreement on 32 other noise images.',
  ];
  const loads = [...rows.map((r) => r.load), ...directs.map((d) => d.load)].flat();
  lines.push(
    '',
    `Load average during the measurements: ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} on ${os.cpus().length} cores. Where it is above the`,
    'core count, each run waits for a core by chance: compare speed-ups measured together (the second table), read differences within the',
    'spread column as noise, and measure on an idle machine before deciding on --round-to.',
  );
  await fs.writeFile(path.join(__dirname, 'speed.md'), lines.join('\n') + '\n');
  console.log(lines.join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
