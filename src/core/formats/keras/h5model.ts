/**
 * Keras 2 full-model HDF5 files (`model.save('m.h5')`, Keras 2.0 to 2.15 and tf.keras): root
 * attributes keras_version, backend, model_config (JSON) and training_config; group model_weights
 * with attribute layer_names and one group per layer, whose attribute weight_names names datasets
 * nested under it ("dense_1/kernel:0", or "dense_1/kernel" from Theano).
 */
import { InputError } from '../../model/errors';
import { checkInflation, ModelReading } from '../../model/files';
import { layerEntries, layerName, parseModelConfig, reducedConfigText } from './config';
import { Hdf5, Hdf5Group } from '../../codecs/hdf5';
import { KerasModel } from './model';
import { changedDatasets, KerasWeight, readWeight, stringAttribute, stringsAttribute } from './weights';
import { excerpt } from '../../codecs/json';

/** Keras flips convolution kernels it loads from a backend other than its own; tfjs computes as TensorFlow does. */
const CORRELATING_BACKENDS = new Set(['tensorflow', 'jax', 'torch']);

/** The optimizer's state has the old shapes; without it Keras compiles the model with a fresh optimizer. Never read. */
const OMITTED: ReadonlySet<string> = new Set(['/optimizer_weights']);

export function readKerasH5(file: string, bytes: Uint8Array, hdf5: Hdf5, reading: ModelReading = new ModelReading()): KerasModel {
  return hdf5.read(file, bytes, (root) => {
    // Every dataset is read, or copied by the writer: their declared sizes are reserved before any is.
    const declared = hdf5.declaredBytes(file, root, OMITTED);
    checkInflation(file, 'the datasets of the file', bytes.length, declared);
    reading.reserve(file, declared, 'the datasets of the file');
    const configText = stringAttribute(root, 'model_config');
    if (configText === undefined) throw new InputError(file, withoutArchitecture(hdf5, root));
    const version = stringAttribute(root, 'keras_version');
    if (version?.startsWith('1.')) {
      throw new InputError(file, `was saved by Keras ${version}; Keras 1 models are not supported (load it in Keras 2 and save it again)`);
    }
    const backend = stringAttribute(root, 'backend');
    const config = parseModelConfig(file, configText, 'the model_config attribute');
    const group = root.get('model_weights');
    if (!hdf5.isGroup(group)) throw new InputError(file, 'has a model_config but no model_weights group: not a Keras full-model file');
    const weights = layerWeights(file, hdf5, group);
    const known = new Set(layerEntries(config).map(layerName));
    const stray = weights.find((w) => !known.has(w.layer));
    if (stray) throw new InputError(file, `model_weights holds weights of layer ${excerpt(stray.layer)}, which model_config does not have`);
    return {
      format: 'keras-h5',
      description: `Keras ${version ?? '2'} HDF5${backend ? ` (${backend})` : ''}`,
      config,
      weights,
      flipConvKernels: backend !== undefined && !CORRELATING_BACKENDS.has(backend),
      encode(changed, units) {
        const newConfig = reducedConfigText(file, configText, config, units);
        return hdf5.rewrite(file, bytes, {
          datasets: changedDatasets(weights, changed),
          attributes: new Map([['/', new Map([['model_config', newConfig]])]]),
          omit: OMITTED,
        });
      },
    };
  });
}

/** Why a file without model_config cannot be read, in the user's terms. */
function withoutArchitecture(hdf5: Hdf5, root: Hdf5Group): string {
  const weightsOnly = stringsAttribute(root, 'layer_names') !== undefined || hdf5.isGroup(root.get('layers'));
  if (weightsOnly) {
    return 'holds weights only (saved with save_weights), no architecture; save the whole model instead: ' +
      "model.save('model.h5') in Keras 2, model.save('model.keras') in Keras 3";
  }
  return 'has no model_config attribute: not a Keras model file saved with model.save()';
}

/** Every layer's weights in layer_names order, each layer's in weight_names order (the order Keras loads them in). */
function layerWeights(file: string, hdf5: Hdf5, group: Hdf5Group): KerasWeight[] {
  const layers = stringsAttribute(group, 'layer_names');
  if (!layers) throw new InputError(file, 'model_weights has no layer_names attribute');
  const weights: KerasWeight[] = [];
  for (const layer of layers) {
    const layerGroup = group.get(layer);
    if (!hdf5.isGroup(layerGroup)) throw new InputError(file, `model_weights lists layer ${excerpt(layer)} but has no group for it`);
    const names = stringsAttribute(layerGroup, 'weight_names') ?? [];
    // A role once per layer ("kernel", "bias", …); nested models repeat roles and are named in full.
    const roles = names.map((name) => name.replace(/:\d+$/, '').split('/').pop()!);
    const unique = new Set(roles).size === roles.length;
    names.forEach((name, i) => {
      const dataset = layerGroup.get(name);
      if (!hdf5.isDataset(dataset)) throw new InputError(file, `layer ${excerpt(layer)} lists weight ${excerpt(name)} but has no dataset for it`);
      const weight = readWeight(file, dataset, layer, unique ? roles[i] : name);
      if (weight) weights.push(weight);
    });
  }
  return weights;
}
