import * as assert from 'assert';
import { promises as fs } from 'fs';
import * as path from 'path';
import { LayerTargetCache } from '../../../src/extension/layerTargetCache';
import { IN_PLACE_MAX, ModelJsonParser } from '../../../src/extension/modelJsonParser';
import { layerAt } from '../../../src/extension/modelText';
import { tempDir } from '../../helpers/models';

const threadPath = path.join(__dirname, '../../../dist/modelJsonThread.js');

/** A Sequential model.json with `count` Dense layers named dense_0…, pretty-printed like the converter's. */
function modelText(count: number): string {
  const layers = Array.from({ length: count }, (_, i) => ({
    class_name: 'Dense',
    config: { name: `dense_${i}`, units: 64, activation: 'relu', use_bias: true, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } } },
  }));
  return JSON.stringify({ modelTopology: { class_name: 'Sequential', config: { name: 'seq', layers } }, weightsManifest: [] }, null, 2);
}

const offsetOf = (text: string, needle: string): number => text.indexOf(needle) + 2;

describe('layer entries of model.json documents, once per version', () => {
  let parser: ModelJsonParser;
  beforeEach(() => (parser = new ModelJsonParser(threadPath)));
  afterEach(() => parser.dispose());

  it('parses a document once per version: hovers on the same version only look up', async () => {
    const cache = new LayerTargetCache(parser);
    const text = modelText(3);
    let reads = 0;
    const read = (): string => (reads++, text);
    const first = await cache.targetsFor('file:///w/model.json', 1, read);
    const again = await cache.targetsFor('file:///w/model.json', 1, read);
    assert.strictEqual(again, first);
    assert.strictEqual(layerAt(again, offsetOf(text, '"dense_2"')), 'dense_2');
    assert.deepStrictEqual({ parses: cache.parses, reads }, { parses: 1, reads: 1 });
  });

  it('parses again when the version changes, and shares one parse between concurrent hovers', async () => {
    const cache = new LayerTargetCache(parser);
    const before = modelText(2);
    const after = before.replace('"dense_1"', '"renamed"');
    await cache.targetsFor('file:///w/model.json', 1, () => before);
    const [a, b] = await Promise.all([cache.targetsFor('file:///w/model.json', 2, () => after), cache.targetsFor('file:///w/model.json', 2, () => after)]);
    assert.strictEqual(a, b);
    assert.strictEqual(layerAt(a, offsetOf(after, '"renamed"')), 'renamed');
    assert.strictEqual(cache.parses, 2);
  });

  it('forgets a closed document, and keeps a bounded number of documents', async () => {
    const cache = new LayerTargetCache(parser);
    const text = modelText(1);
    await cache.targetsFor('file:///w/a.json', 1, () => text);
    cache.forget('file:///w/a.json');
    assert.strictEqual(cache.has('file:///w/a.json'), false);
    for (let i = 0; i < 20; i++) await cache.targetsFor(`file:///w/${i}.json`, 1, () => text);
    assert.strictEqual(cache.has('file:///w/0.json'), false);
    assert.strictEqual(cache.has('file:///w/19.json'), true);
  });

  it('does not remember a failed parse: the next hover parses again', async () => {
    const missingThread = new ModelJsonParser(path.join(await tempDir(), 'no-such-thread.js'));
    try {
      const cache = new LayerTargetCache(missingThread);
      const large = modelText(4000);
      await assert.rejects(cache.targetsFor('file:///w/model.json', 1, () => large));
      assert.strictEqual(cache.has('file:///w/model.json'), false);
      await assert.rejects(cache.targetsFor('file:///w/model.json', 1, () => large));
      assert.strictEqual(cache.parses, 2);
    } finally {
      missingThread.dispose();
    }
  });

  it('finds the layers of a large document on the thread, the same as in place', async () => {
    const large = modelText(4000);
    assert.ok(large.length > IN_PLACE_MAX, `${large.length} characters`);
    const targets = await parser.layerTargets(large);
    assert.strictEqual(parser.threadJobs, 1);
    assert.strictEqual(layerAt(targets, offsetOf(large, '"dense_3999"')), 'dense_3999');
    assert.strictEqual(layerAt(targets, offsetOf(large, '"units"')), null);
    await parser.layerTargets(modelText(2));
    assert.strictEqual(parser.threadJobs, 1, 'a small text is handled in place');
  });
});

describe('model.json detection without parsing large files on the host', () => {
  let parser: ModelJsonParser;
  beforeEach(() => (parser = new ModelJsonParser(threadPath)));
  afterEach(() => parser.dispose());

  it('detects small and large model.json files, the large ones on the thread', async () => {
    const dir = await tempDir();
    const small = path.join(dir, 'small.json');
    const large = path.join(dir, 'large.json');
    await fs.writeFile(small, modelText(2));
    await fs.writeFile(large, modelText(4000));
    assert.strictEqual(await parser.isTfjsModelFile(small), true);
    assert.strictEqual(parser.threadJobs, 0);
    assert.strictEqual(await parser.isTfjsModelFile(large), true);
    assert.strictEqual(parser.threadJobs, 1);
  });

  it('turns down a large file by its first bytes when it cannot be a JSON object, without parsing it', async () => {
    const dir = await tempDir();
    const array = path.join(dir, 'data.json');
    await fs.writeFile(array, JSON.stringify(Array.from({ length: 200_000 }, (_, i) => [i, i + 1])));
    assert.strictEqual(await parser.isTfjsModelFile(array), false);
    assert.strictEqual(parser.threadJobs, 0);
    const other = path.join(dir, 'other.json');
    await fs.writeFile(other, JSON.stringify({ rows: Array.from({ length: 200_000 }, (_, i) => i) }));
    assert.strictEqual(await parser.isTfjsModelFile(other), false);
  });
});
