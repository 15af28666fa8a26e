/**
 * Training speed, one epoch of Adam on the same shapes, side by side: the embedded tfjs trainer (wasm
 * backend), the PyTorch trainer (python/condense_train.py) in 1 and 2 processes, and a plain PyTorch
 * loop written here (the floor the PyTorch trainer is measured against; cross-entropy on its logits). Random
 * data, softmax outputs; every trainer
 * trains 2 epochs and the second one's wall time (training and a 256-row validation pass) is given.
 *
 * Run: npm run bench:train -- [--python PATH] [--only NAME] [--skip-embedded]
 */
import { spawnSync } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadModel } from '../src/core/analyze';
import { loadBackend } from '../src/core/compute/backend';
import { normalSamples } from '../src/core/data/random';
import { findPython, pytorchTrainer } from '../src/core/train/pytorchTrainer';
import { embeddedTrainer, Trainer, TrainerData, TrainingJob } from '../src/core/train/trainer';
import { saveLayersModel } from '../test/helpers/models';

type LayerSpec = { dense: number; activation: string } | { conv: number; kernel: number } | { pool: number } | { flatten: true };

interface Case {
  name: string;
  inputShape: number[];
  layers: LayerSpec[];
  classes: number;
  rows: number;
  batchSize: number;
}

const CASES: Case[] = [
  {
    name: 'GELU MLP 8-256-128-64-7', inputShape: [8], rows: 8192, batchSize: 128, classes: 7,
    layers: [{ dense: 256, activation: 'gelu' }, { dense: 128, activation: 'gelu' }, { dense: 64, activation: 'gelu' }, { dense: 7, activation: 'softmax' }],
  },
  {
    name: 'CNN 28×28×1 → conv32 → pool → conv64 → dense128 → 10', inputShape: [28, 28, 1], rows: 1024, batchSize: 32, classes: 10,
    layers: [{ conv: 32, kernel: 3 }, { pool: 2 }, { conv: 64, kernel: 3 }, { flatten: true }, { dense: 128, activation: 'relu' }, { dense: 10, activation: 'softmax' }],
  },
  {
    name: 'paper MLP 13-3200-1600-800-400-11', inputShape: [13], rows: 4096, batchSize: 128, classes: 11,
    layers: [3200, 1600, 800, 400].map((units): LayerSpec => ({ dense: units, activation: 'gelu' })).concat([{ dense: 11, activation: 'softmax' }]),
  },
];
const VALIDATION_ROWS = 256;

function tfjsModel(c: Case): tf.LayersModel {
  const input = tf.input({ shape: c.inputShape });
  let x = input;
  let seed = 1;
  for (const l of c.layers) {
    const init = { kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) };
    if ('dense' in l) x = tf.layers.dense({ units: l.dense, activation: l.activation as 'linear', ...init }).apply(x) as tf.SymbolicTensor;
    else if ('conv' in l) x = tf.layers.conv2d({ filters: l.conv, kernelSize: l.kernel, activation: 'relu', ...init }).apply(x) as tf.SymbolicTensor;
    else if ('pool' in l) x = tf.layers.maxPooling2d({ poolSize: l.pool }).apply(x) as tf.SymbolicTensor;
    else x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x });
}

/** The plain loop: the same layers in torch.nn, Adam, random data, batches in a random order; seconds of each epoch. */
const PLAIN_LOOP = String.raw`
import json, os, sys, time, torch
spec = json.loads(sys.argv[1])
torch.manual_seed(0)
# The trainer's thread rule (condense_train.py's idle_threads), so both use the same cores.
torch.set_num_threads(max(1, min(os.cpu_count(), round(os.cpu_count() - os.getloadavg()[0]))))
layers, shape = [], list(spec["inputShape"])
channels_last = len(shape) == 3
for l in spec["layers"]:
    if "dense" in l:
        layers += [torch.nn.LazyLinear(l["dense"])] + ([torch.nn.GELU()] if l["activation"] == "gelu" else [torch.nn.ReLU()] if l["activation"] == "relu" else [])
    elif "conv" in l:
        layers += [torch.nn.LazyConv2d(l["conv"], l["kernel"]), torch.nn.ReLU()]
    elif "pool" in l:
        layers += [torch.nn.MaxPool2d(l["pool"])]
    else:
        layers += [torch.nn.Flatten()]
model = torch.nn.Sequential(*layers)
x = torch.randn(spec["rows"], *( [shape[2], shape[0], shape[1]] if channels_last else shape))
y = torch.randint(0, spec["classes"], (spec["rows"],))
model(x[:2])
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
seconds = []
for epoch in range(2):
    started = time.perf_counter()
    order = torch.randperm(spec["rows"])
    for start in range(0, spec["rows"], spec["batchSize"]):
        picked = order[start:start + spec["batchSize"]]
        optimizer.zero_grad()
        loss = loss_fn(model(x[picked]), y[picked])
        loss.backward()
        optimizer.step()
    seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
`;

/** Seconds of the second epoch, measured between the trainer's epoch reports. */
async function secondEpoch(trainer: Trainer, job: Omit<TrainingJob, 'onEpoch' | 'epochs'>, data: TrainerData): Promise<number> {
  const stamps: number[] = [];
  await trainer.train({ ...job, epochs: 2, onEpoch: () => stamps.push(performance.now()) }, data);
  if (stamps.length < 2) throw new Error('the trainer stopped before its second epoch');
  return (stamps[1] - stamps[0]) / 1000;
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const only = arg('only');
  const skipEmbedded = process.argv.includes('--skip-embedded');
  const found = await findPython(arg('python'), 'cpu');
  const backend = await loadBackend('wasm');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'condense-bench-train-'));
  console.log(`One epoch of Adam (the second of two), ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}; PyTorch ${found.torch} (${found.python}), tfjs ${backend.label}.`);
  console.log('| model | rows, batch | embedded (tfjs) | PyTorch trainer, 1 process | 2 processes | plain PyTorch loop | trainer / plain | embedded / trainer | load after |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  try {
    for (const c of CASES) {
      if (only && !c.name.includes(only)) continue;
      const model = tfjsModel(c);
      const file = await saveLayersModel(model, path.join(dir, c.name.replace(/\W+/g, '-')));
      model.dispose();
      const { graph } = (await loadModel(file)).source;
      const per = c.inputShape.reduce((a, b) => a * b, 1);
      const labels = (n: number) => tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 7919) % c.classes), 'float32');
      const data: TrainerData = {
        trainX: tf.tensor(normalSamples(c.rows * per, 1), [c.rows, ...c.inputShape]), trainY: labels(c.rows),
        valX: tf.tensor(normalSamples(VALIDATION_ROWS * per, 2), [VALIDATION_ROWS, ...c.inputShape]), valY: labels(VALIDATION_ROWS),
      };
      const job = { graph, file, inputShape: c.inputShape, batchSize: c.batchSize, loss: 'sparseCategoricalCrossentropy' as const, seed: 1, learningRate: 1e-3, patience: 10 };
      const embedded = skipEmbedded ? NaN : await secondEpoch(embeddedTrainer(backend), job, data);
      const times: number[] = [];
      for (const workers of [1, 2]) {
        const trainer = await pytorchTrainer({ python: found.python, device: 'cpu', workers });
        try {
          times.push(await secondEpoch(trainer, job, data));
        } finally {
          await trainer.dispose();
        }
      }
      const plainRun = spawnSync(found.python, ['-c', PLAIN_LOOP, JSON.stringify(c)], { encoding: 'utf8' });
      if (plainRun.status !== 0) throw new Error(`the plain loop failed: ${plainRun.stderr}`);
      const plain = (JSON.parse(plainRun.stdout.trim()) as number[])[1];
      tf.dispose(Object.values(data));
      const s = (v: number): string => (Number.isNaN(v) ? '—' : `${v.toFixed(2)} s`);
      console.log(`| ${c.name} | ${c.rows}, ${c.batchSize} | ${s(embedded)} | ${s(times[0])} | ${s(times[1])} | ${s(plain)} | ${(times[0] / plain).toFixed(2)}× | ${(embedded / times[0]).toFixed(1)}× | ${os.loadavg()[0].toFixed(1)} |`);
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
