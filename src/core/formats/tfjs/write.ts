import { setUnits } from '../../codecs/kerasLayers';
import { ModelJson, WeightSpec } from './read';
import { NamedWeight, Quantization, Tensor } from '../../model/tensor';
import { float32ToFloat16 } from '../../codecs/float16';

export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/**
 * Builds the reduced model.json and its single weight shard. Each weight is stored as it was
 * (float32, int32, float16, or uint8/uint16 affine quantisation); a quantised weight whose values
 * only lost units keeps its min/scale, one whose values changed gets a fresh range.
 */
export function encodeTfjsModel(
  json: ModelJson,
  weights: NamedWeight[],
  changed: Map<string, Tensor>,
  newUnits: Map<string, number>,
): { modelJson: ModelJson; weightData: Uint8Array } {
  const specs: WeightSpec[] = [];
  const parts: Uint8Array[] = [];
  for (const original of weights) {
    const tensor = changed.get(original.name) ?? original;
    const { bytes, quantization } = encodeWeight(original, tensor);
    const spec: WeightSpec = { name: original.name, shape: tensor.shape.slice(), dtype: original.dtype };
    if (quantization) spec.quantization = quantization;
    specs.push(spec);
    parts.push(bytes);
  }
  const total = parts.reduce((s, p) => s + p.length, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    weightData.set(p, offset);
    offset += p.length;
  }
  const modelJson: ModelJson = structuredClone(json);
  setUnits(modelJson.modelTopology, newUnits);
  modelJson.weightsManifest = [{ paths: [WEIGHTS_FILE], weights: specs }];
  return { modelJson, weightData };
}


function encodeWeight(original: NamedWeight, tensor: Tensor): { bytes: Uint8Array; quantization?: Quantization } {
  const n = tensor.data.length;
  const q = original.quantization;
  if (!q) {
    const out = original.dtype === 'int32' ? new Int32Array(tensor.data) : new Float32Array(tensor.data);
    return { bytes: littleEndianBytes(out) };
  }
  if (q.dtype === 'float16') {
    const half = new Uint16Array(n);
    for (let i = 0; i < n; i++) half[i] = float32ToFloat16(tensor.data[i]);
    return { bytes: littleEndianBytes(half), quantization: { ...q } };
  }
  const levels = q.dtype === 'uint8' ? 255 : 65535;
  let { min, scale } = q as { min: number; scale: number };
  let fits = true;
  for (let i = 0; i < n && fits; i++) {
    const level = (tensor.data[i] - min) / scale;
    fits = Math.abs(level - Math.round(level)) < 1e-3 && level > -0.5 && level < levels + 0.5;
  }
  if (!fits) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) {
      lo = Math.min(lo, tensor.data[i]);
      hi = Math.max(hi, tensor.data[i]);
    }
    min = lo;
    scale = hi > lo ? (hi - lo) / levels : 1;
  }
  const quantized = q.dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    quantized[i] = Math.min(levels, Math.max(0, Math.round((tensor.data[i] - min) / scale)));
  }
  return { bytes: littleEndianBytes(quantized), quantization: { ...q, min, scale } };
}

/** The machine is little-endian on every platform VS Code and Node support; the format is too. */
function littleEndianBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
