/**
 * Keras 3 model archives (`model.save('m.keras')`; tf.keras 2.13–2.15 write the same layout): a
 * zip holding config.json (layers serialised as {module, class_name, config, registered_name}),
 * metadata.json (keras_version, date_saved) and model.weights.h5. There a layer's variables sit by
 * position under layers/<key>/vars/0, 1, …, where <key> is the layer's snake_case class name,
 * numbered in the model's layer order (dense, dense_1, …), not the layer's own name.
 */
import { InputError } from '../../model/errors';
import { checkInflation, ModelReading } from '../../model/files';
import { readZipDirectory, readZipEntry, refuseClimbingEntries, writeZip } from '../../codecs/zip';
import { layerEntries, layerName, ModelConfig, parseModelConfig, reducedConfigText, weightRoles } from './config';
import { Hdf5, Hdf5Group } from '../../codecs/hdf5';
import { KerasModel } from './model';
import { changedDatasets, KerasWeight, readWeight } from './weights';
import { excerpt } from '../../codecs/json';

const CONFIG = 'config.json';
const METADATA = 'metadata.json';
const WEIGHTS = 'model.weights.h5';
const NESTED_MODELS = new Set(['Sequential', 'Functional', 'Model']);

/** The optimizer's variables have the old shapes; Keras skips loading an optimizer state it does not find. Never read. */
const OMITTED: ReadonlySet<string> = new Set(['/optimizer']);

export function readKerasArchive(file: string, zip: Buffer, hdf5: Hdf5, reading: ModelReading = new ModelReading()): KerasModel {
  const entries = readZipDirectory(file, zip);
  refuseClimbingEntries(file, entries.keys());
  const text = (name: string): string => readZipEntry(file, zip, entries.get(name)!, reading).toString('utf8');
  if (!entries.has(CONFIG)) throw new InputError(file, 'has no config.json: not a Keras model archive');
  if (!entries.has(WEIGHTS)) {
    const npz = entries.has('model.weights.npz');
    throw new InputError(file, npz ? 'stores its weights as model.weights.npz; only the default model.weights.h5 is supported' : 'has no model.weights.h5');
  }
  const configText = text(CONFIG);
  const config = parseModelConfig(file, configText, 'config.json');
  if (config.class_name !== 'Sequential' && config.class_name !== 'Functional') {
    throw new InputError(file, `config.json describes a ${config.class_name} model: a subclassed model's architecture is Python code, not a config (Sequential and Functional models are supported)`);
  }
  const version = entries.has(METADATA) ? keyOf(text(METADATA), 'keras_version') : undefined;
  // Messages about the weights file name the archive and the entry.
  const weightsFile = `${file} (${WEIGHTS})`;
  const weightsBytes = readZipEntry(file, zip, entries.get(WEIGHTS)!, reading);
  const weights = hdf5.read(weightsFile, weightsBytes, (root) => {
    // Every dataset is read, or copied by the writer: their declared sizes are reserved before any is.
    const declared = hdf5.declaredBytes(weightsFile, root, OMITTED);
    checkInflation(weightsFile, 'the datasets of the weights file', weightsBytes.length, declared);
    reading.reserve(weightsFile, declared, 'the datasets of the weights file');
    return layerVariables(weightsFile, hdf5, root, config);
  });
  return {
    format: 'keras',
    description: `Keras ${version ?? '3'} archive`,
    config,
    weights,
    flipConvKernels: false,
    encode(changed, units) {
      const newConfig = reducedConfigText(file, configText, config, units);
      const newWeights = hdf5.rewrite(weightsFile, weightsBytes, {
        datasets: changedDatasets(weights, changed),
        attributes: new Map(),
        omit: OMITTED,
      });
      return writeZip(
        [...entries.values()].map((entry) => ({
          name: entry.name,
          data: entry.name === CONFIG ? Buffer.from(newConfig, 'utf8') : entry.name === WEIGHTS ? newWeights : readZipEntry(file, zip, entry),
          method: entry.method === 8 ? 8 : 0,
        })),
      );
    },
  };
}

function keyOf(json: string, key: string): string | undefined {
  try {
    const value = (JSON.parse(json) as Record<string, unknown>)[key];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Keras's naming.to_snake_case: "BatchNormalization" → "batch_normalization", "Conv2D" → "conv2d". */
function snakeCase(name: string): string {
  return name.replace(/\W+/g, '').replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

/** Every layer's variables, in layer order; a Sequential model's own InputLayer has no entry. */
function layerVariables(file: string, hdf5: Hdf5, root: Hdf5Group, config: ModelConfig): KerasWeight[] {
  const base = ['layers', '_layer_checkpoint_dependencies'].find((name) => hdf5.isGroup(root.get(name))) ?? 'layers';
  const entries = layerEntries(config);
  const saved = config.class_name === 'Sequential' && entries[0]?.class_name === 'InputLayer' ? entries.slice(1) : entries;
  const used = new Map<string, number>();
  const weights: KerasWeight[] = [];
  for (const entry of saved) {
    const name = layerName(entry);
    const className = String(entry.class_name);
    if (NESTED_MODELS.has(className)) throw new InputError(file, `layer ${excerpt(name)} is a nested ${className} model, which is not supported in .keras files`);
    const snake = snakeCase(className);
    const count = used.has(snake) ? used.get(snake)! + 1 : 0;
    used.set(snake, count);
    const path = `${base}/${count ? `${snake}_${count}` : snake}/vars`;
    const vars = root.get(path);
    if (!hdf5.isGroup(vars)) throw new InputError(file, `has no group ${excerpt(path)} for layer ${excerpt(name)}: it does not match config.json`);
    const keys = vars.keys().sort((a, b) => Number(a) - Number(b));
    const layerConfig = (entry.config ?? {}) as Record<string, unknown>;
    const roles = weightRoles(className, layerConfig);
    if (roles && roles.length !== keys.length) {
      throw new InputError(file, `layer ${excerpt(name)} (${className}) has ${keys.length} variables under ${excerpt(path)}, not the ${roles.length} (${roles.join(', ')}) its config implies`);
    }
    keys.forEach((key, i) => {
      const dataset = vars.get(key);
      if (!hdf5.isDataset(dataset)) throw new InputError(file, `${excerpt(`${path}/${key}`)} is not a dataset`);
      const weight = readWeight(file, dataset, name, roles?.[i] ?? `var${i}`);
      if (!weight) return;
      const width = layerConfig.units ?? layerConfig.filters;
      if (roles?.[i] === 'kernel' && width !== undefined && weight.shape[weight.shape.length - 1] !== Number(width)) {
        throw new InputError(file, `the kernel of layer ${excerpt(name)} has shape [${weight.shape.join(', ')}], which does not end in its ${Number(width)} units`);
      }
      weights.push(weight);
    });
  }
  return weights;
}
