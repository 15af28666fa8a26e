import * as assert from 'assert';
import { chooseLearningRate, RATE_MARGIN } from '../../../../src/core/train/schedule';

describe("the range test's choice of learning rate", () => {
  const trials = (losses: [number, number][]) => losses.map(([learningRate, valLoss]) => ({ learningRate, valLoss }));

  it('takes the largest rate whose one-epoch loss is within the margin of the lowest, not the lowest itself', () => {
    // The combustion MLP's measured trials: the lowest loss is at 3e-5; 3e-4 is 5 % above it, 1e-3 30 %.
    const measured = trials([[1e-2, 0.0558], [3e-3, 0.017], [1e-3, 6.52e-3], [3e-4, 5.27e-3], [1e-4, 5.08e-3], [3e-5, 5.01e-3]]);
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
