import * as assert from 'assert';
import { excerpt, MAX_JSON_DEPTH, parseJsonInput } from '../../../../src/core/codecs/json';
import { InputError } from '../../../../src/core/model/errors';

describe('codecs/json: JSON from model and data files', () => {
  const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

  it('parses JSON nested up to the limit, brackets inside strings not counted', () => {
    assert.strictEqual(JSON.stringify(parseJsonInput('m.json', nested(MAX_JSON_DEPTH))), nested(MAX_JSON_DEPTH));
    const text = JSON.stringify({ s: '['.repeat(1000) + '\\"{' });
    assert.deepStrictEqual(parseJsonInput('m.json', text), JSON.parse(text));
  });

  it('refuses deeper nesting, naming the file and the part', () => {
    assert.throws(
      () => parseJsonInput('m.json', `{"a":${nested(100_000)}}`, 'the header'),
      (e: unknown) => e instanceof InputError && /m\.json/.test(e.message) && /the header nests .* more than 100 deep/.test(e.message),
    );
  });

  it('quotes a bounded, escaped, one-line excerpt of any value', () => {
    assert.strictEqual(excerpt([4, 0]), '[4,0]');
    assert.strictEqual(excerpt('a\nb'), '"a\\nb"');
    const deep = JSON.parse(nested(5000)) as unknown[];
    assert.strictEqual(excerpt(deep), '[[[[…]]]]');
    const long = excerpt('x'.repeat(1_000_000));
    assert.ok(long.length <= 80 && !long.includes('\n'), long);
    assert.ok(excerpt(Array.from({ length: 100_000 }, (_, i) => i)).length <= 80);
  });
});
