import { strict as assert } from 'assert';
import { median } from '../../../../src/core/compute/statistics';

describe('median', () => {
  it('is the middle value of an odd count, in any order', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median(Float32Array.of(0.5)), 0.5);
  });

  it('is the mean of the two middle values of an even count, sorted numerically', () => {
    // As strings, 10 would sort before 9 and give 5.5.
    assert.equal(median([10, 1, 9, 2]), 5.5);
    assert.equal(median(Float64Array.of(4, 2)), 3);
  });

  it('is NaN for no values, not 0', () => {
    assert.ok(Number.isNaN(median([])));
    assert.ok(Number.isNaN(median(new Float64Array(0))));
  });

  it('leaves its input in place', () => {
    const values = [3, 1, 2];
    median(values);
    assert.deepEqual(values, [3, 1, 2]);
  });
});
