/**
 * The median of a set of numbers: the middle value, or the mean of the two middle values for an even
 * count. Empty input has no median: NaN, so a caller cannot mistake it for a measured 0 (every
 * comparison with NaN is false, so "is the median above x" stays false as well).
 */
export function median(values: ArrayLike<number>): number {
  if (values.length === 0) return NaN;
  // A typed array sorts numerically, and the copy leaves the caller's values in their order.
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
