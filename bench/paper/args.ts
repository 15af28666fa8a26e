import * as path from 'path';

/** The value after `name` on the command line, or undefined; a flag given without a value is an error. */
export function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
}

/** What both experiment scripts take from the command line, with the experiment's defaults. */
export interface RunFlags {
  /** --out: the experiment's folder (data, the original, the rounds). */
  dir: string;
  /** --results: where the results JSON goes, inside dir. */
  resultsFile: string;
  thresholds: number[];
  rounds: number;
  epochs: number;
  learningRate: number;
  /** Runs saving different results files keep their models apart too: results-b.json → rounds-b/. */
  roundsDir: string;
  /** --resume: continue the rounds saved in the results file. */
  resume: boolean;
  /** --retrain-original: train the original again even if the folder has one. */
  retrainOriginal: boolean;
  /** --prepare-only: data and original, no rounds. */
  prepareOnly: boolean;
  /** A line with the time of day. */
  log: (line: string) => void;
}

export function runFlags(experiment: string, defaults: { thresholds: string; rounds: number; epochs: number; learningRate: number }): RunFlags {
  const dir = path.resolve(flag('--out') ?? path.join(__dirname, 'out', experiment));
  const resultsFile = path.join(dir, flag('--results') ?? 'results.json');
  return {
    dir,
    resultsFile,
    thresholds: (flag('--thresholds') ?? defaults.thresholds).split(',').map(Number),
    rounds: Number(flag('--rounds') ?? defaults.rounds),
    epochs: Number(flag('--epochs') ?? defaults.epochs),
    learningRate: Number(flag('--lr') ?? defaults.learningRate),
    roundsDir: `rounds${path.basename(resultsFile, '.json').replace(/^results/, '')}`,
    resume: process.argv.includes('--resume'),
    retrainOriginal: process.argv.includes('--retrain-original'),
    prepareOnly: process.argv.includes('--prepare-only'),
    log: (line) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  };
}
