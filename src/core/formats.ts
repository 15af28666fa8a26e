// Every supported model format registers itself with openModel (src/core/source.ts) on import.
import './tfjs/source';

export { openModel } from './source';
export type { OpenOptions } from './source';
