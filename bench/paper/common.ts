/**
 * What the paper experiments share: seeded training order, .npy files the product reads, saving a
 * trained tfjs model as a TF.js Layers folder, and scoring a saved model on labelled data.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { writeFolder } from '../../src/core/reduction/output';
import { readTfjsModel } from '../../src/core/formats/tfjs/read';
import { toLayersModel } from '../../src/core/formats/tfjs/source';
import { WEIGHTS_FILE } from '../../src/core/formats/tfjs/write';
import { AutoMetric } from '../../src/core/reduction/report';
import { score } from '../../src/core/data/validation';

/** A little-endian float32 .npy file (C order), the format the product's data readers take. */
export function npyBytes(data: ArrayLike<number>, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`npyBytes: shape [${shape.join(', ')}] holds ${count} values, the data ${data.length}`);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // Version 1.0: magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  header = header.padEnd(Math.ceil((10 + header.length + 1) / 64) * 64 - 10 - 1, ' ') + '\n';
  const bytes = new Uint8Array(10 + header.length + count * 4);
  bytes.set([0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0], 0);
  new DataView(bytes.buffer).setUint16(8, header.length, true);
  bytes.set(Buffer.from(header, 'latin1'), 10);
  const values = new DataView(bytes.buffer, 10 + header.length);
  for (let i = 0; i < count; i++) values.setFloat32(i * 4, data[i], true);
  return bytes;
}

export async function writeNpy(file: string, data: ArrayLike<number>, shape: number[]): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, npyBytes(data, shape));
}

/** Saves a tfjs model as a TF.js Layers folder (model.json and one weight shard), replacing the folder. */
export async function saveLayersModel(tf: typeof TF, model: TF.LayersModel, dir: string): Promise<string> {
  let artifacts: TF.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  const { modelTopology, weightSpecs, weightData } = artifacts!;
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version["tfjs-layers"]}`,
    convertedBy: null,
    modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: weightSpecs ?? [] }],
  };
  const weights = weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(weightData);
  await writeFolder(dir, [
    { name: 'model.json', data: JSON.stringify(modelJson) },
    { name: WEIGHTS_FILE, data: new Uint8Array(weights) },
  ], { overwrite: true, protect: [] });
  return path.join(dir, 'model.json');
}

export async function loadLayersModel(tf: typeof TF, modelFile: string): Promise<TF.LayersModel> {
  return toLayersModel(tf, await readTfjsModel(modelFile));
}

/** Labelled data in memory: inputs [samples, ...], targets [samples, width] (mse) or class indices [samples] (accuracy). */
export interface LabelledData {
  inputs: TF.Tensor;
  targets: TF.Tensor;
}

/** The model's validation MSE or accuracy, computed by the product's own scoring (as `reduce --auto` does). */
export function evaluate(model: TF.LayersModel, data: LabelledData, metric: AutoMetric): number {
  const predicted = model.predict(data.inputs, { batchSize: 256 }) as TF.Tensor;
  const y = Float64Array.from(predicted.dataSync());
  predicted.dispose();
  const samples = data.inputs.shape[0];
  return score(metric, y, Float64Array.from(data.targets.dataSync()), samples, y.length / samples);
}
