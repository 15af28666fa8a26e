/** Write a Retrained Round: one finished round of a condense–retrain run, into the output folder (from the panel or the run's notification). */
import { withNotificationProgress } from '../notifications';
import { CondensePanel } from '../panel';
import { RoundWritten } from '../retrains';
import { readSettings } from '../settings';
import { announceWritten, FeatureContext, outputFolderFor, registerFileCommand, reportFailure } from './common';

export function register(features: FeatureContext): void {
  const { retrains } = features;
  registerFileCommand(features, 'condense.writeRetrainedRound', async (uri, round): Promise<RoundWritten | undefined> => {
    if (!uri || typeof round !== 'number') return undefined;
    const model = uri.fsPath;
    const output = await outputFolderFor(model, readSettings().outputFolder);
    if (!output) return undefined;
    const panel = CondensePanel.forModel(model);
    try {
      const written = await withNotificationProgress(`Condense: writing round ${round}'s retrained model`, false, () =>
        retrains.write(model, round, output.outDir, output.exists),
      );
      panel?.post({ type: 'written', outDir: written.outDir, paramsBefore: written.paramsBefore, paramsAfter: written.paramsAfter });
      announceWritten(model, written, `retrained, round ${round}`);
      return written;
    } catch (e) {
      reportFailure(e, panel);
      return undefined;
    }
  });
}
