/**
 * Screenshots of the panel through the harness, in light, dark and high-contrast themes, into
 * test-output/: a strongly condensed model with a layer's pictures open, a model that barely
 * condenses, status messages, analysis progress and a narrow panel. Reports any CSP violation,
 * console error or off-server request met on the way (panel.test.ts checks behaviour).
 * Run: node esbuild.mjs && npx tsx test/webview/screenshots.ts
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { buildFixtures } from './fixtures';
import { launchBrowser, openPanel, PanelPage, REPO, startServer } from './harness';
import type { ThemeName } from './themes';

const OUT = path.join(REPO, 'test-output');

async function shot(p: PanelPage, name: string, fullPage = true): Promise<void> {
  const file = path.join(OUT, `${name}.png`);
  await p.page.screenshot({ path: file, fullPage });
  console.log(path.relative(REPO, file));
}

async function main(): Promise<void> {
  await fs.mkdir(OUT, { recursive: true });
  const fixtures = await buildFixtures();
  const server = await startServer();
  const browser = await launchBrowser();
  const problems: string[] = [];
  const done = async (p: PanelPage): Promise<void> => {
    problems.push(...p.problems);
    await p.page.context().close();
  };
  try {
    for (const theme of ['light', 'dark', 'high-contrast'] as ThemeName[]) {
      // Strongly condensed, one layer's pictures open, a heatmap cell read with the keyboard
      // (a full-page screenshot resizes the page, which would end a pointer hover).
      const p = await openPanel(browser, server, { theme });
      await p.send(fixtures.condensed);
      await p.page.getByRole('button', { name: 'Pictures for layer hidden2' }).click();
      await p.page.locator('canvas.heatmap').focus();
      for (const key of ['End', 'ArrowLeft', 'ArrowLeft', 'ArrowDown', 'ArrowDown', 'ArrowDown']) await p.page.keyboard.press(key);
      await shot(p, `panel-condensed-${theme}`);

      // Busy, then written, verified and an error.
      await p.page.mouse.move(0, 0);
      await p.send({ type: 'busy', what: 'Writing the reduced model…' });
      await shot(p, `panel-busy-${theme}`, false);
      await p.send({ type: 'busy', what: null });
      await p.send({ type: 'written', outDir: '/home/user/models/combustion-mlp.condensed', paramsBefore: 34565, paramsAfter: 3866 });
      await p.send({
        type: 'verification',
        reduced: '/home/user/models/combustion-mlp.condensed/model.json',
        tolerance: 1e-3,
        fidelity: { samples: 256, inputs: 'probe-inputs.json', maxAbs: 2.1e-5, meanAbs: 3.4e-6, maxRel: 8.2e-5, meanRel: 1.1e-5, argmaxAgreement: null },
      });
      await p.send({ type: 'error', message: 'condense: /home/user/models/x/model.json: weights file group1-shard1of1.bin is missing' });
      await shot(p, `panel-status-${theme}`, false);
      await done(p);

      // Standard initialisation: the explanation; the markup-named layer.
      const q = await openPanel(browser, server, { theme });
      await q.send(fixtures.standard);
      await q.page.getByRole('button', { name: 'Pictures for layer conv1' }).click();
      await shot(q, `panel-standard-${theme}`);
      await done(q);
    }

    // Per-layer override with its pictures and a keyboard cursor, then a live theme switch.
    const o = await openPanel(browser, server, { theme: 'dark' });
    await o.send(fixtures.condensed);
    await o.send({ type: 'thresholds', thresholds: { threshold: 0.9, overrides: { hidden1: 0.8 } } });
    await o.page.getByRole('button', { name: 'Pictures for layer hidden1' }).click();
    await o.page.locator('canvas.heatmap').focus();
    for (const key of ['ArrowRight', 'ArrowRight', 'ArrowDown']) await o.page.keyboard.press(key);
    await o.setTheme('light');
    await shot(o, 'panel-override-light');
    await done(o);

    // A narrow panel (editor split in two).
    const n = await openPanel(browser, server, { theme: 'dark', width: 560, height: 900 });
    await n.send(fixtures.standard);
    await shot(n, 'panel-narrow-dark');
    await done(n);

    // A reloaded webview while the host re-analyses.
    const r = await openPanel(browser, server, { theme: 'dark', state: { modelPath: '/work/models/cnn/model.json', thresholds: { threshold: 0.9, overrides: {} } } });
    await r.send({ type: 'analysing', model: { path: '/work/models/cnn/model.json', label: 'cnn/model.json' }, layer: 'conv2', done: 1, total: 4 });
    await shot(r, 'panel-analysing-dark', false);
    await done(r);
  } finally {
    await browser.close();
    await server.close();
  }
  if (problems.length) {
    console.error(`problems:\n${problems.join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 2;
});
