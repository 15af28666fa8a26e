/**
 * `torch.save(model.state_dict(), path)` files: a zip archive holding `<archive>/data.pkl` (the
 * pickled dict, read by the restricted unpickler) and one `<archive>/data/<key>` entry per storage.
 */
import { InputError } from '../../model/errors';
import { ModelReading } from '../../model/files';
import { sizeOf, STORAGE_BYTES } from '../../model/tensor';
import { isTensor, TensorRef, unpickle, Value } from '../../codecs/pickle';
import { checkShape, RawTensor } from '../../codecs/dtypes';
import { readZipDirectory, readZipEntry, ZipEntry } from '../../codecs/zip';
import { excerpt } from '../../codecs/json';

const STATE_DICT_ADVICE = 'save the weights with torch.save(model.state_dict(), path), or export the model to ONNX';

/** The state dict's tensors in its own order (the order of the model's modules). */
export function parseTorchFile(file: string, bytes: Buffer, reading: ModelReading = new ModelReading()): RawTensor[] {
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
  const byteOrder = byteOrderEntry ? readZipEntry(file, bytes, byteOrderEntry, reading).toString('latin1') : 'little';
  if (byteOrder !== 'little' && byteOrder !== 'big') throw new InputError(file, `unknown byte order ${excerpt(byteOrder)}`);

  const root = unpickle(file, readZipEntry(file, bytes, entry('data.pkl')!, reading));
  const stateDict = checkStateDict(file, root);
  // Every view and storage is checked, and the tensors' bytes reserved, before any storage is read.
  for (const [name, ref] of stateDict) {
    const { key, dtype, numel } = ref.storage;
    const stored = entry(`data/${key}`);
    if (!stored) throw new InputError(file, `tensor ${excerpt(name)}: its storage data/${key} is missing from the archive`);
    if (stored.size !== numel * STORAGE_BYTES[dtype]) {
      throw new InputError(file, `storage data/${key} holds ${stored.size} bytes, but ${numel} ${dtype} values need ${numel * STORAGE_BYTES[dtype]}`);
    }
    checkView(file, name, ref);
    reading.reserve(file, sizeOf(ref.shape) * STORAGE_BYTES[dtype], `tensor ${excerpt(name)}`);
  }
  const storages = new Map<string, Uint8Array>();
  return stateDict.map(([name, ref]) => {
    const key = ref.storage.key;
    let storage = storages.get(key);
    if (!storage) {
      storage = readZipEntry(file, bytes, entry(`data/${key}`)!, reading);
      storages.set(key, storage);
    }
    return materialise(name, ref, storage, byteOrder === 'big');
  });
}

function checkStateDict(file: string, root: Value): [string, TensorRef][] {
  if (!(root instanceof Map)) throw new InputError(file, `the pickle holds no dict of tensors; ${STATE_DICT_ADVICE}`);
  const entries = [...root];
  const other = entries.filter(([, value]) => !isTensor(value)).map(([key]) => key);
  if (other.length) {
    const list = other.slice(0, 5).map((k) => excerpt(k)).join(', ') + (other.length > 5 ? ', …' : '');
    throw new InputError(file, `not a plain state dict: ${list} ${other.length === 1 ? 'is not a tensor' : 'are not tensors'} (a training checkpoint?); ${STATE_DICT_ADVICE}`);
  }
  return entries as [string, TensorRef][];
}

/**
 * Refuses a view that reaches past its storage, or reads an element of it twice (a zero stride, or
 * strides that interleave): such a view expands a few stored bytes into a large tensor.
 */
function checkView(file: string, name: string, ref: TensorRef): void {
  const shape = checkShape(file, name, ref.shape);
  if (sizeOf(shape) === 0) return;
  const last = shape.reduce((index, d, axis) => index + (d - 1) * ref.stride[axis], ref.offset);
  if (last >= ref.storage.numel) throw new InputError(file, `tensor ${excerpt(name)} reaches past the end of its storage`);
  const axes = shape.map((size, axis) => ({ size, stride: ref.stride[axis] })).filter((a) => a.size > 1).sort((a, b) => a.stride - b.stride);
  // Each axis must step past everything the faster axes cover.
  let covered = 1;
  for (const { size, stride } of axes) {
    if (stride < covered) {
      throw new InputError(file, `tensor ${excerpt(name)} is a view with strides [${ref.stride.join(', ')}] that reads elements of its storage more than once; refused`);
    }
    covered += stride * (size - 1);
  }
}

/** A contiguous little-endian copy of a strided view of its storage (checked by checkView). */
function materialise(name: string, ref: TensorRef, storage: Uint8Array, bigEndian: boolean): RawTensor {
  const shape = ref.shape;
  const size = STORAGE_BYTES[ref.storage.dtype];
  const dtype = ref.storage.dtype;
  const n = sizeOf(shape);
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
