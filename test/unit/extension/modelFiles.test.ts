import * as assert from 'assert';
import { isModelExtension, isTfjsModelFile, MODEL_GLOB } from '../../../src/extension/modelDetection';
import { MODEL_FILE_EXTENSIONS, modelFileKind, registerFormat } from '../../../src/core/model/registry';
import { openModel } from '../../../src/core/formats';

describe('which files can be models: one rule for the engine and the extension', () => {
  it('names every extension a format reads, and the extension searches and detects exactly those', async () => {
    // openModel lists the registered formats' extensions when it refuses a file.
    const refusal = await openModel('notes.txt').then(() => '', (e: Error) => e.message);
    const registered = /supported: ([^)]*)\)/.exec(refusal)?.[1].split(', ').sort();
    assert.deepStrictEqual(registered, [...MODEL_FILE_EXTENSIONS].sort());
    for (const ext of MODEL_FILE_EXTENSIONS) {
      assert.ok(isModelExtension(`m${ext.toUpperCase()}`), ext);
      assert.ok(MODEL_GLOB.includes(ext.slice(1)), ext);
    }
    assert.strictEqual(isModelExtension('data.npy'), false);
  });

  it('takes TF.js models as the JSON files, whatever their name', () => {
    assert.strictEqual(isTfjsModelFile('/w/mlp/model.json'), true);
    assert.strictEqual(isTfjsModelFile('/w/mlp/Other.JSON'), true);
    assert.strictEqual(isTfjsModelFile('/w/m.onnx'), false);
    assert.strictEqual(modelFileKind('/w/m.safetensors'), 'torch');
    assert.strictEqual(modelFileKind('/w/m.keras'), 'keras');
  });

  it('lets no format register an extension the rule does not name', () => {
    assert.throws(() => registerFormat(['.xyz'], () => Promise.reject(new Error('unused'))), /\.xyz is not in MODEL_FILE_KINDS/);
  });
});
