import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

const created: string[] = [];

/** A fresh temporary folder for one test; all of them are removed when the run ends (test/helpers/hooks.ts). */
export async function tempDir(prefix = 'condense-test-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(created.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
}

/** examples/combustion-mlp's model copied into a fresh temporary folder (the worker tests write next to it); its model.json. */
export async function copyCombustionExample(): Promise<string> {
  const example = path.join(__dirname, '..', '..', 'examples', 'combustion-mlp');
  const dir = await tempDir();
  for (const f of ['model.json', 'group1-shard1of1.bin']) await fs.copyFile(path.join(example, f), path.join(dir, f));
  return path.join(dir, 'model.json');
}

/** Saves a tfjs model as model.json + one shard, as the TF.js converter and tfjs-node do. */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.from(weightData));
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
      };
      await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return path.join(dir, 'model.json');
}

/** A copy of a saved model folder (as saveSmallDenseModel writes it) at `dir`: the folder, its model.json and its one shard. */
export async function copyModelFolder(source: string, dir: string): Promise<{ dir: string; file: string; shard: string }> {
  await fs.cp(source, dir, { recursive: true });
  return { dir, file: path.join(dir, 'model.json'), shard: path.join(dir, 'group1-shard1of1.bin') };
}

/** A small seeded TF.js model (4 inputs, Dense 8 relu "h", Dense 2 "out") saved under `dir`/model: the good model the bad-input tests break copies of. Its folder. */
export async function saveSmallDenseModel(dir: string): Promise<string> {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ name: 'h', inputShape: [4], units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ name: 'out', units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  const folder = path.dirname(await saveLayersModel(model, path.join(dir, 'model')));
  model.dispose();
  return folder;
}
