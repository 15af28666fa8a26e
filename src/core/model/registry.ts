/**
 * A model file in any supported format, as the engine sees it: the graph (in Keras vocabulary,
 * weights in the engine's layout), how to write a reduced copy in the same format, and how to run
 * it for the fidelity check. Each format implements this once; analysis, merge and verification
 * are shared.
 */
import * as path from 'path';
import type { Backend } from '../compute/backend';
import { InputError } from './errors';
import { DEFAULT_MAX_MODEL_BYTES, FileStamp, ModelReading } from './files';
import { ModelGraph } from './graph';
import { checkGraph } from '../structure/checks';
import { OutputFile } from '../reduction/output';
import { NamedWeight, Tensor } from './tensor';

/** Runs a model on a batch (for verification). */
export interface Predictor {
  /** Per input, the shape of one sample (null where unknown: the samples then decide). */
  inputShapes: (number | null)[][];
  /** True when the first output is a softmax classification. */
  classifier: boolean;
  /** `shapes` are the samples' own, inputShapes with every unknown size filled in. */
  run(inputs: Float32Array[], samples: number, shapes: number[][]): Promise<Float32Array[]>;
  dispose(): void;
}

/** How a runner is set up; runtimes that cannot follow an option ignore it (the timing says so). */
interface PredictorOptions {
  /** Intra-op threads (onnxruntime's intraOpNumThreads); absent: the runtime's default. */
  threads?: number;
}

export interface ModelSource {
  /** e.g. "tfjs-layers". */
  format: string;
  /** Absolute path of the model file. */
  path: string;
  /** The model file and everything it reads (weight shards, external data): a change to any makes an analysis stale. */
  files: string[];
  graph: ModelGraph;
  /** Every weight in file order (those no layer owns are carried through unchanged). */
  weights: NamedWeight[];
  /** Name of the model file inside a folder this source writes. */
  mainFile: string;
  /** The reduced model's files: `changed` holds new weight values by name, `units` new widths by layer. */
  encode(changed: Map<string, Tensor>, units: Map<string, number>): OutputFile[];
  predictor(backend: Backend, options?: PredictorOptions): Promise<Predictor>;
  /** Every file read for the model as it was before it was read (size, mtime, inode). */
  fingerprint: FileStamp[];
  /** Refuses (InputError) when a file of the model changed since it was read: the analysis is stale. */
  checkUnchanged(): Promise<void>;
}

/** What a format's opener returns; openModel adds the fingerprint. */
export type OpenedModel = Omit<ModelSource, 'fingerprint' | 'checkUnchanged'>;

/** What a format may need beyond the file: weights-only formats carry no activations. */
export interface OpenOptions {
  /** Activation between inferred layers of a weights-only file (Keras name, e.g. "relu", "gelu"). */
  activation?: string;
  /** Limit on the bytes the model's tensors declare, all together, and on its files (default 2 GiB). */
  maxModelBytes?: number;
}

/** The format families, by the file extensions their readers take. */
export type ModelFileKind = 'tfjs' | 'onnx' | 'keras' | 'torch';

const MODEL_FILE_KINDS: ReadonlyMap<string, ModelFileKind> = new Map([
  ['.json', 'tfjs'],
  ['.onnx', 'onnx'],
  ['.h5', 'keras'],
  ['.hdf5', 'keras'],
  ['.keras', 'keras'],
  ['.pt', 'torch'],
  ['.pth', 'torch'],
  ['.safetensors', 'torch'],
]);

/** Extensions (with the dot, lower case) of every file that can be a model. */
export const MODEL_FILE_EXTENSIONS: readonly string[] = [...MODEL_FILE_KINDS.keys()];

/**
 * Which format family would read `file`, by its name alone (content decides whether it really is a
 * model); undefined for a file no format reads. Pure: the extension host asks it without loading any reader.
 */
export function modelFileKind(file: string): ModelFileKind | undefined {
  return MODEL_FILE_KINDS.get(path.extname(file).toLowerCase());
}

/** An opener reads every file of the model through `reading`, which holds the byte budget and the files' stamps. */
export type OpenerOptions = OpenOptions & { reading: ModelReading };

type Opener = (file: string, options: OpenerOptions) => Promise<OpenedModel>;
const openers = new Map<string, Opener>();

/** Formats register by file extension (`.json` for TF.js); only extensions the rule above names. */
export function registerFormat(extensions: string[], open: Opener): void {
  for (const ext of extensions) {
    if (!MODEL_FILE_KINDS.has(ext)) throw new Error(`registerFormat: ${ext} is not in MODEL_FILE_KINDS`);
    openers.set(ext, open);
  }
}

export async function openModel(file: string, options: OpenOptions = {}): Promise<ModelSource> {
  const open = openers.get(path.extname(file).toLowerCase());
  if (!open) {
    throw new InputError(file, `unsupported model format "${path.extname(file) || path.basename(file)}" (supported: ${[...openers.keys()].join(', ')})`);
  }
  const reading = new ModelReading(options.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES);
  const opened = await open(file, { ...options, reading });
  checkGraph(file, opened.graph);
  await reading.checkUnchanged(file);
  return { ...opened, fingerprint: reading.fingerprint(), checkUnchanged: () => reading.checkUnchanged(file) };
}
