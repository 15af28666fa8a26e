/**
 * The panel webview in a real browser (Debian chromium through playwright-core), behind the host's
 * CSP, fed real analyses. Needs `node esbuild.mjs` first; skipped when chromium or the bundle is missing.
 * Run alone: npx mocha --no-config --require tsx/cjs --timeout 120000 test/webview/panel.test.ts
 */
import * as assert from 'assert';
import { existsSync } from 'fs';
import * as path from 'path';
import type { Browser, Locator } from 'playwright-core';
import { estimate } from '../../src/core/estimate';
import { AutoCurve, fromWire, RetrainView, ThresholdState } from '../../src/shared/protocol';
import type { PanelSnapshot } from '../../webview/snapshot';
import { AnalysisMessage, buildFixtures, EVIL_NAME, Fixtures } from './fixtures';
import { CHROMIUM, HarnessServer, launchBrowser, openPanel, PanelPage, REPO, startServer } from './harness';

/** The panel's numbers, exactly as the engine computes them at the same thresholds. */
function assertSameAsEngine(snapshot: PanelSnapshot, message: AnalysisMessage, thresholds: ThresholdState): void {
  const e = estimate(fromWire(message.summary), (layer) => thresholds.overrides[layer] ?? thresholds.threshold);
  const shown = snapshot.layers.map(({ name, clusters, unitsBefore, unitsAfter, paramsBefore, paramsAfter, macsBefore, macsAfter, bytesBefore, bytesAfter }) => ({
    name, clusters, unitsBefore, unitsAfter, paramsBefore, paramsAfter, macsBefore, macsAfter, bytesBefore, bytesAfter,
  }));
  assert.deepStrictEqual(shown, e.layers);
  assert.deepStrictEqual(snapshot.totals, e.totals);
}

/** The data files of the retrain plans below. */
const DATA_FILES = { trainInputs: '/data/train-x.json', trainTargets: '/data/train-y.json', valInputs: '/data/val-x.json', valTargets: '/data/val-y.json' };

describe('panel webview', function () {
  let fixtures: Fixtures;
  let server: HarnessServer;
  let browser: Browser;
  let panel: PanelPage;

  before(async function () {
    // Missing pieces fail loudly: a skipped browser suite would look like a passing one.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (bash .ci/run does) or set CHROMIUM_PATH`);
    if (!existsSync(path.join(REPO, 'dist', 'webview.js'))) throw new Error('dist/webview.js is missing: run npm run build first');
    fixtures = await buildFixtures();
    server = await startServer();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  beforeEach(async function () {
    panel = await openPanel(browser, server, { theme: 'dark' });
  });

  /** The retrain card, once the panel shows the condensed model. */
  async function retrainCardOfCondensed(): Promise<Locator> {
    await panel.send(fixtures.condensed);
    return panel.page.locator('section.retrain');
  }

  afterEach(async function () {
    const problems = panel.problems.slice();
    await panel.page.context().close();
    // No CSP violations, console errors, dialogs (injected markup running) or requests off the host.
    assert.deepStrictEqual(problems, []);
  });

  it('posts ready and shows the engine’s counts and totals', async () => {
    assert.deepStrictEqual((await panel.posted())[0], { type: 'ready' });
    await panel.send(fixtures.condensed);
    const snap = await panel.snapshot();
    assert.strictEqual(snap.phase, 'ready');
    assertSameAsEngine(snap, fixtures.condensed, fixtures.condensed.thresholds);
    assert.deepStrictEqual(await panel.rendered(), {
      type: 'rendered',
      layers: snap.layers.map((l) => ({ name: l.name, clusters: l.clusters, unitsAfter: l.unitsAfter })),
      ratio: snap.totals!.ratio,
    });
  });

  it('re-counts locally while the slider moves and posts the thresholds debounced', async () => {
    await panel.send(fixtures.condensed);
    await panel.page.locator('input.slider').focus();
    for (let i = 0; i < 50; i++) await panel.page.keyboard.press('ArrowLeft');
    const snap = await panel.snapshot();
    assert.strictEqual(snap.thresholds.threshold, 0.9);
    assertSameAsEngine(snap, fixtures.condensed, snap.thresholds);
    await panel.page.waitForTimeout(300);
    const posts = (await panel.posted()).filter((m) => m.type === 'thresholds');
    assert.ok(posts.length >= 1 && posts.length < 10, `${posts.length} thresholds messages for 50 key presses`);
    assert.deepStrictEqual(posts[posts.length - 1], { type: 'thresholds', thresholds: { threshold: 0.9, overrides: {} } });
    assert.deepStrictEqual(await panel.page.evaluate(() => (window as unknown as { __state: unknown }).__state), {
      modelPath: fixtures.condensed.model.path,
      thresholds: { threshold: 0.9, overrides: {} },
      refit: true,
    });
  });

  it('applies a per-layer override at once and flushes it before Write', async () => {
    await panel.send(fixtures.condensed);
    await panel.page.getByRole('button', { name: 'Set γ for layer hidden1' }).click();
    await panel.page.keyboard.press('Control+A');
    await panel.page.keyboard.type('0.8');
    const snap = await panel.snapshot();
    assert.deepStrictEqual(snap.thresholds, { threshold: 0.95, overrides: { hidden1: 0.8 } });
    assertSameAsEngine(snap, fixtures.condensed, snap.thresholds);
    await panel.page.getByRole('button', { name: 'Write Reduced Model' }).click();
    assert.deepStrictEqual((await panel.posted()).slice(-2), [
      { type: 'thresholds', thresholds: { threshold: 0.95, overrides: { hidden1: 0.8 } } },
      { type: 'write' },
    ]);
    await panel.page.getByRole('button', { name: 'Use the global threshold for layer hidden1' }).click();
    assert.deepStrictEqual((await panel.snapshot()).thresholds.overrides, {});
    assert.ok(await panel.page.getByRole('button', { name: 'Set γ for layer hidden1' }).isVisible());
  });

  it('applies a typed γ only while it is a number in [0.5, 1], marking the field invalid otherwise', async () => {
    await panel.send(fixtures.condensed);
    const global = panel.page.getByLabel('Similarity threshold γ for all layers');
    const typeInto = async (field: Locator, text: string): Promise<void> => {
      await field.click();
      await panel.page.keyboard.press('Control+A');
      await panel.page.keyboard.type(text);
    };
    // The text field's own input sits in its shadow root; `invalid` is the field's.
    const invalid = (field: Locator): Promise<boolean> => field.evaluate((input) => ((input.getRootNode() as ShadowRoot).host as HTMLElement & { invalid: boolean }).invalid);
    // Each prefix of these is out of range too (typing applies every prefix in range).
    for (const text of ['0.3', '2', '-']) {
      await typeInto(global, text);
      assert.strictEqual((await panel.snapshot()).thresholds.threshold, 0.95, text);
      assert.strictEqual(await invalid(global), true, text);
    }
    await typeInto(global, '0.9');
    assert.strictEqual((await panel.snapshot()).thresholds.threshold, 0.9);
    assert.strictEqual(await invalid(global), false);

    await panel.page.getByRole('button', { name: 'Set γ for layer hidden1' }).click();
    const layerField = panel.page.getByLabel('Threshold γ for layer hidden1');
    await typeInto(layerField, '0.4');
    assert.deepStrictEqual((await panel.snapshot()).thresholds.overrides, {});
    assert.strictEqual(await invalid(layerField), true);
    await typeInto(layerField, '0.85');
    assert.deepStrictEqual((await panel.snapshot()).thresholds, { threshold: 0.9, overrides: { hidden1: 0.85 } });
    assert.strictEqual(await invalid(layerField), false);
  });

  it('shows thresholds from the host without echoing them', async () => {
    await panel.send(fixtures.condensed);
    const before = (await panel.posted()).length;
    const thresholds = { threshold: 0.97, overrides: { hidden2: 0.85 } };
    await panel.send({ type: 'thresholds', thresholds });
    await panel.page.waitForTimeout(250);
    const snap = await panel.snapshot();
    assert.deepStrictEqual(snap.thresholds, thresholds);
    assertSameAsEngine(snap, fixtures.condensed, thresholds);
    assert.strictEqual((await panel.posted()).length, before);
  });

  it('renders layer names as text, explains a model that barely condenses', async () => {
    await panel.send(fixtures.standard);
    assert.strictEqual(await panel.page.locator('td.name .layer-name', { hasText: EVIL_NAME }).count(), 1);
    assert.strictEqual(await panel.page.locator('#app img').count(), 0);
    assert.ok(await panel.page.locator('section.explain').isVisible());
    assert.ok((await panel.snapshot()).totals!.ratio > 0.9);
  });

  it('shows the layer hint on hover and reads the heatmap by mouse and keyboard', async () => {
    await panel.send(fixtures.condensed);
    const row = panel.page.locator('tr.layer', { hasText: 'hidden2' });
    await row.hover();
    assert.match((await row.getAttribute('title')) ?? '', /^(strongly condensed|condenses): 128 → \d+ at γ 0\.95\n/);
    await panel.page.getByRole('button', { name: 'Pictures for layer hidden2' }).click();
    const heatmap = panel.page.locator('canvas.heatmap');
    const readout = panel.page.locator('p.readout');
    // Mouse events only reach what is on screen.
    await heatmap.scrollIntoViewIfNeeded();
    const box = (await heatmap.boundingBox())!;
    await panel.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.25);
    assert.match((await readout.textContent()) ?? '', /× .*similarity -?\d\.\d{3}/);
    await heatmap.focus();
    await panel.page.keyboard.press('Home');
    await panel.page.keyboard.press('PageUp');
    await panel.page.keyboard.press('ArrowRight');
    assert.match((await readout.textContent()) ?? '', /^units? [\d, ]+ × units? [\d, ]+: (mean )?similarity -?\d\.\d{3}/);
  });

  it('disables the actions while busy and shows results and errors', async () => {
    await panel.send(fixtures.condensed);
    await panel.send({ type: 'busy', what: 'Writing the reduced model…' });
    // Write, Export as C / Fortran…, Verify and Re-analyse.
    assert.strictEqual(await panel.page.locator('.actions vscode-button[disabled]').count(), 4);
    assert.strictEqual(await panel.page.locator('.actions vscode-button[disabled]', { hasText: 'Export as C / Fortran' }).count(), 1);
    await panel.send({ type: 'busy', what: null });
    assert.strictEqual(await panel.page.locator('.actions vscode-button[disabled]').count(), 0);
    await panel.send({ type: 'written', outDir: '/tmp/out', paramsBefore: 100, paramsAfter: 10 });
    const fidelity = { samples: 8, inputs: 'generated', maxAbs: 1, meanAbs: 0.5, maxRel: 0.2, meanRel: 0.1, argmaxAgreement: 0.875 };
    await panel.send({ type: 'verification', reduced: '/tmp/out/model.json', tolerance: 1e-3, fidelity });
    await panel.send({ type: 'error', message: 'something <b>failed</b>' });
    const snap = await panel.snapshot();
    assert.deepStrictEqual(snap.written, { outDir: '/tmp/out', paramsBefore: 100, paramsAfter: 10 });
    assert.strictEqual(snap.verification?.pass, false);
    assert.strictEqual(snap.error, 'something <b>failed</b>');
    const text = await panel.page.locator('.status').textContent();
    assert.ok(text!.includes('Verification failed') && text!.includes('87.5 %') && text!.includes('something <b>failed</b>'));
    await panel.page.getByRole('button', { name: 'Verify' }).click();
    await panel.page.getByRole('button', { name: 'Re-analyse' }).click();
    assert.deepStrictEqual((await panel.posted()).slice(-2), [{ type: 'verify' }, { type: 'reanalyze' }]);
  });

  it('asks the host to export the model as C / Fortran', async () => {
    await panel.send(fixtures.condensed);
    await panel.page.getByRole('button', { name: 'Export as C / Fortran…' }).click();
    assert.deepStrictEqual((await panel.posted()).slice(-1), [{ type: 'export' }]);
  });

  it('names the saved model while waiting, and shows an analysis failure', async () => {
    const state = { modelPath: '/models/cnn/model.json', thresholds: { threshold: 0.9, overrides: {} } };
    const restored = await openPanel(browser, server, { theme: 'light', state });
    try {
      assert.strictEqual(await restored.page.locator('.path').textContent(), state.modelPath);
      await restored.send({ type: 'analysing', model: { path: state.modelPath, label: 'cnn/model.json' }, layer: 'conv2', done: 1, total: 4 });
      assert.deepStrictEqual((await restored.snapshot()).progress, { layer: 'conv2', done: 1, total: 4 });
      await restored.send({ type: 'error', message: 'not a TF.js Layers model' });
      const snap = await restored.snapshot();
      assert.strictEqual(snap.phase, 'failed');
      assert.ok((await restored.page.locator('.placeholder').textContent())!.includes('Re-analyse'));
      assert.deepStrictEqual(restored.problems, []);
    } finally {
      await restored.page.context().close();
    }
  });

  it('redraws for a theme switch', async () => {
    await panel.send(fixtures.condensed);
    await panel.page.getByRole('button', { name: 'Pictures for layer hidden1' }).click();
    const pixels = (): Promise<string> => panel.page.locator('canvas.heatmap').evaluate((c: HTMLCanvasElement) => c.toDataURL());
    const dark = await pixels();
    await panel.setTheme('light');
    await panel.page.waitForTimeout(50);
    assert.notStrictEqual(await pixels(), dark);
  });

  it('shows the size–error curve, reads a point by keyboard, and applies a clicked point\'s thresholds', async () => {
    await panel.send(fixtures.condensed);
    const layers = fixtures.condensed.summary.layers.filter((l) => l.reducible).map((l) => l.name);
    const at = (g: number): Record<string, number> => Object.fromEntries(layers.map((name, i) => [name, g - 0.01 * i]));
    const curve: AutoCurve = {
      metric: 'mse', baseline: 0.01, tolerance: 0.1, validation: '64 rows of val-x.json', merge: 'plain',
      points: [
        { paramsRatio: 0.9, metric: 0.0101, change: 0.01, thresholds: at(0.97), meets: true },
        { paramsRatio: 0.5, metric: 0.0105, change: 0.05, thresholds: at(0.9), meets: true },
        { paramsRatio: 0.3, metric: 0.02, change: 1, thresholds: at(0.8), meets: false },
      ],
      chosen: 1,
    };
    await panel.send({ type: 'autoCurve', curve });
    const points = panel.page.locator('circle.auto-point');
    assert.strictEqual(await points.count(), 3);
    assert.deepStrictEqual(await points.evaluateAll((els) => els.map((e) => [e.getAttribute('data-index'), e.getAttribute('class')])), [
      ['2', 'auto-point fails'],
      ['0', 'auto-point meets'],
      ['1', 'auto-point meets chosen'],
    ]);
    const readout = panel.page.locator('.auto-readout');
    assert.match((await readout.textContent())!, /^Chosen: 50\.0 % of the parameters, MSE 0\.0105 \(\+5\.0 % vs the original\), within the tolerance/);
    // Keyboard: Tab-reachable chosen point, arrows walk the points in size order, Enter applies.
    await panel.page.locator('circle.auto-point.chosen').focus();
    await panel.page.keyboard.press('ArrowLeft');
    assert.match((await readout.textContent())!, /^30\.0 % of the parameters, .* beyond the tolerance/);
    await panel.page.keyboard.press('Enter');
    assert.deepStrictEqual((await panel.snapshot()).thresholds, { threshold: 1, overrides: curve.points[2].thresholds });
    await panel.page.locator('circle.auto-point[data-index="0"]').click();
    const snap = await panel.snapshot();
    assert.deepStrictEqual(snap.thresholds, { threshold: 1, overrides: curve.points[0].thresholds });
    assertSameAsEngine(snap, fixtures.condensed, snap.thresholds);
    await panel.page.waitForTimeout(300);
    const posts = (await panel.posted()).filter((m) => m.type === 'thresholds');
    assert.deepStrictEqual(posts[posts.length - 1], { type: 'thresholds', thresholds: { threshold: 1, overrides: curve.points[0].thresholds } });
    // The button asks the host to search; a new analysis clears the stale curve.
    await panel.page.locator('section.auto vscode-button').click();
    assert.deepStrictEqual((await panel.posted()).pop(), { type: 'auto' });
    await panel.send(fixtures.condensed);
    assert.strictEqual(await points.count(), 0);
  });

  it('draws candidates while the search runs, selectable only once the result arrives', async () => {
    await panel.send(fixtures.condensed);
    const point = (paramsRatio: number, change: number, meets: boolean) => ({ paramsRatio, metric: 0.01 * (1 + change), change, thresholds: { hidden1: 0.9 }, meets });
    await panel.send({ type: 'autoProgress', progress: { points: [point(1, 0, true), point(0.6, 0.04, true), point(0.3, 0.5, false)], budget: 60, tolerance: 0.1 } });
    const points = panel.page.locator('circle.auto-point');
    assert.strictEqual(await points.count(), 3);
    assert.strictEqual(await panel.page.locator('circle.auto-point.pending:not([role])').count(), 3);
    assert.match((await panel.page.locator('section.auto p.muted').textContent())!, /Searching: 3 of at most 60 candidates/);
    // Worse is up: the point beyond the tolerance is highest, the original-sized one lowest.
    const cy = await points.evaluateAll((els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-index') ?? '', Number(e.getAttribute('cy'))] as const)));
    assert.ok(cy['2'] < cy['1'] && cy['1'] < cy['0'], JSON.stringify(cy));
    const curve: AutoCurve = { metric: 'mse', baseline: 0.01, tolerance: 0.1, validation: 'v', merge: 'plain', points: [point(1, 0, true), point(0.6, 0.04, true), point(0.3, 0.5, false)], chosen: 1 };
    await panel.send({ type: 'autoCurve', curve });
    assert.strictEqual(await panel.page.locator('circle.auto-point[role="button"]').count(), 3);
    // A second search that fails (the host sends no curve) goes back to the first one's curve, not "Searching".
    await panel.send({ type: 'autoProgress', progress: { points: [point(1, 0, true)], budget: 60, tolerance: 0.1 } });
    assert.strictEqual(await points.count(), 1);
    await panel.send({ type: 'autoCurve', curve: null });
    assert.match((await panel.page.locator('section.auto p.muted').textContent())!, /^3 candidates on v/);
    assert.strictEqual(await panel.page.locator('circle.auto-point[role="button"]').count(), 3);
  });

  it('a failed search with no curve before it leaves the searching state', async () => {
    await panel.send(fixtures.condensed);
    await panel.send({ type: 'autoProgress', progress: { points: [{ paramsRatio: 1, metric: 0.01, change: 0, thresholds: {}, meets: true }], budget: 60, tolerance: 0.1 } });
    await panel.send({ type: 'autoCurve', curve: null });
    assert.doesNotMatch((await panel.page.locator('section.auto p.muted').textContent())!, /Searching/);
    assert.strictEqual(await panel.page.locator('circle.auto-point').count(), 0);
  });

  it('shows the refit toggle only with calibration data, posts its changes and keeps them in the state; verification names the merge', async () => {
    await panel.send(fixtures.condensed);
    await panel.send({ type: 'refit', available: false, enabled: true });
    const toggle = panel.page.locator('vscode-checkbox');
    assert.ok(!(await toggle.isVisible()));
    await panel.send({ type: 'refit', available: true, enabled: true });
    assert.ok(await toggle.isVisible());
    await toggle.click();
    assert.deepStrictEqual((await panel.posted()).pop(), { type: 'refit', enabled: false });
    assert.deepStrictEqual((await panel.snapshot()).refit, { available: true, enabled: false });
    assert.strictEqual(await panel.page.evaluate(() => (window as unknown as { __state: { refit: boolean } }).__state.refit), false);
    const fidelity = { samples: 8, inputs: 'generated', maxAbs: 1e-4, meanAbs: 1e-5, maxRel: 1e-4, meanRel: 1e-5, argmaxAgreement: null };
    await panel.send({ type: 'verification', reduced: '/tmp/out/model.json', tolerance: 1e-3, fidelity, merge: 'plain' });
    assert.match((await panel.page.locator('.verification').textContent())!, /Mergeplain \(summed output weights\)/);
  });

  it('Verify card: the measured timing per batch; rounding shows both widths and the advice to round conv layers to 8', async () => {
    const thresholds = { threshold: 0.6, overrides: {} };
    await panel.send({ ...fixtures.standard, thresholds });
    const fidelity = { samples: 8, inputs: 'generated', maxAbs: 1e-4, meanAbs: 1e-5, maxRel: 1e-4, meanRel: 1e-5, argmaxAgreement: null };
    const timing = {
      runtime: 'onnxruntime 1.30.0 (CPU)', threads: '1 intra-op thread', inputs: 'standard-normal samples (seed 1)',
      macs: { original: 2e6, reduced: 1e6, ratio: 2 },
      batches: [
        { batch: 1, originalMs: 0.5, reducedMs: 0.4, speedup: 1.25, runs: 100, spread: 0.1 },
        { batch: 1024, originalMs: 120, reducedMs: 80, speedup: 1.5, runs: 20, spread: 0.05 },
      ],
      measured: '2026-01-01T00:00:00.000Z',
    };
    await panel.send({ type: 'verification', reduced: '/tmp/out/model.json', tolerance: 1e-3, fidelity, timing });
    const cells = async (): Promise<string[][]> =>
      panel.page.locator('.verification table.timing-table tr').evaluateAll((rows) => rows.map((r) => Array.from(r.children, (c) => c.textContent ?? '')));
    assert.deepStrictEqual(await cells(), [
      ['Batch', 'Original ms', 'Reduced ms', 'Speed-up', 'MAC ratio'],
      ['1', '0.500', '0.400', '1.25×', '2.00×'],
      ['1,024', '120', '80.0', '1.50×', '2.00×'],
    ]);
    assert.match((await panel.page.locator('.verification .timing').textContent())!, /onnxruntime 1\.30\.0 \(CPU\); 1 intra-op thread/);
    let snap = await panel.snapshot();
    assert.deepStrictEqual(snap.verification?.timing, timing);
    // Below the multiply-add ratio, with conv1 kept at 12 of 16: round to 8.
    assert.match(snap.verification.advice!, /below the multiply-add ratio \(2\.00×\).*conv1 keeps 12.*set condense\.roundTo to 8/);
    assert.match((await panel.page.locator('.verification .advice').textContent())!, /set condense\.roundTo to 8/);
    const conv1 = panel.page.locator('tr.layer', { hasText: 'conv1' }).locator('td.num').nth(1);
    assert.strictEqual((await conv1.textContent())!.trim(), '12');

    await panel.send({ type: 'rounding', roundTo: 8 });
    snap = await panel.snapshot();
    assert.strictEqual(snap.verification!.advice, undefined);
    assert.strictEqual(await panel.page.locator('.verification .advice').count(), 0);
    // Both widths: kept at γ, and as written; the counts are the engine's with the same rounding.
    assert.strictEqual((await conv1.textContent())!.trim(), '12 → 16');
    const e = estimate(fromWire(fixtures.standard.summary), 0.6, 8);
    assert.deepStrictEqual(snap.layers.map((l) => l.unitsAfter), e.layers.map((l) => l.unitsAfter));
    assert.deepStrictEqual(snap.totals, e.totals);

    // Measured at the multiply-add ratio: nothing to advise, rounding or not.
    await panel.send({ type: 'rounding', roundTo: 1 });
    assert.strictEqual((await conv1.textContent())!.trim(), '12');
    await panel.send({ type: 'verification', reduced: '/tmp/out/model.json', tolerance: 1e-3, fidelity, timing: { ...timing, batches: [{ ...timing.batches[1], speedup: 2.1 }] } });
    assert.strictEqual((await panel.snapshot()).verification!.advice, undefined);
  });

  it('shows what a retrain run chose: each round\'s threshold, the learning rate and why the rounds stopped', async () => {
    const card = await retrainCardOfCondensed();
    const plan = {
      threshold: 0.95, tolerance: 0.1, epochs: 30, rounds: 12, learningRate: 0.001, batchSize: 32, merge: 'refit' as const,
      ...DATA_FILES,
    };
    const rounds = [
      { round: 1, paramsRatio: 0.8, params: 800, metric: 0.0101, change: 0.01, meets: true, threshold: 0.9871, epochsRun: 9, bestEpoch: 6, learningRate: 0.0005 },
      { round: 2, paramsRatio: 0.6, params: 600, metric: 0.0130, change: 0.3, meets: false, threshold: 0.9612, epochsRun: 5, bestEpoch: 2, learningRate: 0.0005 },
    ];
    const summary = {
      metric: 'mse' as const, tolerance: 0.1, baseline: 0.01, paramsBefore: 1000, epochs: 30, rounds, chosen: 1,
      learningRate: { value: 0.001, chosenBy: 'range test' as const }, stopped: 'round 2 left the tolerance (change 0.300 > 0.1)',
    };
    await panel.send({ type: 'retrain', view: { status: 'completed', plan, summary, epochs: [], written: [] } });
    assert.deepStrictEqual(await card.locator('tbody tr td:first-child').allTextContents(), ['1 (smallest within) · γ 0.9871', '2 · γ 0.9612']);
    const status = (await card.locator('.retrain-status').textContent())!;
    assert.match(status, /Stopped: round 2 left the tolerance \(change 0\.300 > 0\.1\)\./);
    assert.match(status, /Learning rate 0\.001 \(range test\)\./);
  });

  it('shows what an "auto" retrain run chose and why: the range test\'s candidates, how each round\'s γ is cut, the trainer; each round\'s training on hover', async () => {
    const card = await retrainCardOfCondensed();
    const plan = {
      threshold: 'auto' as const, tolerance: 0.1, epochs: 5, rounds: 3, learningRate: 'auto' as const, batchSize: 32, merge: 'refit' as const,
      ...DATA_FILES,
    };
    const started = {
      metric: 'mse' as const, tolerance: 0.1, baseline: 0.01, paramsBefore: 1000, epochs: 5, rounds: [], chosen: null,
      thresholds: 'each round removes 12 % of the remaining units', calibration: 'the training inputs (/data/train-x.json)', trainer: 'embedded tfjs (cpu)',
    };
    await panel.send({ type: 'retrain', view: { status: 'running', plan, summary: started, epochs: [], written: [] } });
    const planText = (await card.locator('.retrain-plan').textContent())!;
    assert.match(planText, /^γ cut each round from the clustering trees · tolerance 0\.1 · 5 epochs × ≤ 3 rounds · learning rate by a range test · batch 32 · /);
    // Before the range test has run: how the thresholds are chosen, and by what.
    assert.strictEqual(
      await card.locator('.retrain-choices').textContent(),
      'Thresholds: each round removes 12 % of the remaining units. Calibration: the training inputs (/data/train-x.json). Trained by embedded tfjs (cpu).',
    );

    const trials = [{ learningRate: 0.01, valLoss: null as unknown as number }, { learningRate: 0.003, valLoss: 0.0151 }, { learningRate: 0.001, valLoss: 0.0123 }];
    const round = { round: 1, paramsRatio: 0.8, params: 800, metric: 0.0101, change: 0.01, meets: true, threshold: 0.9871, epochsRun: 5, bestEpoch: 4, learningRate: 0.0005 };
    const summary = { ...started, rounds: [round], chosen: 1, learningRate: { value: 0.001, chosenBy: 'range test' as const, trials } };
    await panel.send({ type: 'retrain', view: { status: 'running', plan, summary, epochs: [], written: [] } });
    assert.strictEqual(
      await card.locator('.retrain-choices').textContent(),
      'Learning rate 0.001 (range test; validation loss after one epoch at 0.01: diverged, 0.003: 0.0151, 0.001: 0.0123). ' +
        'Thresholds: each round removes 12 % of the remaining units. Calibration: the training inputs (/data/train-x.json). Trained by embedded tfjs (cpu).',
    );
    const row = card.locator('tbody tr[data-round="1"]');
    assert.strictEqual(await row.locator('.round-gamma').getAttribute('title'), 'cut from the clustering trees (see above)');
    assert.strictEqual(await row.locator('td:nth-child(3)').getAttribute('title'), '5 epochs trained, epoch 4 kept (best on validation); learning rate 0.0005 at the end');

    // Numbers given: the plan shows them, and the rounds' γ says it was given.
    await panel.send({ type: 'retrain', view: { status: 'running', plan: { ...plan, threshold: 0.97, learningRate: 0.002 }, summary, epochs: [], written: [] } });
    assert.match((await card.locator('.retrain-plan').textContent())!, /^γ 0\.97 · .* · learning rate 0\.002 · /);
    assert.strictEqual(await row.locator('.round-gamma').getAttribute('title'), 'given by condense.retrain.threshold');
    await panel.send({ type: 'retrain', view: null });
    assert.ok(!(await card.locator('.retrain-choices').isVisible()));
  });

  it('shows a retrain run\'s "auto" batch size as chosen from the data until the run reports it, then the batch size chosen', async () => {
    const card = await retrainCardOfCondensed();
    const plan = {
      threshold: 'auto' as const, tolerance: 0.1, epochs: 60, rounds: 12, learningRate: 'auto' as const, batchSize: 'auto' as const, merge: 'refit' as const,
      ...DATA_FILES,
    };
    const planText = async (): Promise<string> => (await card.locator('.retrain-plan').textContent())!;
    await panel.send({ type: 'retrain', view: { status: 'starting', plan, summary: null, epochs: [], written: [] } });
    assert.match(await planText(), /^γ cut each round from the clustering trees · tolerance 0\.1 · 60 epochs × ≤ 12 rounds · learning rate by a range test · batch size chosen from the data · refit/);

    const training = 'up to 60 epochs a round (Adam, batch size 128: the largest of 32–256 that leaves 64 steps an epoch), keeping the best epoch on the validation data';
    const summary = { metric: 'mse' as const, tolerance: 0.1, baseline: 0.01, paramsBefore: 1000, epochs: 60, batchSize: 128, rounds: [], chosen: null, training };
    await panel.send({ type: 'retrain', view: { status: 'running', plan, summary, epochs: [], written: [] } });
    assert.match(await planText(), / · learning rate by a range test · batch 128 \(chosen from the data\) · refit/);
    assert.strictEqual(await card.locator('.retrain-choices').textContent(), `Training: ${training}.`);

    // A number given: the plan shows it whatever the summary says.
    await panel.send({ type: 'retrain', view: { status: 'running', plan: { ...plan, batchSize: 16 }, summary: { ...summary, batchSize: 16 }, epochs: [], written: [] } });
    assert.match(await planText(), / · learning rate by a range test · batch 16 · refit/);
  });

  it('shows a retrain run: the loss per epoch with rounds marked, the round table, and the buttons\' messages', async () => {
    const card = await retrainCardOfCondensed();
    const button = (name: string) => card.getByRole('button', { name, exact: true });
    assert.ok(await card.isVisible());
    assert.ok(!(await card.locator('figure').isVisible()) && !(await card.locator('table').isVisible()));
    for (const name of ['Pause', 'Resume', 'Cancel']) assert.ok(!(await button(name).isVisible()), `${name} shown without a run`);
    await button('Condense and Retrain…').click();
    assert.deepStrictEqual((await panel.posted()).pop(), { type: 'retrain' });

    const plan = {
      threshold: 0.95, tolerance: 0.1, epochs: 2, rounds: 3, learningRate: 0.001, batchSize: 32, merge: 'plain' as const,
      ...DATA_FILES, trainInputs: `/data/${EVIL_NAME}.json`,
    };
    const round = (n: number, paramsRatio: number, change: number) => ({ round: n, paramsRatio, params: Math.round(34565 * paramsRatio), metric: 0.01 * (1 + change), change, meets: change <= 0.1 });
    const summary = { metric: 'mse' as const, tolerance: 0.1, baseline: 0.01, paramsBefore: 34565, epochs: 2, rounds: [round(1, 0.4, 0.05)], chosen: 1 };
    const epochs = [
      { round: 1, epoch: 1, loss: 0.5, valLoss: 0.6 },
      { round: 1, epoch: 2, loss: 0.05, valLoss: 0.07 },
      { round: 2, epoch: 1, loss: 0.2, valLoss: 0.3 },
    ];
    const running: RetrainView = { status: 'running', plan, summary, epochs, written: [] };
    await panel.send({ type: 'retrain', view: running });
    assert.ok(await button('Condense and Retrain…').evaluate((b) => b.hasAttribute('disabled')), 'no second run while one runs');
    // One line per round and series, a marker per epoch, one mark where round 2 begins.
    assert.strictEqual(await card.locator('polyline.loss-train').count(), 2);
    assert.strictEqual(await card.locator('polyline.loss-val').count(), 2);
    assert.strictEqual(await card.locator('circle.loss-point').count(), 6);
    assert.deepStrictEqual(await card.locator('.round-marks text').allTextContents(), ['round 2']);
    const trainPoints = await card.locator('circle.loss-point.loss-train').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('cx')), Number(e.getAttribute('cy'))]));
    const markX = Number(await card.locator('line.round-mark').getAttribute('x1'));
    assert.ok(trainPoints[1][0] < markX && markX < trainPoints[2][0], `round 2 begins between its epochs: ${JSON.stringify(trainPoints)} / ${markX}`);
    // Higher loss is higher up: 0.5 above 0.2 above 0.05.
    assert.ok(trainPoints[0][1] < trainPoints[2][1] && trainPoints[2][1] < trainPoints[1][1], JSON.stringify(trainPoints));
    assert.match((await card.locator('.retrain-status').textContent())!, /^Training: round 2, epoch 1 of 2 \(1 finished round\)\.$/);
    assert.ok((await card.locator('.retrain-plan').textContent())!.includes(EVIL_NAME));
    assert.deepStrictEqual(await card.locator('tbody tr').first().locator('td').allTextContents(), ['1 (smallest within)', '40.0 % (13,826)', 'MSE 0.0105', '+5.0 %', ' yes', ' Write']);

    await button('Pause').click();
    await panel.send({ type: 'retrain', view: { ...running, status: 'paused' } });
    assert.ok(!(await button('Pause').isVisible()));
    await button('Resume').click();
    await button('Cancel').click();
    await card.getByRole('button', { name: 'Write round 1' }).click();
    assert.deepStrictEqual((await panel.posted()).slice(-4), [
      { type: 'retrainControl', action: 'pause' },
      { type: 'retrainControl', action: 'resume' },
      { type: 'retrainControl', action: 'cancel' },
      { type: 'retrainWrite', round: 1 },
    ]);

    const done: RetrainView = {
      ...running, status: 'completed',
      summary: { ...summary, rounds: [round(1, 0.4, 0.05), round(2, 0.25, 0.3)], chosen: 1 },
      epochs: [...epochs, { round: 2, epoch: 2, loss: 0.1, valLoss: 0.4 }],
      written: [{ round: 1, outDir: '/models/model.condensed' }],
    };
    await panel.send({ type: 'retrain', view: done });
    assert.deepStrictEqual((await panel.snapshot()).retrain, done);
    for (const name of ['Pause', 'Resume', 'Cancel']) assert.ok(!(await button(name).isVisible()), `${name} shown after the run`);
    assert.deepStrictEqual(await card.locator('tbody tr').evaluateAll((rows: HTMLElement[]) => rows.map((r) => [r.getAttribute('data-round'), r.className, r.querySelector('td:nth-child(5)')!.className])), [
      ['1', 'retrain-round chosen', 'meets'],
      ['2', 'retrain-round', 'fails'],
    ]);
    assert.strictEqual(await card.locator('tbody tr[data-round="1"] .written').getAttribute('title'), '/models/model.condensed');
    assert.match((await card.locator('.retrain-status').textContent())!, /round 1 is the smallest within the tolerance \(40\.0 % of the parameters\)/);
    // Writing waits while the host is busy (another write); the run's own view stays.
    await panel.send({ type: 'busy', what: 'Writing…' });
    assert.ok(await card.getByRole('button', { name: 'Write round 2' }).evaluate((b) => b.hasAttribute('disabled')));
    await panel.send({ type: 'busy', what: null });
    await panel.send({ type: 'retrain', view: null });
    assert.ok(!(await card.locator('table').isVisible()));
  });

  it('a failed retrain run shows the error and keeps its finished rounds writable; accuracy changes read lower or higher', async () => {
    const card = await retrainCardOfCondensed();
    const plan = {
      threshold: 0.95, tolerance: 0.02, epochs: 1, rounds: 3, learningRate: 0.001, batchSize: 32, merge: 'plain' as const,
      ...DATA_FILES,
    };
    // Change is the accuracy drop: round 1 got better than the original (negative), round 2 worse.
    const rounds = [
      { round: 1, paramsRatio: 0.5, params: 500, metric: 0.905, change: -0.005, meets: true },
      { round: 2, paramsRatio: 0.3, params: 300, metric: 0.89, change: 0.01, meets: true },
    ];
    const failed: RetrainView = {
      status: 'failed', plan, error: '/data/calibration.json: no such file',
      summary: { metric: 'accuracy', tolerance: 0.02, baseline: 0.9, paramsBefore: 1000, epochs: 1, rounds, chosen: 2 },
      epochs: [{ round: 1, epoch: 1, loss: 0.3, valLoss: 0.35 }, { round: 2, epoch: 1, loss: 0.25, valLoss: 0.3 }],
      written: [],
    };
    await panel.send({ type: 'retrain', view: failed });
    assert.strictEqual(await card.locator('.retrain-status').textContent(), 'Retraining failed: /data/calibration.json: no such file The 2 finished rounds can still be written.');
    assert.deepStrictEqual(await card.locator('tbody tr td:nth-child(4)').allTextContents(), ['0.5 points higher', '1.0 points lower']);
    for (const round of [1, 2]) assert.ok(!(await card.getByRole('button', { name: `Write round ${round}` }).evaluate((b) => b.hasAttribute('disabled'))));
    await card.getByRole('button', { name: 'Write round 1' }).click();
    assert.deepStrictEqual((await panel.posted()).pop(), { type: 'retrainWrite', round: 1 });

    // The worker that kept the rounds died: they are shown but cannot be written.
    await panel.send({ type: 'retrain', view: { ...failed, lost: true } });
    assert.strictEqual(
      await card.locator('.retrain-status').textContent(),
      "Retraining failed: /data/calibration.json: no such file The worker that kept the rounds' models stopped unexpectedly, so they can no longer be written: start the run again.",
    );
    for (const round of [1, 2]) assert.ok(await card.getByRole('button', { name: `Write round ${round}` }).evaluate((b) => b.hasAttribute('disabled')));
  });
});
