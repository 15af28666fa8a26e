/** Find Thresholds Automatically: measures candidate thresholds on validation data and shows the size–error curve. */
import * as vscode from 'vscode';
import type { AutoCurve, AutoCurvePoint } from '../../shared/protocol';
import { showError, showInfo, showWarning, withNotificationProgress } from '../notifications';
import { CondensePanel } from '../panel';
import { dataFileFor, readSettings } from '../settings';
import { FeatureContext, modelForCommand, registerFileCommand, reportFailure } from './common';

export function register(features: FeatureContext): void {
  const { extension, index, analyses, retrains } = features;
  registerFileCommand(features, 'condense.findThresholds', async (uri): Promise<AutoCurve | undefined> => {
    const model = await modelForCommand(index, uri);
    if (!model) return undefined;
    const settings = readSettings();
    if (!settings.validationInputs || !settings.validationTargets) {
      const choice = await showError(
        'Condense: finding thresholds automatically needs labelled validation data: set condense.auto.validationInputs and condense.auto.validationTargets.',
        'Open Settings',
      );
      if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'condense.auto');
      return undefined;
    }
    // The curve is shown on the analysis, and picking a point needs it: open the panel and analyse first.
    const panel = CondensePanel.show(extension.extensionUri, analyses, retrains, model);
    panel.post({ type: 'busy', what: 'Finding thresholds…' });
    try {
      await analyses.analyzeWithProgress(model);
      const points: AutoCurvePoint[] = [];
      const { result, cancelled } = await withNotificationProgress(`Condense: finding thresholds (tolerance ${settings.autoTolerance})`, true, (signal, progress) =>
        analyses.worker.request<'autoResult'>(
          {
            type: 'auto', file: model, backend: settings.backend, activation: settings.activation,
            calibration: dataFileFor(model, settings.calibrationFile), tolerance: settings.autoTolerance,
            valInputs: dataFileFor(model, settings.validationInputs)!, valTargets: dataFileFor(model, settings.validationTargets)!,
            roundTo: settings.roundTo,
          },
          {
            // Cancel ends the search after the candidate being measured; what was measured is kept.
            signal,
            stop: 'cooperative',
            onProgress: (p) => {
              if (p.type !== 'candidate') return;
              points.push(p.point);
              progress.report({ message: `candidate ${p.measured} of ≤ ${p.budget}`, increment: 100 / p.budget });
              panel.post({ type: 'autoProgress', progress: { points: points.slice(), budget: p.budget, tolerance: settings.autoTolerance } });
            },
          },
        ),
      );
      panel.post({ type: 'autoCurve', curve: result });
      const chosen = result.chosen === null ? null : result.points[result.chosen];
      const measured = `${cancelled ? 'search cancelled after ' : ''}${result.points.length} candidates`;
      if (chosen) void showInfo(`Condense: ${measured}; the smallest within the tolerance keeps ${(100 * chosen.paramsRatio).toFixed(1)} % of the parameters. Pick a point in the panel to use it.`);
      else void showWarning(`Condense: ${measured}; none stays within the tolerance ${settings.autoTolerance}.`);
      return result;
    } catch (e) {
      // Leaves the "Searching" state: the card shows what it showed before the search.
      panel.post({ type: 'autoCurve', curve: null });
      reportFailure(e, panel);
      return undefined;
    } finally {
      panel.post({ type: 'busy', what: null });
    }
  });
}
