/**
 * The valid values of a retrain run's settings, in one place: the extension checks its settings,
 * the arguments it is given and what is typed into its input boxes against them, with the same
 * bounds as the CLI's flags (--tolerance, --epochs, --rounds, --learning-rate, --batch-size).
 */
export interface RetrainSettings {
  tolerance: number;
  epochs: number;
  rounds: number;
  learningRate: number;
  batchSize: number;
}

export const RETRAIN_SETTING_RULES: Record<keyof RetrainSettings, { valid: (v: number) => boolean; what: string }> = {
  tolerance: { valid: (v) => v >= 0, what: 'a non-negative number' },
  epochs: { valid: (v) => Number.isInteger(v) && v > 0 && v <= 10000, what: 'a positive integer (at most 10000)' },
  rounds: { valid: (v) => Number.isInteger(v) && v > 0 && v <= 100, what: 'a positive integer (at most 100)' },
  learningRate: { valid: (v) => v > 0 && v <= 10, what: 'a positive number (at most 10)' },
  batchSize: { valid: (v) => Number.isInteger(v) && v > 0 && v <= 1e6, what: 'a positive integer (at most 1000000)' },
};

/** Whether `value` (from JSON settings or arguments: anything) is valid for the setting. */
export function isValidRetrainSetting(key: keyof RetrainSettings, value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && RETRAIN_SETTING_RULES[key].valid(value);
}

/** The first invalid setting, as "epochs must be a positive integer (at most 10000), got 2.5"; undefined when all are valid. */
export function retrainSettingsProblem(settings: Record<keyof RetrainSettings, unknown>): { key: keyof RetrainSettings; message: string } | undefined {
  for (const key of Object.keys(RETRAIN_SETTING_RULES) as (keyof RetrainSettings)[]) {
    const value = settings[key];
    if (!isValidRetrainSetting(key, value)) return { key, message: `${key} must be ${RETRAIN_SETTING_RULES[key].what}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}` };
  }
  return undefined;
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
