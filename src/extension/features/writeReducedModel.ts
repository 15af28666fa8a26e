/** Write Reduced Model: the analysed model at its thresholds, into the output folder next to it. */
import { formatGamma } from '../../shared/hints';
import { withNotificationProgress } from '../notifications';
import { CondensePanel } from '../panel';
import { dataFileFor, readSettings } from '../settings';
import { announceWritten, FeatureContext, modelForCommand, outputFolderFor, registerFileCommand, reportFailure } from './common';

export function register(features: FeatureContext): void {
  const { index, analyses } = features;
  registerFileCommand(features, 'condense.writeReducedModel', async (uri) => {
    const model = await modelForCommand(index, uri);
    if (!model) return undefined;
    const settings = readSettings();
    const output = await outputFolderFor(model, settings.outputFolder);
    if (!output) return undefined;
    const { outDir, exists } = output;
    const thresholds = analyses.thresholdsFor(model);
    const panel = CondensePanel.forModel(model);
    panel?.post({ type: 'busy', what: 'Writing the reduced model…' });
    try {
      const result = await withNotificationProgress(`Condense: writing the reduced model (γ ${formatGamma(thresholds.threshold)})`, true, (signal) =>
        analyses.worker.request<'reduced'>(
          {
            type: 'reduce', file: model, backend: settings.backend, activation: settings.activation,
            calibration: dataFileFor(model, settings.calibrationFile), refit: panel?.refit ?? true, thresholds, outDir, overwrite: exists, roundTo: settings.roundTo,
          },
          { signal },
        ),
      );
      panel?.post({ type: 'written', outDir: result.outDir, paramsBefore: result.paramsBefore, paramsAfter: result.paramsAfter });
      announceWritten(model, result, result.merge === 'refit' ? 'next layers refitted on the calibration data' : undefined);
      return { outDir: result.outDir, mainFile: result.mainFile, paramsBefore: result.paramsBefore, paramsAfter: result.paramsAfter };
    } catch (e) {
      reportFailure(e, panel);
      return undefined;
    } finally {
      panel?.post({ type: 'busy', what: null });
    }
  });
}
