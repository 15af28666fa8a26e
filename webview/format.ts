/** Number formatting shared by the panel's views. */
export { formatGamma } from '../src/shared/hints';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

export const int = (n: number): string => integer.format(n);

/** A share of the original, e.g. "11.2 %"; near 0 and 100 two decimals, so a small change never reads "0.0 %" or "100.0 %". */
export function percent(ratio: number): string {
  const p = 100 * ratio;
  const fine = (p > 0 && p < 1) || (p > 99 && p < 100);
  return `${p.toFixed(fine ? 2 : 1)} %`;
}

/** A validation metric's value: "MSE 0.0105", "accuracy 95.0 %". */
export function metricText(metric: 'mse' | 'accuracy', value: number): string {
  return metric === 'mse' ? `MSE ${value.toPrecision(3)}` : `accuracy ${percent(value)}`;
}

/**
 * A change from the original's metric (relative MSE increase, or accuracy drop: positive is worse):
 * "+5.0 %" or "−2.0 %"; "0.5 points lower" or, when accuracy improved, "0.5 points higher".
 * `than`: what it is compared with, e.g. "the original".
 */
export function changeText(metric: 'mse' | 'accuracy', change: number, than?: string): string {
  if (metric === 'accuracy') {
    const points = `${(100 * Math.abs(change)).toFixed(1)} points ${change > 0 ? 'lower' : 'higher'}`;
    return change === 0 ? 'unchanged' : than ? `${points} than ${than}` : points;
  }
  if (!Number.isFinite(change)) return 'the original fits exactly';
  const relative = `${change >= 0 ? '+' : '−'}${percent(Math.abs(change))}`;
  return than ? `${relative} vs ${than}` : relative;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${int(value)} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Large counts (multiply-adds) as e.g. "34.2 k", "1.25 M". */
export function compact(n: number): string {
  const steps: [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, suffix] of steps) {
    if (n >= size) {
      const v = n / size;
      return `${v.toFixed(v < 10 ? 2 : 1)} ${suffix}`;
    }
  }
  return int(n);
}

export const sim = (x: number): string => x.toFixed(3);

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[at];
}
