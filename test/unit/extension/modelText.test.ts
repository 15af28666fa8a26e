import * as assert from 'assert';
import { looksLikeBinaryModel } from '../../../src/extension/modelDetection';
import { isTfjsModelText, layerAtOffset, modelLabel } from '../../../src/extension/modelText';

const layers = [
  { class_name: 'InputLayer', config: { name: 'input_1', batch_input_shape: [null, 4] } },
  { class_name: 'Dense', config: { name: 'hidden', units: 8 } },
  { class_name: 'Dense', config: { name: 'out', units: 2 } },
];

function modelText(topology: unknown): string {
  return JSON.stringify({ modelTopology: topology, weightsManifest: [] }, null, 2);
}

/** Offset of the n-th occurrence of `needle` (plus a little, to land inside it). */
function offsetOf(text: string, needle: string, nth = 0): number {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  assert.ok(at >= 0, `${needle} not in text`);
  return at + 2;
}

describe('model.json detection by content', () => {
  it('accepts a TF.js Layers model.json', () => {
    assert.strictEqual(isTfjsModelText(modelText({ class_name: 'Sequential', config: { layers } })), true);
  });

  it('rejects other JSON, including files that merely mention the keys', () => {
    assert.strictEqual(isTfjsModelText('{"name": "pkg", "version": "1.0.0"}'), false);
    assert.strictEqual(isTfjsModelText('{"notes": "modelTopology and weightsManifest"}'), false);
    assert.strictEqual(isTfjsModelText('{"modelTopology": 3, "weightsManifest": []}'), false);
    assert.strictEqual(isTfjsModelText('{"modelTopology": {}, "weightsManifest": [}'), false);
  });
});

describe('layer under the cursor in model.json', () => {
  it('finds the layer at its config name and at its class_name (Sequential with {layers})', () => {
    const text = modelText({ class_name: 'Sequential', config: { name: 'seq', layers } });
    assert.strictEqual(layerAtOffset(text, offsetOf(text, '"hidden"')), 'hidden');
    assert.strictEqual(layerAtOffset(text, offsetOf(text, '"Dense"', 1)), 'out');
  });

  it('reads the Keras-converted form and the Keras 2.0 bare-list Sequential', () => {
    const converted = modelText({ keras_version: '2.2.4', backend: 'tensorflow', model_config: { class_name: 'Sequential', config: layers } });
    assert.strictEqual(layerAtOffset(converted, offsetOf(converted, '"out"')), 'out');
    assert.strictEqual(layerAtOffset(converted, offsetOf(converted, '"Dense"')), 'hidden');
  });

  it('uses the layer-level name of Functional models', () => {
    const functional = modelText({
      class_name: 'Model',
      config: { layers: layers.map((l) => ({ ...l, name: l.config.name, inbound_nodes: [] })), input_layers: [], output_layers: [] },
    });
    assert.strictEqual(layerAtOffset(functional, offsetOf(functional, '"name": "hidden"')), 'hidden');
  });

  it('answers null away from names', () => {
    const text = modelText({ class_name: 'Sequential', config: { layers } });
    assert.strictEqual(layerAtOffset(text, offsetOf(text, '"units"')), null);
    assert.strictEqual(layerAtOffset(text, offsetOf(text, '"weightsManifest"')), null);
  });
});

describe('binary model files by their first bytes', () => {
  const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);

  it('recognises ONNX, zip-format PyTorch and safetensors files', () => {
    assert.strictEqual(looksLikeBinaryModel('m.onnx', bytes(0x08, 0x07, 0x12), 100), true);
    assert.strictEqual(looksLikeBinaryModel('m.pt', bytes(0x50, 0x4b, 0x03, 0x04), 100), true);
    assert.strictEqual(looksLikeBinaryModel('m.pth', bytes(0x50, 0x4b, 0x03, 0x04), 100), true);
    const header = new Uint8Array(16);
    new DataView(header.buffer).setBigUint64(0, 40n, true);
    header[8] = 0x7b;
    assert.strictEqual(looksLikeBinaryModel('m.safetensors', header, 100), true);
  });

  it('recognises Keras files: HDF5 naming a model_config, or a .keras zip', () => {
    const hdf5 = new Uint8Array(64);
    hdf5.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
    const withConfig = hdf5.slice();
    withConfig.set(new TextEncoder().encode('model_config'), 40);
    assert.strictEqual(looksLikeBinaryModel('m.h5', withConfig, 100), true);
    assert.strictEqual(looksLikeBinaryModel('m.keras', withConfig, 100), true, 'tf.keras < 2.13 wrote HDF5 as .keras');
    assert.strictEqual(looksLikeBinaryModel('m.keras', bytes(0x50, 0x4b, 0x03, 0x04), 100), true);
    assert.strictEqual(looksLikeBinaryModel('data.h5', hdf5, 100), false, 'an HDF5 data file is not a model');
  });

  it('rejects look-alikes', () => {
    assert.strictEqual(looksLikeBinaryModel('m.onnx', bytes(0x7b, 0x22), 100), false);
    assert.strictEqual(looksLikeBinaryModel('m.pt', bytes(0x80, 0x02, 0x63), 100), false, 'legacy (non-zip) pickles are not state-dict archives');
    const header = new Uint8Array(16);
    new DataView(header.buffer).setBigUint64(0, 4000n, true);
    header[8] = 0x7b;
    assert.strictEqual(looksLikeBinaryModel('m.safetensors', header, 100), false, 'header longer than the file');
    assert.strictEqual(looksLikeBinaryModel('m.bin', bytes(0x08, 1), 100), false);
  });

  it('labels model.json files by their folder', () => {
    assert.strictEqual(modelLabel('/a/b/mlp/model.json'), 'mlp/model.json');
    assert.strictEqual(modelLabel('/a/b/net.onnx'), 'net.onnx');
  });
});
