/** What both Keras flavours share: weights read from HDF5 datasets, string attributes, and the reduced model's dataset edits. */
import { InputError } from '../../model/errors';
import { MAX_TENSOR_ELEMENTS, NamedWeight, sizeOf, StorageDtype, Tensor } from '../../model/tensor';
import { DatasetValues, Hdf5Dataset, Hdf5Group } from '../../codecs/hdf5';
import { excerpt } from '../../codecs/json';

/** A weight as the engine sees it, plus where it lives. */
export interface KerasWeight extends NamedWeight {
  /** The layer it belongs to (the engine finds it as "<layer>/<role>"). */
  layer: string;
  /** The dataset's path in the HDF5 file. */
  path: string;
}

const FLOATS: ReadonlyMap<string, StorageDtype> = new Map([['<f', 'float32'], ['>f', 'float32'], ['<d', 'float64'], ['>d', 'float64']]);

/**
 * A dataset's values for the engine (float32, as every format's weights are analysed), stored back
 * as `storage`. Returns null for datasets the engine does not read (integer counters and the like),
 * which are copied unchanged.
 */
export function readWeight(file: string, dataset: Hdf5Dataset, layer: string, role: string): KerasWeight | null {
  const dtype = dataset.dtype;
  const storage = typeof dtype === 'string' ? FLOATS.get(dtype) : undefined;
  if (dtype === '<e' || dtype === '>e') {
    throw new InputError(file, `weight ${excerpt(dataset.path)} is float16, which this tool cannot write back`);
  }
  if (!storage) return null;
  const shape = dataset.shape ?? [];
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || sizeOf(shape) > MAX_TENSOR_ELEMENTS) {
    throw new InputError(file, `weight ${excerpt(dataset.path)} has shape [${shape.join(', ')}], more than this tool will allocate`);
  }
  const data = Float32Array.from(dataset.value as Float32Array | Float64Array);
  const bad = data.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);
  if (bad > 0) throw new InputError(file, `weight ${excerpt(dataset.path)} holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'}; refusing to analyse it`);
  return { name: `${layer}/${role}`, layer, path: dataset.path, shape: shape.slice(), dtype: 'float32', data, storage };
}

/** A string attribute (h5py writes bytes and str, fixed or variable length), or undefined when absent. */
export function stringAttribute(node: Hdf5Group, name: string): string | undefined {
  if (!Object.hasOwn(node.attrs, name)) return undefined;
  const value = node.attrs[name].value;
  return typeof value === 'string' ? value : undefined;
}

/**
 * A list-of-strings attribute. Keras splits one that would exceed HDF5's 64 KiB object header into
 * `name0`, `name1`, …; an empty list is stored as an empty float64 array.
 */
export function stringsAttribute(node: Hdf5Group, name: string): string[] | undefined {
  const attrs = node.attrs;
  const chunks = Object.hasOwn(attrs, name) ? [name] : [];
  if (chunks.length === 0) for (let i = 0; Object.hasOwn(attrs, `${name}${i}`); i++) chunks.push(`${name}${i}`);
  if (chunks.length === 0) return undefined;
  return chunks.flatMap((chunk) => {
    const value = attrs[chunk].value;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return value.map(String);
    return [];
  });
}

/** The reduced model's weights by dataset path, in the engine's layout (Keras's own). */
export function changedDatasets(weights: KerasWeight[], changed: Map<string, Tensor>): Map<string, DatasetValues> {
  const datasets = new Map<string, DatasetValues>();
  for (const weight of weights) {
    const tensor = changed.get(weight.name);
    if (tensor) datasets.set(weight.path, { shape: tensor.shape, data: tensor.data });
  }
  return datasets;
}
