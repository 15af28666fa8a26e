/**
 * The valid values of a retrain run's settings, in one place: the extension checks its settings,
 * the arguments it is given and what is typed into its input boxes against them, with the same
 * bounds as the CLI's flags (--tolerance, --epochs, --rounds, --learning-rate, --batch-size, --threshold).
 */
import type { RetrainSummary } from '../core/reduction/report';

/**
 * A setting the engine chooses when it is "auto": the learning rate by a range test on the first round,
 * each round's threshold γ by a cut of the clustering trees that removes a share of the units left, the
 * batch size from the training data (the largest of 32–256 leaving enough steps an epoch).
 */
export const AUTO = 'auto';
export type Choosable = number | typeof AUTO;

export interface RetrainSettings {
  tolerance: number;
  epochs: number;
  rounds: number;
  learningRate: Choosable;
  batchSize: Choosable;
}

/** The settings that may be "auto"; the rules below are for their numbers. */
const CHOOSABLE: ReadonlySet<string> = new Set<keyof RetrainSettings | 'threshold'>(['learningRate', 'batchSize', 'threshold']);

type Rule = { valid: (v: number) => boolean; what: string };

/** A fixed threshold γ (the CLI's --threshold): a cosine similarity above 0. */
export const THRESHOLD_RULE: Rule = { valid: (v) => v > 0 && v <= 1, what: 'a number in (0, 1]' };

export const RETRAIN_SETTING_RULES: Record<keyof RetrainSettings, Rule> = {
  tolerance: { valid: (v) => v >= 0, what: 'a non-negative number' },
  epochs: { valid: (v) => Number.isInteger(v) && v > 0 && v <= 10000, what: 'a positive integer (at most 10000)' },
  rounds: { valid: (v) => Number.isInteger(v) && v > 0 && v <= 100, what: 'a positive integer (at most 100)' },
  learningRate: { valid: (v) => v > 0 && v <= 10, what: 'a positive number (at most 10)' },
  batchSize: { valid: (v) => Number.isInteger(v) && v > 0 && v <= 1e6, what: 'a positive integer (at most 1000000)' },
};

/** Whether `value` (from JSON settings or arguments: anything) is a valid number for the setting. */
export function isValidRetrainSetting(key: keyof RetrainSettings, value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && RETRAIN_SETTING_RULES[key].valid(value);
}

/**
 * The first invalid setting, as "epochs must be a positive integer (at most 10000), got 2.5"; undefined
 * when all are valid. The learning rate, the batch size and a threshold, when one is given, may also be "auto".
 */
export function retrainSettingsProblem(settings: Record<keyof RetrainSettings, unknown> & { threshold?: unknown }): { key: keyof RetrainSettings | 'threshold'; message: string } | undefined {
  const rules: [keyof RetrainSettings | 'threshold', Rule][] = Object.entries(RETRAIN_SETTING_RULES) as [keyof RetrainSettings, Rule][];
  if ('threshold' in settings) rules.push(['threshold', THRESHOLD_RULE]);
  for (const [key, rule] of rules) {
    const value = settings[key];
    if (value === AUTO && CHOOSABLE.has(key)) continue;
    if (typeof value === 'number' && Number.isFinite(value) && rule.valid(value)) continue;
    // A word where a number or "auto" belongs names both choices.
    const what = typeof value === 'string' && CHOOSABLE.has(key) ? `"${AUTO}" or ${rule.what}` : rule.what;
    return { key, message: `${key} must be ${what}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}` };
  }
  return undefined;
}

/** The number a choosable setting gives, or undefined for "auto" (the engine chooses). */
export const givenNumber = (value: Choosable): number | undefined => (value === AUTO ? undefined : value);

/**
 * What a run chose and why, from its summary, as the CLI prints it and the panel shows it: the learning
 * rate (given, or the range test's pick with each candidate's validation loss after one epoch and the
 * rule that picked it), how each round trains, how the thresholds were chosen and the calibration inputs. Empty before anything is known.
 */
export function retrainChoices(s: RetrainSummary): string[] {
  const lr = s.learningRate;
  // NaN marks a diverged trial; a message that went through JSON carries it as null.
  const loss = (v: number | null): string => (v === null || !Number.isFinite(v) ? 'diverged' : v.toPrecision(3));
  const trials = lr?.trials?.map((t) => `${t.learningRate}: ${loss(t.valLoss)}`).join(', ');
  return [
    ...(lr ? [`Learning rate ${lr.value} (${lr.chosenBy}${trials ? `; validation loss after one epoch at ${trials}` : ''}${lr.why ? `; ${lr.why}` : ''}).`] : []),
    ...(s.training ? [`Training: ${s.training}.`] : []),
    ...(s.thresholds || s.calibration ? [[s.thresholds ? `Thresholds: ${s.thresholds}.` : '', s.calibration ? `Calibration: ${s.calibration}.` : ''].filter(Boolean).join(' ')] : []),
  ];
}

/** What trains the rounds (condense.retrain.trainer, --trainer). */
export const TRAINERS = ['embedded', 'pytorch'] as const;
/** Where the PyTorch trainer runs (condense.retrain.device, --device); auto: a CUDA GPU when torch sees one. */
export const DEVICES = ['auto', 'cpu', 'cuda'] as const;
/** Data-parallel processes of the PyTorch trainer (condense.retrain.workers, --workers). */
export const WORKERS_RULE = { valid: (v: number) => Number.isInteger(v) && v >= 1 && v <= 64, what: 'a positive integer (at most 64)' };

/** `value` if it is one of `choices`, else undefined (settings and flags are anything until checked). */
export function oneOf<T extends string>(choices: readonly T[], value: unknown): T | undefined {
  return choices.find((c) => c === value);
}
