/** Pieces the benchmark scripts share: Markdown tables, time formatting, outputs and errors by condense's evaluator. */
import { LoadedModel } from '../src/core/analyze';
import { productEngine } from '../src/core/compute/engines';
import { GraphEvaluator, isUnsupported, replacedWeights, Value } from '../src/core/compute/evaluator';
import { Tensor } from '../src/core/model/tensor';

export const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/** A Markdown table, the first column left-aligned and the others right-aligned. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]): string => `| ${cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...rows.map(line)];
}

/** The model's first output on `input` with `changed` weights in place of the originals (condense's float64 evaluator). */
export async function outputsOf(model: LoadedModel, input: Value, changed = new Map<string, Tensor>()): Promise<Float64Array> {
  const { graph } = model.source;
  const y = await new GraphEvaluator(graph, input, replacedWeights(changed), await productEngine()).output(graph.outputs[0]);
  if (isUnsupported(y)) throw new Error(y.unsupported);
  return y.data;
}

export { relativeMse } from '../src/core/reduction/refit';
