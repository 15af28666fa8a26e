/**
 * The figures and tables of docs/benchmarks.md from the experiments' results.json files:
 *
 *   npx tsx bench/paper/figures.ts [--out DIR] [--figures DIR] [--results FILE]
 *
 * reads DIR/combustion/FILE and DIR/fashion/FILE (default DIR bench/paper/out, FILE results.json; a
 * missing one is skipped with a note), writes the size–error plots into --figures (default
 * docs/figures; for FILE results-x.json the figure's name ends in -x), copies the results files there
 * (as NAME-FILE) and prints the markdown tables.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { flag } from './args';
import { ExperimentResult, format, formatChange, RoundResult, smallestWithin } from './experiment';
import { linePlot, Series } from './svgPlot';

const COLORS = { condensation: '#1f77b4', l1: '#d62728' };

export interface Figure {
  name: string;
  title: string;
  /** Plotted value of a measured metric (accuracy in percent). */
  y: (value: number) => number;
  yLabel: string;
  logY: boolean;
}

const EXPERIMENTS: Record<string, Figure> = {
  combustion: { name: 'combustion-size-error.svg', title: 'Combustion MLP: size vs validation MSE', y: (v) => v, yLabel: 'validation MSE (standardised outputs)', logY: true },
  fashion: { name: 'fashion-size-accuracy.svg', title: 'MobileNetV2-style CNN on Fashion-MNIST: size vs accuracy', y: (v) => 100 * v, yLabel: 'validation accuracy (%)', logY: false },
};

export function sizeErrorPlot(result: ExperimentResult, figure: Figure): string {
  const curve = (rounds: RoundResult[], pick: (r: RoundResult) => number): [number, number][] => [
    [100, figure.y(result.baseline)],
    ...rounds.map((r): [number, number] => [100 * r.ratio, figure.y(pick(r))]),
  ];
  const series: Series[] = [
    { label: 'condensation, retrained', color: COLORS.condensation, points: curve(result.condensation, (r) => r.retrained.value) },
    { label: 'L1 baseline, retrained', color: COLORS.l1, points: curve(result.l1, (r) => r.retrained.value) },
    { label: 'condensation, before retraining', color: COLORS.condensation, dashed: true, points: curve(result.condensation, (r) => r.reduced.value) },
    { label: 'L1 baseline, before retraining', color: COLORS.l1, dashed: true, points: curve(result.l1, (r) => r.reduced.value) },
  ];
  const tolerance = result.metric === 'mse' ? result.baseline * (1 + result.spec.tolerance) : result.baseline - result.spec.tolerance;
  return linePlot({
    title: figure.title,
    xLabel: 'parameters kept (% of the original)',
    yLabel: figure.yLabel,
    series,
    logY: figure.logY,
    reverseX: true,
    // Errors rise and accuracies fall as sizes shrink to the right: the legend goes where the curves are not.
    legend: result.metric === 'mse' ? 'top-left' : 'bottom-left',
    references: [
      { y: figure.y(result.baseline), label: 'original' },
      { y: figure.y(tolerance), label: result.metric === 'mse' ? '1.1 × original' : 'original − 1 point' },
    ],
  });
}

export function roundsTable(result: ExperimentResult): string {
  const { metric } = result;
  const layers = Object.keys(result.condensation[0]?.units ?? {});
  const lines = [
    `Units per layer, in the order ${layers.join(', ')}.`,
    '',
    '| round | γ | params kept | units per layer | condensation: reduced | condensation: retrained | L1: reduced | L1: retrained |',
    '|--:|--:|--:|---|--:|--:|--:|--:|',
    `| 0 | – | 100 % (${result.paramsBefore}) | original | ${format(metric, result.baseline)} | | | |`,
  ];
  const cell = (r: RoundResult['reduced']) => `${format(metric, r.value)} (${formatChange(metric, r.change)})${r.meets ? ' ✓' : ''}`;
  result.condensation.forEach((c, i) => {
    const l1 = result.l1[i];
    const units = layers.map((name) => c.units[name]).join('/');
    lines.push(`| ${c.round} | ${c.threshold} | ${(100 * c.ratio).toFixed(1)} % (${c.params}) | ${units} | ${cell(c.reduced)} | ${cell(c.retrained)} | ${cell(l1.reduced)} | ${cell(l1.retrained)} |`);
  });
  const best = (rounds: RoundResult[]) => {
    const r = smallestWithin(rounds);
    return r ? `round ${r.round}, ${(100 * r.ratio).toFixed(1)} % of the parameters` : 'none';
  };
  lines.push('', `Control (the original retrained exactly like a round, without reduction): ${result.control ? cell(result.control) : 'not run'}.`);
  lines.push('', `Smallest within the tolerance after retraining — condensation: ${best(result.condensation)}; L1 baseline: ${best(result.l1)}. Run time ${(result.seconds / 60).toFixed(1)} min.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const outDir = path.resolve(flag('--out') ?? path.join(__dirname, 'out'));
  const figuresDir = path.resolve(flag('--figures') ?? path.join(__dirname, '..', '..', 'docs', 'figures'));
  await fs.mkdir(figuresDir, { recursive: true });
  const resultsName = flag('--results') ?? 'results.json';
  const suffix = path.basename(resultsName, '.json').replace(/^results/, '');
  for (const [name, figure] of Object.entries(EXPERIMENTS)) {
    const file = path.join(outDir, name, resultsName);
    const text = await fs.readFile(file, 'utf8').catch(() => null);
    if (text === null) {
      console.log(`(${file} not found: run bench/paper/${name}.ts first)\n`);
      continue;
    }
    const result = JSON.parse(text) as ExperimentResult;
    const figureFile = path.join(figuresDir, figure.name.replace(/\.svg$/, `${suffix}.svg`));
    await fs.writeFile(figureFile, sizeErrorPlot(result, figure));
    // The raw numbers go next to the figure: the out folder is not committed.
    await fs.writeFile(path.join(figuresDir, `${name}-${resultsName}`), text);
    console.log(`### ${name}\n\n${roundsTable(result)}\n\n(figure: ${path.relative(process.cwd(), figureFile)})\n`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
