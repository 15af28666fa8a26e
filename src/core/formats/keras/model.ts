/** A Keras model file as read, whichever flavour: what the ModelSource is built from. */
import { Tensor } from '../../model/tensor';
import { ModelConfig } from './config';
import { KerasWeight } from './weights';

export interface KerasModel {
  /** "keras-h5" (Keras 2 HDF5) or "keras" (Keras 3 archive). */
  format: string;
  /** For messages: "Keras 2.0.6 HDF5 (theano)". */
  description: string;
  /** The model config as stored (Keras 2 or Keras 3 vocabulary). */
  config: ModelConfig;
  /** Float weights in the order Keras loads them: by layer, each layer's in its own order. */
  weights: KerasWeight[];
  /** The kernels were written by a convolving backend (Theano): Keras, and so tfjs, flip them on load. */
  flipConvKernels: boolean;
  /** The reduced model file's bytes, in the same flavour. */
  encode(changed: Map<string, Tensor>, units: Map<string, number>): Uint8Array;
}
