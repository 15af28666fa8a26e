import * as assert from 'assert';
import { parsePanelState, parseWebviewMessage } from '../../../src/extension/webviewMessages';

describe('messages from the panel, checked in the host', () => {
  it('passes every message of the protocol as it is', () => {
    const valid = [
      { type: 'ready' },
      { type: 'write' },
      { type: 'verify' },
      { type: 'reanalyze' },
      { type: 'auto' },
      { type: 'retrain' },
      { type: 'thresholds', thresholds: { threshold: 0.9, overrides: { dense: 0.8 } } },
      { type: 'retrainControl', action: 'pause' },
      { type: 'retrainWrite', round: 2 },
      { type: 'refit', enabled: false },
      { type: 'rendered', layers: [{ name: 'dense', clusters: 3, unitsAfter: null }], ratio: 0.5 },
    ];
    // Compared as JSON: the overrides come back without a prototype.
    for (const message of valid) assert.strictEqual(JSON.stringify(parseWebviewMessage(message)), JSON.stringify(message));
  });

  it('drops unknown types and wrong shapes', () => {
    const invalid: unknown[] = [
      null,
      'ready',
      [],
      { type: 'runCommand', command: 'workbench.action.quit' },
      { type: 'thresholds', thresholds: { threshold: 2, overrides: {} } },
      { type: 'thresholds', thresholds: { threshold: 0.9, overrides: { dense: '0.8' } } },
      { type: 'thresholds', thresholds: { threshold: 0.9 } },
      { type: 'retrainControl', action: 'delete' },
      { type: 'retrainWrite', round: 1.5 },
      { type: 'retrainWrite', round: '1' },
      { type: 'refit', enabled: 'yes' },
      { type: 'rendered', layers: [{ name: 3, clusters: 1, unitsAfter: 1 }], ratio: 1 },
      { type: 'rendered', layers: 'all', ratio: 1 },
    ];
    for (const message of invalid) assert.strictEqual(parseWebviewMessage(message), undefined, JSON.stringify(message));
  });

  it('keeps only the protocol\'s fields, and layer overrides in a map without a prototype', () => {
    const parsed = parseWebviewMessage(JSON.parse('{"type": "thresholds", "extra": 1, "thresholds": {"threshold": 0.9, "overrides": {"__proto__": 0.5, "constructor": 0.7}}}'));
    assert.ok(parsed?.type === 'thresholds');
    assert.ok(!('extra' in parsed));
    assert.strictEqual(Object.getPrototypeOf(parsed.thresholds.overrides), null);
    assert.deepStrictEqual(Object.entries(parsed.thresholds.overrides), [['__proto__', 0.5], ['constructor', 0.7]]);
  });

  it('restores a panel only from a well-formed saved state', () => {
    const state = { modelPath: '/w/model.json', thresholds: { threshold: 0.95, overrides: {} }, refit: false };
    assert.deepStrictEqual({ ...parsePanelState(state), thresholds: { threshold: 0.95, overrides: {} } }, state);
    assert.strictEqual(parsePanelState({ modelPath: 7, thresholds: state.thresholds }), undefined);
    assert.strictEqual(parsePanelState({ modelPath: '/w/model.json' }), undefined);
    assert.strictEqual(parsePanelState(undefined), undefined);
  });
});
