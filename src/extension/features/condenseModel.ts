/** Condense Model: opens the model's panel and analyses it. */
import { CondensePanel } from '../panel';
import { FeatureContext, pickModel, registerFileCommand, reportFailure } from './common';

/** What "Condense Model" returns (tests and other extensions can use it). */
export interface CondenseResult {
  model: string;
  threshold: number;
  layers: { name: string; clusters: number | null; unitsAfter: number | null }[];
  ratio: number;
}

export function register(features: FeatureContext): void {
  const { extension, index, analyses, retrains } = features;
  registerFileCommand(features, 'condense.condenseModel', async (uri): Promise<CondenseResult | undefined> => {
    const model = uri?.fsPath ?? (await pickModel(index));
    if (!model) return undefined;
    const panel = CondensePanel.show(extension.extensionUri, analyses, retrains, model);
    try {
      await analyses.analyzeWithProgress(model);
    } catch (e) {
      reportFailure(e, panel);
      return undefined;
    }
    const sizes = analyses.estimateFor(model)!;
    const t = analyses.thresholdsFor(model);
    return {
      model,
      threshold: t.threshold,
      layers: sizes.layers.map((l) => ({ name: l.name, clusters: l.clusters, unitsAfter: l.unitsAfter })),
      ratio: sizes.totals.ratio,
    };
  });
}
