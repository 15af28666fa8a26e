// Every supported model format registers itself with openModel (src/core/model/registry.ts) on import.
import './tfjs/source';
import './torch/source';
import './onnx/source';
import './keras/source';

export { openModel } from '../model/registry';
export type { OpenOptions } from '../model/registry';
