import * as assert from 'assert';
import { chooseLearningRate, defaultBatchSize, MIN_STEPS_PER_EPOCH, RATE_MARGIN } from '../../../../src/core/train/schedule';

describe("the range test's choice of learning rate", () => {
  const trials = (losses: [number, number][]) => losses.map(([learningRate, valLoss]) => ({ learningRate, valLoss }));

  it('takes the largest rate whose one-epoch loss is within the margin of the lowest, not the lowest itself', () => {
    // The combustion MLP's measured trials (batch size 128): the lowest loss is at 3e-5; 3e-4 is 3 % above it, 1e-3 9 %.
    const measured = trials([[1e-2, 0.0193], [3e-3, 8.85e-3], [1e-3, 5.43e-3], [3e-4, 5.13e-3], [1e-4, 5.10e-3], [3e-5, 4.97e-3]]);
    assert.strictEqual(chooseLearningRate(measured), 3e-4);
  });

  it('the margin is relative to the lowest loss and bounds the choice from above', () => {
    const lowest = 2;
    const justInside = lowest * (1 + RATE_MARGIN) * 0.999;
    const justOutside = lowest * (1 + RATE_MARGIN) * 1.001;
    assert.strictEqual(chooseLearningRate(trials([[1e-2, justOutside], [1e-3, justInside], [1e-4, lowest]])), 1e-3);
    assert.strictEqual(chooseLearningRate(trials([[1e-2, justOutside], [1e-3, justOutside], [1e-4, lowest]])), 1e-4);
  });

  it('a large rate with the lowest loss wins; diverged trials never do', () => {
    assert.strictEqual(chooseLearningRate(trials([[1e-2, NaN], [3e-3, 0.5], [1e-3, 0.9], [1e-4, 1.2]])), 3e-3);
  });

  it('every trial diverged: the smallest rate', () => {
    assert.strictEqual(chooseLearningRate(trials([[1e-2, NaN], [1e-3, NaN], [1e-4, NaN]])), 1e-4);
  });

  it('a lowest loss of 0 leaves no margin: only a rate that reaches 0', () => {
    assert.strictEqual(chooseLearningRate(trials([[1e-2, 1e-9], [1e-3, 0], [1e-4, 0]])), 1e-3);
  });
});

describe('the batch size chosen when none is given', () => {
  it('32 for small training sets; doubled while an epoch keeps MIN_STEPS_PER_EPOCH steps, up to 256', () => {
    assert.strictEqual(defaultBatchSize(96, 8), 32);
    assert.strictEqual(defaultBatchSize(4095, 8), 32);
    assert.strictEqual(defaultBatchSize(64 * 64, 8), 64);
    // The combustion MLP's 8192 training rows: 64 steps of 128.
    assert.strictEqual(defaultBatchSize(8192, 8), 128);
    assert.strictEqual(8192 / defaultBatchSize(8192, 8), MIN_STEPS_PER_EPOCH);
    assert.strictEqual(defaultBatchSize(1_000_000, 8), 256);
  });

  it('large samples (images) keep small batches', () => {
    assert.strictEqual(defaultBatchSize(60_000, 28 * 28), 256);
    assert.strictEqual(defaultBatchSize(60_000, 224 * 224 * 3), 32);
  });
});
