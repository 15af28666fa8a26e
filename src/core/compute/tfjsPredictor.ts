/** A tfjs LayersModel run as the engine's Predictor: TF.js and Keras files, and formats rebuilt in tfjs. */
import type * as TF from '@tensorflow/tfjs';
import { ModelGraph } from '../model/graph';
import { Predictor } from '../model/registry';
import { outputsSoftmax } from '../structure/layerKinds';

/** True when an output layer of a Keras-vocabulary graph is a softmax (a classifier). */
export function softmaxOutput(graph: ModelGraph): boolean {
  return graph.outputs.some((name) => outputsSoftmax(graph.byName.get(name)!));
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

