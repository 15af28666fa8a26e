/**
 * The retrain settings' validation (src/shared/retrainSettings.ts), which the "Condense and Retrain…"
 * command applies to its settings and arguments before starting: the CLI's bounds, each problem
 * named, and values of the wrong type (settings.json holds anything) refused.
 */
import * as assert from 'assert';
import { isValidRetrainSetting, retrainSettingsProblem } from '../../../src/shared/retrainSettings';

describe('retrain settings validation', () => {
  const valid = { tolerance: 0.1, epochs: 5, rounds: 3, learningRate: 0.001, batchSize: 32 };

  it('accepts the defaults and the bounds the CLI accepts', () => {
    assert.strictEqual(retrainSettingsProblem(valid), undefined);
    assert.strictEqual(retrainSettingsProblem({ tolerance: 0, epochs: 10000, rounds: 100, learningRate: 10, batchSize: 1e6 }), undefined);
  });

  it('names the first invalid setting with what it must be and what it is', () => {
    const cases: [Partial<typeof valid> | Record<string, unknown>, string][] = [
      [{ batchSize: 0 }, 'batchSize must be a positive integer (at most 1000000), got 0'],
      [{ learningRate: 0 }, 'learningRate must be a positive number (at most 10), got 0'],
      [{ epochs: 2.5 }, 'epochs must be a positive integer (at most 10000), got 2.5'],
      [{ rounds: 0 }, 'rounds must be a positive integer (at most 100), got 0'],
      [{ rounds: 101 }, 'rounds must be a positive integer (at most 100), got 101'],
      [{ tolerance: -0.1 }, 'tolerance must be a non-negative number, got -0.1'],
      [{ epochs: '5' }, 'epochs must be a positive integer (at most 10000), got "5"'],
      [{ tolerance: null }, 'tolerance must be a non-negative number, got null'],
      [{ learningRate: Number.NaN }, 'learningRate must be a positive number (at most 10), got NaN'],
    ];
    for (const [change, message] of cases) assert.strictEqual(retrainSettingsProblem({ ...valid, ...change })?.message, message);
    assert.strictEqual(retrainSettingsProblem({ ...valid, batchSize: 0, epochs: 0 })?.key, 'epochs');
  });

  it('checks one typed value as the input boxes do', () => {
    assert.ok(isValidRetrainSetting('epochs', 3));
    assert.ok(!isValidRetrainSetting('epochs', Number('')));
    assert.ok(!isValidRetrainSetting('rounds', 1.5));
    assert.ok(isValidRetrainSetting('tolerance', 0));
  });
});
