/** Running a model file as its own format runs it (onnxruntime for ONNX, tfjs for the rest): what a written file really gives. */
import type { LabelledData } from '../data/validation';
import type { ModelSource } from '../model/registry';
import type { Backend } from './backend';

/** The first output of `source` run by its format's own runtime on the set's rows (as the file holds them), as float64. */
export async function runInFormat(source: ModelSource, backend: Backend, set: LabelledData): Promise<Float64Array> {
  const predictor = await source.predictor(backend);
  try {
    const { data, sampleShape } = set.rows.fileRows;
    const known = predictor.inputShapes[0].every((d) => d !== null) ? predictor.inputShapes[0] : sampleShape;
    return Float64Array.from((await predictor.run([data], set.rows.picked.length, [known]))[0]);
  } finally {
    predictor.dispose();
  }
}
