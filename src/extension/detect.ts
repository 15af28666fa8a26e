/**
 * Which files are models, by name and first bytes (no parsing of large files). Pure, so it is
 * unit-tested directly; the model index reads the bytes.
 */
import * as path from 'path';

/** Extensions of the formats the engine reads; `.json` is checked by content. */
export const MODEL_EXTENSIONS = ['.json', '.onnx', '.pt', '.pth', '.safetensors'];
export const MODEL_GLOB = '**/*.{json,onnx,pt,pth,safetensors}';

/** How many leading bytes `looksLikeBinaryModel` needs. */
export const HEAD_BYTES = 16;

export function isModelExtension(file: string): boolean {
  return MODEL_EXTENSIONS.includes(path.extname(file).toLowerCase());
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
      return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
    case '.safetensors': {
      if (head.length < 9) return false;
      const headerLength = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
      return headerLength > 1n && headerLength <= BigInt(size - 8) && head[8] === 0x7b;
    }
    default:
      return false;
  }
}
