/** TF.js Layers models (model.json + weight shards) as a ModelSource. */
import type * as TF from '@tensorflow/tfjs';
import { InputError } from '../errors';
import { ModelGraph } from '../graph';
import { ModelSource, Predictor, registerFormat } from '../source';
import { readTfjsModel, TfjsModelFile } from './read';
import { buildGraph } from './topology';
import { encodeTfjsModel, WEIGHTS_FILE } from './write';

export async function openTfjsModel(file: string): Promise<ModelSource> {
  const model = await readTfjsModel(file);
  const graph = buildGraph(file, model.json, model.weights);
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
      return tfjsPredictor(backend.tf, layersModel, softmaxOutput(graph));
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
    throw new InputError(model.path, `tfjs cannot build this model: ${(e as Error).message}`);
  }
}

/** True when an output layer of a Keras-vocabulary graph is a softmax (a classifier). */
export function softmaxOutput(graph: ModelGraph): boolean {
  return graph.outputs.some((name) => {
    const layer = graph.byName.get(name)!;
    return layer.config.activation === 'softmax' || layer.className === 'Softmax';
  });
}

/** A tfjs LayersModel as a Predictor (also used by formats that rebuild their graph in tfjs). */
export function tfjsPredictor(tf: typeof TF, model: TF.LayersModel, classifier: boolean): Predictor {
  const inputShapes = model.inputs.map((i) => i.shape.slice(1));
  return {
    inputShapes,
    classifier,
    async run(inputs, samples, shapes) {
      return tf.tidy(() => {
        const out = model.predict(inputs.map((x, i) => tf.tensor(x, [samples, ...shapes[i]])));
        return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
      });
    },
    dispose: () => model.dispose(),
  };
}

