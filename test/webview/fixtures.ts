/**
 * Real analyses to feed the panel, as the host would send them: a strongly condensed MLP (the shipped
 * combustion example when present, else one built here with near-parallel units) and a small CNN at
 * standard initialisation (barely condenses) whose Dense layer carries an HTML-injection name.
 */
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel, loadModel } from '../../src/core/analyze';
import { heatmapOf } from '../../src/core/similarity/heatmap';
import { seededRandom } from '../../src/core/data/random';
import { DEFAULT_THRESHOLD } from '../../src/core/estimate';
import { Heatmap, HostToWebview, toWire } from '../../src/shared/protocol';
import { saveLayersModel, tempDir } from '../helpers/models';

export type AnalysisMessage = Extract<HostToWebview, { type: 'analysis' }>;

export const EVIL_NAME = '<img src=x onerror=alert(1)>';
const COMBUSTION = path.resolve(__dirname, '..', '..', 'examples', 'combustion-mlp', 'model.json');

/** What the worker sends for a model file (toWire with heatmaps), wrapped as the host's message. */
async function analysisMessage(file: string, label: string, threshold = DEFAULT_THRESHOLD): Promise<AnalysisMessage> {
  const analysis = await analyzeModel(await loadModel(file));
  const heatmaps = new Map<string, Heatmap>();
  for (const layer of analysis.summary.layers) {
    const detail = analysis.details.get(layer.name);
    if (detail && layer.dendrogram) heatmaps.set(layer.name, heatmapOf(detail.vectors, detail.live, layer.dendrogram));
  }
  return {
    type: 'analysis',
    model: { path: file, label },
    summary: toWire(analysis.summary, heatmaps),
    thresholds: { threshold, overrides: {} },
  };
}

/**
 * Conv2D → BatchNormalization → ReLU → Conv2D → Flatten → Dense → Dense(softmax), untrained.
 * tfjs refuses markup in layer names, so the Dense layer is renamed in the saved files.
 */
async function buildStandardCnn(dir: string): Promise<string> {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [12, 12, 1], filters: 16, kernelSize: 3, name: 'conv1', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  model.add(tf.layers.batchNormalization({ name: 'bn1' }));
  model.add(tf.layers.activation({ activation: 'relu', name: 'relu1' }));
  model.add(tf.layers.conv2d({ filters: 24, kernelSize: 3, activation: 'relu', name: 'conv2', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: 48, activation: 'relu', name: 'evil_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'probs', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }));
  const file = await saveLayersModel(model, dir);
  model.dispose();
  const rename = (value: unknown): unknown => {
    if (typeof value === 'string') return value === 'evil_dense' || value.startsWith('evil_dense/') ? EVIL_NAME + value.slice('evil_dense'.length) : value;
    if (Array.isArray(value)) return value.map(rename);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rename(v)]));
    return value;
  };
  await fs.writeFile(file, JSON.stringify(rename(JSON.parse(await fs.readFile(file, 'utf8')))));
  return file;
}

/**
 * Layers hidden1..3 and output, like the combustion example. Each hidden unit is one of a few
 * prototype directions, scaled and perturbed: mostly slightly (similarity ≈ 0.99), some more, so
 * the layers condense strongly and the highest similarities spread below 1.
 */
async function buildCondensedMlp(dir: string): Promise<string> {
  const random = seededRandom(7);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const model = tf.sequential();
  const sizes: [string, number, number][] = [['hidden1', 6, 24], ['hidden2', 128, 20], ['hidden3', 128, 28]];
  for (const [name, inputs] of sizes) model.add(tf.layers.dense({ units: 128, activation: 'gelu', name, ...(name === 'hidden1' ? { inputShape: [inputs] } : {}) }));
  model.add(tf.layers.dense({ units: 5, name: 'output' }));
  sizes.forEach(([, inputs, prototypes], i) => {
    const d = inputs + 1;
    const protos = Array.from({ length: prototypes }, () => Array.from({ length: d }, normal));
    const kernel = new Float32Array(inputs * 128);
    const bias = new Float32Array(128);
    for (let u = 0; u < 128; u++) {
      const proto = protos[Math.floor(random() * prototypes)];
      const noise = [0.02, 0.02, 0.02, 0.05, 0.1, 0.3][Math.floor(random() * 6)];
      const scale = 0.05 * (0.5 + random());
      for (let k = 0; k < d; k++) {
        const w = scale * (proto[k] + noise * normal());
        if (k < inputs) kernel[k * 128 + u] = w;
        else bias[u] = w;
      }
    }
    model.layers[i].setWeights([tf.tensor2d(kernel, [inputs, 128]), tf.tensor1d(bias)]);
  });
  const file = await saveLayersModel(model, dir);
  model.dispose();
  return file;
}

export interface Fixtures {
  /** Strongly condensed at γ 0.95; layers hidden1..3 and output either way. */
  condensed: AnalysisMessage;
  /** Barely condenses: the panel explains why. */
  standard: AnalysisMessage;
}

export async function buildFixtures(): Promise<Fixtures> {
  const dir = await tempDir('condense-webview-');
  const condensed = existsSync(COMBUSTION)
    ? await analysisMessage(COMBUSTION, 'combustion-mlp/model.json')
    : await analysisMessage(await buildCondensedMlp(path.join(dir, 'condensed-mlp')), 'condensed-mlp/model.json');
  return {
    condensed,
    standard: await analysisMessage(await buildStandardCnn(path.join(dir, 'small-cnn')), 'small-cnn/model.json'),
  };
}
