/** Verify Reduced Model: runs the original and its reduced model on the same inputs and compares. */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { CondenseReport, REPORT_FILE, type Timing } from '../../core/reduction/report';
import type { Fidelity } from '../../core/verify';
import { showError, showInfo, showWarning, withNotificationProgress } from '../notifications';
import { CondensePanel } from '../panel';
import { readSettings } from '../settings';
import { confinedOutputFolder, FeatureContext, modelForCommand, registerFileCommand, reportFailure } from './common';

export function register(features: FeatureContext): void {
  const { index, analyses } = features;
  registerFileCommand(features, 'condense.verifyReducedModel', async (uri) => {
    const chosen = await modelForCommand(index, uri);
    if (!chosen) return undefined;
    const settings = readSettings();
    const pair = await originalAndReduced(chosen, settings.outputFolder);
    if (!pair) return undefined;
    if (!pair.reduced) {
      void showError(`Condense: no reduced model at ${vscode.workspace.asRelativePath(pair.expected)}. Write it first (Condense: Write Reduced Model).`);
      return undefined;
    }
    const reduced = pair.reduced;
    const panel = CondensePanel.forModel(pair.original);
    panel?.post({ type: 'busy', what: 'Verifying…' });
    try {
      const title = settings.timing ? 'Condense: comparing and timing original and reduced model' : 'Condense: comparing original and reduced model';
      const { fidelity, timing } = await withNotificationProgress(title, true, (signal, progress) =>
        analyses.worker.request<'verified'>(
          {
            type: 'verify', original: pair.original, reduced, backend: settings.backend, activation: settings.activation, samples: settings.probeSamples,
            ...(settings.timing ? { timing: settings.timing } : {}),
          },
          {
            signal,
            // The timing reports after each batch size (the comparison before it is quick).
            onProgress: (p) => {
              if (p.type === 'progress') progress.report({ message: `${p.layer} timed (${p.done} of ${p.total})`, increment: 100 / p.total });
            },
          },
        ),
      );
      panel?.post({ type: 'verification', fidelity, reduced, tolerance: settings.tolerance, merge: pair.merge, ...(timing ? { timing } : {}) });
      const text = describeFidelity(fidelity) + (pair.merge === 'refit' ? ' (next layers refitted on the calibration data)' : '') + (timing ? ` ${describeTiming(timing)}` : '');
      if (fidelity.maxRel <= settings.tolerance) void showInfo(`Condense: verified — ${text}`);
      else void showWarning(`Condense: the reduced model deviates more than ${settings.tolerance} — ${text}`);
      return timing ? { ...fidelity, timing } : fidelity;
    } catch (e) {
      reportFailure(e, panel);
      return undefined;
    } finally {
      panel?.post({ type: 'busy', what: null });
    }
  });
}

function describeFidelity(f: Fidelity): string {
  const agreement = f.argmaxAgreement === null ? '' : `, argmax agreement ${(100 * f.argmaxAgreement).toFixed(1)} %`;
  return `max relative deviation ${f.maxRel.toExponential(2)} (mean ${f.meanRel.toExponential(2)}), max absolute ${f.maxAbs.toExponential(2)}${agreement} over ${f.inputs}.`;
}

/** The largest batch's measured speed-up beside the multiply-add ratio, for the notification. */
function describeTiming(t: Timing): string {
  const last = t.batches[t.batches.length - 1];
  return `Measured speed-up ${last.speedup.toFixed(2)}× at batch ${last.batch}${t.macs ? ` (multiply-adds ${t.macs.ratio.toFixed(2)}× fewer)` : ''}, ${t.runtime}.`;
}

/**
 * A reduced model's folder holds condense-report.json naming the original; an original's reduced
 * model is named by the report in its output folder (undefined: the setting is refused, and was reported).
 */
async function originalAndReduced(file: string, pattern: string): Promise<{ original: string; reduced?: string; expected: string; merge?: CondenseReport['merge'] } | undefined> {
  const report = await readReport(path.dirname(file));
  if (report) return { original: report.model, reduced: file, expected: file, merge: report.merge };
  const outDir = await confinedOutputFolder(file, pattern);
  if (!outDir) return undefined;
  const written = await readReport(outDir);
  const expected = path.join(outDir, written?.reducedFile ?? path.basename(file));
  const exists = await fs.stat(expected).then(() => true, () => false);
  return { original: file, reduced: exists ? expected : undefined, expected, merge: written?.merge };
}

async function readReport(dir: string): Promise<Pick<CondenseReport, 'model' | 'reducedFile' | 'merge'> | undefined> {
  try {
    const report = JSON.parse(await fs.readFile(path.join(dir, REPORT_FILE), 'utf8')) as Partial<CondenseReport>;
    if (typeof report.model !== 'string' || typeof report.reducedFile !== 'string') return undefined;
    return { model: report.model, reducedFile: report.reducedFile, merge: report.merge === 'refit' ? 'refit' : 'plain' };
  } catch {
    return undefined;
  }
}
