/**
 * Keras model files as a ModelSource: Keras 2 full-model HDF5 (.h5, .hdf5, and .keras before
 * tf.keras 2.13) and Keras 3 archives (.keras), told apart by their first bytes. The reduced model
 * is written in the flavour it came in; verification rebuilds the model in tfjs from its config.
 */
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import { foreignReason, InputError } from '../../model/errors';
import { OpenedModel, OpenerOptions, Predictor, registerFormat } from '../../model/registry';
import { softmaxOutput, tfjsPredictor } from '../../compute/tfjsPredictor';
import { readKerasArchive } from './archive';
import { forTfjs, graphOf } from './config';
import { isHdf5, loadHdf5 } from '../../codecs/hdf5';
import { readKerasH5 } from './h5model';
import { KerasModel } from './model';
import { excerpt } from '../../codecs/json';

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

async function openKerasModel(file: string, options: OpenerOptions): Promise<OpenedModel> {
  const modelPath = path.resolve(file);
  const bytes = await options.reading.read(file, modelPath);
  const hdf5 = await loadHdf5();
  let model: KerasModel;
  if (isHdf5(bytes)) model = readKerasH5(file, bytes, hdf5, options.reading);
  else if (ZIP_MAGIC.every((b, i) => bytes[i] === b)) model = readKerasArchive(file, bytes, hdf5, options.reading);
  else throw new InputError(file, 'is neither an HDF5 file (Keras 2) nor a zip archive (Keras 3): not a Keras model');
  const graph = graphOf(file, model.config, model.weights);
  const mainFile = path.basename(modelPath);
  return {
    format: model.format,
    path: modelPath,
    files: [modelPath],
    graph,
    weights: model.weights,
    mainFile,
    encode: (changed, units) => [{ name: mainFile, data: model.encode(changed, units) }],
    predictor: (backend) => kerasPredictor(backend.tf, file, model, softmaxOutput(graph)),
  };
}

registerFormat(['.h5', '.hdf5', '.keras'], openKerasModel);

const CONVOLUTIONS = new Set(['Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose']);

/** The model built by tfjs from its config, with the file's weights set layer by layer in Keras's order. */
async function kerasPredictor(tf: typeof TF, file: string, model: KerasModel, classifier: boolean): Promise<Predictor> {
  let layersModel: TF.LayersModel;
  try {
    layersModel = await tf.models.modelFromJSON({ modelTopology: forTfjs(model.config) } as unknown as TF.io.ModelJSON);
  } catch (e) {
    throw new InputError(file, `tfjs cannot build this model (${model.description}): ${foreignReason(e)}`);
  }
  try {
    for (const layer of layersModel.layers) {
      const expected = layer.weights.length;
      if (expected === 0) continue;
      const stored = model.weights.filter((w) => w.layer === layer.name);
      if (stored.length !== expected) {
        throw new InputError(file, `layer ${excerpt(layer.name)} has ${stored.length} weights in the file, but its config makes ${expected}`);
      }
      const flip = model.flipConvKernels && CONVOLUTIONS.has(layer.getClassName());
      const tensors = stored.map((w, i) =>
        flip && i === 0
          ? // Keras's convert_kernel: every axis reversed but the last two (input and output channels).
            tf.tidy(() => tf.reverse(tf.tensor(w.data, w.shape), [...w.shape.keys()].slice(0, -2)))
          : tf.tensor(w.data, w.shape),
      );
      try {
        layer.setWeights(tensors);
      } catch (e) {
        throw new InputError(file, `the weights of layer ${excerpt(layer.name)} do not fit its config: ${foreignReason(e)}`);
      } finally {
        tf.dispose(tensors);
      }
    }
  } catch (e) {
    layersModel.dispose();
    throw e;
  }
  return tfjsPredictor(tf, file, layersModel, classifier);
}
