/** TF.js Layers models (model.json + weight shards) as a ModelSource. */
import type * as TF from '@tensorflow/tfjs';
import { foreignReason, InputError } from '../../model/errors';
import { OpenedModel, OpenerOptions, registerFormat } from '../../model/registry';
import { softmaxOutput, tfjsPredictor } from '../../compute/tfjsPredictor';
import { readTfjsModel, TfjsModelFile } from './read';
import { buildLayersGraph } from '../../codecs/kerasLayers';
import { encodeTfjsModel, WEIGHTS_FILE } from './write';

async function openTfjsModel(file: string, options: OpenerOptions): Promise<OpenedModel> {
  const model = await readTfjsModel(file, options.reading);
  const graph = buildLayersGraph(file, model.json.modelTopology, model.weights);
  return {
    format: 'tfjs-layers',
    path: model.path,
    files: [model.path, ...model.shardPaths],
    graph,
    weights: model.weights,
    mainFile: 'model.json',
    encode(changed, units) {
      const { modelJson, weightData } = encodeTfjsModel(model.json, model.weights, changed, units);
      return [
        { name: WEIGHTS_FILE, data: weightData },
        { name: 'model.json', data: JSON.stringify(modelJson) },
      ];
    },
    async predictor(backend) {
      const layersModel = await toLayersModel(backend.tf, model);
      return tfjsPredictor(backend.tf, model.path, layersModel, softmaxOutput(graph));
    },
  };
}

registerFormat(['.json'], openTfjsModel);

/** Loads a model into tfjs from what our reader decoded (identical to tfjs's own decoding). */
export async function toLayersModel(tf: typeof TF, model: TfjsModelFile): Promise<TF.LayersModel> {
  const weightSpecs = model.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype }));
  const total = model.weights.reduce((s, w) => s + w.data.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const w of model.weights) {
    weightData.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), offset);
    offset += w.data.byteLength;
  }
  try {
    return await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: model.json.modelTopology as TF.io.ModelJSON['modelTopology'], weightSpecs, weightData: weightData.buffer }),
    );
  } catch (e) {
    throw new InputError(model.path, `tfjs cannot build this model: ${foreignReason(e)}`);
  }
}
