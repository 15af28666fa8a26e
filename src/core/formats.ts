// Every supported model format registers itself with openModel (src/core/source.ts) on import.
import './tfjs/source';
import './torch/source';
import './onnx/source';
import './keras/source';

export { openModel } from './source';
export type { OpenOptions } from './source';
