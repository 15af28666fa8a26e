/**
 * `torch.save(model.state_dict(), path)` files: a zip archive holding `<archive>/data.pkl` (the
 * pickled dict, read by the restricted unpickler) and one `<archive>/data/<key>` entry per storage.
 */
import { InputError } from '../../model/errors';
import { sizeOf, STORAGE_BYTES } from '../../model/tensor';
import { isTensor, TensorRef, unpickle, Value } from '../../codecs/pickle';
import { checkShape, RawTensor } from '../../codecs/dtypes';
import { readZipDirectory, readZipEntry, ZipEntry } from '../../codecs/zip';

const STATE_DICT_ADVICE = 'save the weights with torch.save(model.state_dict(), path), or export the model to ONNX';

/** The state dict's tensors in its own order (the order of the model's modules). */
export function parseTorchFile(file: string, bytes: Buffer): RawTensor[] {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
    throw new InputError(file, `this is PyTorch's legacy (pre-1.6) serialization, which this tool does not read; re-save it with a current PyTorch (${STATE_DICT_ADVICE})`);
  }
  if (bytes.length < 4 || bytes.readUInt32LE(0) !== 0x04034b50) {
    throw new InputError(file, 'not a PyTorch file: torch.save writes a zip archive, and this is not one');
  }
  const entries = readZipDirectory(file, bytes);
  if ([...entries.keys()].some((name) => /^[^/]+\/(constants\.pkl|code\/)/.test(name))) {
    throw new InputError(file, `this is a TorchScript archive (torch.jit.save), not a state dict; ${STATE_DICT_ADVICE}`);
  }
  const pickles = [...entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length !== 1) throw new InputError(file, 'the archive has no data.pkl: not a torch.save file');
  const archive = pickles[0].slice(0, -'/data.pkl'.length);
  const entry = (name: string): ZipEntry | undefined => entries.get(`${archive}/${name}`);
  const byteOrderEntry = entry('byteorder');
  const byteOrder = byteOrderEntry ? readZipEntry(file, bytes, byteOrderEntry).toString('latin1') : 'little';
  if (byteOrder !== 'little' && byteOrder !== 'big') throw new InputError(file, `unknown byte order "${byteOrder}"`);

  const root = unpickle(file, readZipEntry(file, bytes, entry('data.pkl')!));
  const stateDict = checkStateDict(file, root);
  const storages = new Map<string, Uint8Array>();
  return stateDict.map(([name, ref]) => {
    const { key, dtype, numel } = ref.storage;
    let storage = storages.get(key);
    if (!storage) {
      const stored = entry(`data/${key}`);
      if (!stored) throw new InputError(file, `tensor "${name}": its storage data/${key} is missing from the archive`);
      storage = readZipEntry(file, bytes, stored);
      if (storage.length !== numel * STORAGE_BYTES[dtype]) {
        throw new InputError(file, `storage data/${key} holds ${storage.length} bytes, but ${numel} ${dtype} values need ${numel * STORAGE_BYTES[dtype]}`);
      }
      storages.set(key, storage);
    }
    return materialise(file, name, ref, storage, byteOrder === 'big');
  });
}

function checkStateDict(file: string, root: Value): [string, TensorRef][] {
  if (!(root instanceof Map)) throw new InputError(file, `the pickle holds no dict of tensors; ${STATE_DICT_ADVICE}`);
  const entries = [...root];
  const other = entries.filter(([, value]) => !isTensor(value)).map(([key]) => key);
  if (other.length) {
    const list = other.slice(0, 5).map((k) => `"${k}"`).join(', ') + (other.length > 5 ? ', …' : '');
    throw new InputError(file, `not a plain state dict: ${list} ${other.length === 1 ? 'is not a tensor' : 'are not tensors'} (a training checkpoint?); ${STATE_DICT_ADVICE}`);
  }
  return entries as [string, TensorRef][];
}

/** A contiguous little-endian copy of a strided view of its storage (bounds checked first). */
function materialise(file: string, name: string, ref: TensorRef, storage: Uint8Array, bigEndian: boolean): RawTensor {
  const shape = checkShape(file, name, ref.shape);
  const { dtype, numel } = ref.storage;
  const size = STORAGE_BYTES[dtype];
  const n = sizeOf(shape);
  if (n > 0) {
    const last = shape.reduce((index, d, axis) => index + (d - 1) * ref.stride[axis], ref.offset);
    if (last >= numel) throw new InputError(file, `tensor "${name}" reaches past the end of its storage`);
  }
  const bytes = new Uint8Array(n * size);
  const contiguous = shape.every((_, axis) => shape[axis] === 1 || ref.stride[axis] === sizeOf(shape.slice(axis + 1)));
  if (contiguous && !bigEndian) {
    bytes.set(storage.subarray(ref.offset * size, (ref.offset + n) * size));
    return { name, dtype, shape, bytes };
  }
  // Row-major walk over the view: `index` counts through the shape, `source` follows the strides.
  const index = new Array<number>(shape.length).fill(0);
  let source = ref.offset;
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < size; b++) bytes[i * size + b] = storage[source * size + (bigEndian ? size - 1 - b : b)];
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      source += ref.stride[axis];
      if (++index[axis] < shape[axis]) break;
      source -= ref.stride[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return { name, dtype, shape, bytes };
}
