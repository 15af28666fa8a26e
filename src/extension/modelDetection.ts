/**
 * Which files are models, by name and first bytes (no parsing of large files). Pure, so it is
 * unit-tested directly; the model index reads the bytes.
 */
import * as path from 'path';
import { MODEL_FILE_EXTENSIONS, modelFileKind } from '../core/model/registry';

/** Every file the engine's format rule names (`.json` is then checked by content). */
export const MODEL_GLOB = `**/*.{${MODEL_FILE_EXTENSIONS.map((ext) => ext.slice(1)).join(',')}}`;

/** How many leading bytes `looksLikeBinaryModel` needs (a Keras HDF5 file names its model_config within the first KiB). */
export const HEAD_BYTES = 4096;

const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04];
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

const startsWith = (head: Uint8Array, bytes: number[]): boolean => head.length >= bytes.length && bytes.every((b, i) => head[i] === b);

/** A Keras full model: HDF5 whose root carries a model_config attribute (data files and weights-only files do not). */
const isKerasHdf5 = (head: Uint8Array): boolean => startsWith(head, HDF5_SIGNATURE) && new TextDecoder('latin1').decode(head).includes('model_config');

export function isModelExtension(file: string): boolean {
  return modelFileKind(file) !== undefined;
}

/** A candidate TF.js Layers model: a JSON file among the candidates (its content decides). */
export function isTfjsModelFile(file: string): boolean {
  return modelFileKind(file) === 'tfjs';
}

/**
 * `.onnx`: a protobuf ModelProto starts with field 1 (ir_version, varint: tag 0x08) in every
 * exporter we know; `.pt`/`.pth`: torch.save writes a zip archive; `.safetensors`: an 8-byte
 * little-endian header length followed by the JSON header.
 */
export function looksLikeBinaryModel(file: string, head: Uint8Array, size: number): boolean {
  switch (path.extname(file).toLowerCase()) {
    case '.onnx':
      return head.length > 1 && head[0] === 0x08;
    case '.pt':
    case '.pth':
      return startsWith(head, ZIP_SIGNATURE);
    case '.h5':
    case '.hdf5':
      return isKerasHdf5(head);
    case '.keras':
      // Keras 3 writes a zip archive; tf.keras before 2.13 wrote HDF5 under this name.
      return startsWith(head, ZIP_SIGNATURE) || isKerasHdf5(head);
    case '.safetensors': {
      if (head.length < 9) return false;
      const headerLength = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      return headerLength > 1n && headerLength <= BigInt(size - 8) && head[8] === 0x7b;
    }
    default:
      return false;
  }
}
