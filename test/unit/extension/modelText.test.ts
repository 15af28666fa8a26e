import * as assert from 'assert';
import { isTfjsModelText, layerAtOffset } from '../../../src/extension/modelText';

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
