/**
 * The retrain settings' validation (src/shared/retrainSettings.ts), which the "Condense and Retrain…"
 * command applies to its settings and arguments before starting: the CLI's bounds, each problem
 * named, and values of the wrong type (settings.json holds anything) refused.
 */
import * as assert from 'assert';
import { readFileSync } from 'fs';
import * as path from 'path';
import { DEFAULT_EPOCHS, DEFAULT_ROUNDS, MIN_STEPS_PER_EPOCH } from '../../../src/core/train/schedule';
import { PATIENCE, steadyEpochs } from '../../../src/core/train/rounds';
import { PATIENCES_TO_STOP } from '../../../src/core/train/fineTune';
import { AUTO, givenNumber, isValidRetrainSetting, retrainChoices, retrainSettingsProblem } from '../../../src/shared/retrainSettings';

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

  it('takes "auto" for the learning rate, the batch size and the threshold (the engine chooses), a number by its rule, and names both choices for another word', () => {
    assert.strictEqual(retrainSettingsProblem({ ...valid, learningRate: 'auto', threshold: 'auto' }), undefined);
    assert.strictEqual(retrainSettingsProblem({ ...valid, batchSize: 'auto' }), undefined);
    assert.strictEqual(retrainSettingsProblem({ ...valid, threshold: 1 }), undefined);
    const cases: [Record<string, unknown>, string][] = [
      [{ learningRate: 'automatic' }, 'learningRate must be "auto" or a positive number (at most 10), got "automatic"'],
      [{ batchSize: 'chosen' }, 'batchSize must be "auto" or a positive integer (at most 1000000), got "chosen"'],
      [{ batchSize: 2.5 }, 'batchSize must be a positive integer (at most 1000000), got 2.5'],
      [{ threshold: 0 }, 'threshold must be a number in (0, 1], got 0'],
      [{ threshold: 1.5 }, 'threshold must be a number in (0, 1], got 1.5'],
      [{ threshold: 'Auto' }, 'threshold must be "auto" or a number in (0, 1], got "Auto"'],
      [{ threshold: null }, 'threshold must be a number in (0, 1], got null'],
      // Only those two: "auto" is no number of epochs.
      [{ epochs: 'auto' }, 'epochs must be a positive integer (at most 10000), got "auto"'],
    ];
    for (const [change, message] of cases) assert.strictEqual(retrainSettingsProblem({ ...valid, ...change })?.message, message);
    assert.strictEqual(givenNumber('auto'), undefined);
    assert.strictEqual(givenNumber(0.5), 0.5);
  });

  it('says what a run chose: the learning rate with its range test, the thresholds and the calibration', () => {
    const summary = {
      metric: 'mse' as const, tolerance: 0.1, baseline: 0.01, paramsBefore: 100, epochs: 5, rounds: [], chosen: null,
      thresholds: 'each round removes 12 % of the remaining units', calibration: 'the training inputs (x.json)',
    };
    assert.deepStrictEqual(retrainChoices(summary), ['Thresholds: each round removes 12 % of the remaining units. Calibration: the training inputs (x.json).']);
    // A diverged trial is NaN in the engine and null once it has been through JSON.
    const trials = [{ learningRate: 0.01, valLoss: Number.NaN }, { learningRate: 0.003, valLoss: null as unknown as number }, { learningRate: 0.001, valLoss: 0.012345 }];
    assert.deepStrictEqual(retrainChoices({ ...summary, learningRate: { value: 0.001, chosenBy: 'range test', trials } })[0],
      'Learning rate 0.001 (range test; validation loss after one epoch at 0.01: diverged, 0.003: diverged, 0.001: 0.0123).');
    assert.deepStrictEqual(retrainChoices({ ...summary, thresholds: undefined, calibration: undefined, learningRate: { value: 0.5, chosenBy: 'given' } }), ['Learning rate 0.5 (given).']);
  });

  it('says why: the range test rule and how each round trains, when the summary has them', () => {
    const summary = {
      metric: 'mse' as const, tolerance: 0.1, baseline: 0.01, paramsBefore: 100, epochs: 5, rounds: [], chosen: null,
      learningRate: { value: 3e-4, chosenBy: 'range test' as const, trials: [{ learningRate: 3e-4, valLoss: 0.0051 }], why: 'the largest within 5 %' },
      training: 'up to 60 epochs a round',
    };
    assert.deepStrictEqual(retrainChoices(summary), [
      'Learning rate 0.0003 (range test; validation loss after one epoch at 0.0003: 0.00510; the largest within 5 %).',
      'Training: up to 60 epochs a round.',
    ]);
  });

  it('checks one typed value as the input boxes do', () => {
    assert.ok(isValidRetrainSetting('epochs', 3));
    assert.ok(!isValidRetrainSetting('epochs', Number('')));
    assert.ok(!isValidRetrainSetting('rounds', 1.5));
    assert.ok(isValidRetrainSetting('tolerance', 0));
  });
});

/**
 * package.json cannot import the engine's constants: its retrain settings are held here to the defaults
 * the CLI uses (--epochs, --rounds, and no --learning-rate, --batch-size or --threshold: the engine
 * chooses), and their descriptions to the engine's rules.
 */
describe('package.json: the condense.retrain.* settings', () => {
  type Property = { default: unknown; markdownDescription: string; minimum?: number; maximum?: number; oneOf?: { enum?: string[]; enumDescriptions?: string[]; minimum?: number; maximum?: number }[] };
  const manifest = JSON.parse(readFileSync(path.join(__dirname, '../../../package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, Property> } } };
  const setting = (key: string): Property => {
    const property = manifest.contributes.configuration.properties[`condense.retrain.${key}`];
    assert.ok(property, `condense.retrain.${key} is not a setting`);
    return property;
  };

  it("defaults to the CLI's retrain defaults: the engine's epochs and rounds, and the engine's choice of the learning rate, batch size and threshold", () => {
    assert.strictEqual(setting('epochs').default, DEFAULT_EPOCHS);
    assert.strictEqual(setting('rounds').default, DEFAULT_ROUNDS);
    for (const key of ['learningRate', 'batchSize', 'threshold']) assert.strictEqual(setting(key).default, AUTO, key);
    const defaults = Object.fromEntries(['tolerance', 'epochs', 'rounds', 'learningRate', 'batchSize', 'threshold'].map((key) => [key, setting(key).default]));
    assert.strictEqual(retrainSettingsProblem(defaults as Parameters<typeof retrainSettingsProblem>[0]), undefined);
  });

  it("bounds each number as the validation does, and says what the engine's rules are", () => {
    for (const [key, property] of [['epochs', setting('epochs')], ['rounds', setting('rounds')], ['batchSize', setting('batchSize').oneOf![1]]] as const) {
      assert.ok(isValidRetrainSetting(key, property.minimum) && !isValidRetrainSetting(key, property.minimum - 1), `${key}'s minimum`);
      assert.ok(isValidRetrainSetting(key, property.maximum) && !isValidRetrainSetting(key, property.maximum + 1), `${key}'s maximum`);
    }
    for (const epochs of [DEFAULT_EPOCHS, 10]) assert.strictEqual(steadyEpochs(epochs), epochs / 2, 'the epochs description says "the first half"');
    assert.ok(setting('epochs').markdownDescription.includes(
      `the first half at the starting rate, then the rate is halved after ${PATIENCE} epochs in a row without a better validation loss and the round ends after ${PATIENCES_TO_STOP * PATIENCE}`,
    ));
    const batch = setting('batchSize');
    assert.deepStrictEqual(batch.oneOf![0].enum, [AUTO]);
    for (const text of [batch.markdownDescription, batch.oneOf![0].enumDescriptions![0]]) assert.ok(text.includes(`leaves ${MIN_STEPS_PER_EPOCH} steps an epoch`), text);
  });
});
