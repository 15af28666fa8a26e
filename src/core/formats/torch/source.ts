/**
 * PyTorch weights as a ModelSource: `torch.save(model.state_dict())` files (.pt, .pth) and
 * safetensors files. The graph is inferred from the weights (see chain.ts); a reduced model is
 * always written as safetensors, every tensor in its original dtype and order.
 */
import * as path from 'path';
import { ModelReading } from '../../model/files';
import { OpenedModel, OpenerOptions, registerFormat } from '../../model/registry';
import { NamedWeight } from '../../model/tensor';
import { inferChains } from './chain';
import { buildTorchGraph, weightLayout, WeightLayout } from './graph';
import { torchPredictor } from './predictor';
import { parseTorchFile } from './pt';
import { encodeSafetensors, parseSafetensors } from './safetensors';
import { decodeTensor, encodeFloats, isFloatDtype, RawTensor } from '../../codecs/dtypes';

const DEFAULT_ACTIVATION = 'relu';

async function openTorchModel(file: string, options: OpenerOptions): Promise<OpenedModel> {
  const modelPath = path.resolve(file);
  const bytes = await options.reading.read(file, modelPath);
  const safetensors = path.extname(file).toLowerCase() === '.safetensors';
  const { tensors, metadata, moduleOrder } = safetensors ? readSafetensors(file, bytes, options.reading) : readStateDict(file, bytes, options.reading);
  const layout = inferChains(moduleOrder);

  const layouts = new Map<string, WeightLayout>();
  for (const layer of layout.chains.flat()) layouts.set(layer.weight.name, weightLayout(layer));
  const weights: NamedWeight[] = tensors.map((raw) => {
    const decoded = decodeTensor(file, raw);
    const toEngine = layouts.get(raw.name)?.toEngine;
    return toEngine ? { ...decoded, ...toEngine(decoded) } : decoded;
  });
  const graph = buildTorchGraph(file, layout, new Map(weights.map((w) => [w.name, w])), options.activation ?? DEFAULT_ACTIVATION);
  const mainFile = `${path.basename(file, path.extname(file))}.safetensors`;

  return {
    format: safetensors ? 'safetensors' : 'pytorch',
    path: modelPath,
    files: [modelPath],
    graph,
    weights,
    mainFile,
    encode(changed) {
      const written = tensors.map((raw): RawTensor => {
        const tensor = changed.get(raw.name);
        if (!tensor) return raw;
        if (!isFloatDtype(raw.dtype)) throw new Error(`internal: integer tensor ${raw.name} was changed`);
        const back = layouts.get(raw.name)?.toTorch(tensor) ?? tensor;
        return { name: raw.name, dtype: raw.dtype, shape: back.shape, bytes: encodeFloats(raw.dtype, back.data) };
      });
      // torch-derived safetensors files say so, which loaders such as transformers look for.
      return [{ name: mainFile, data: encodeSafetensors(written, metadata ?? { format: 'pt' }) }];
    },
    async predictor(backend) {
      return torchPredictor(backend.tf, file, graph, layout.chains);
    },
  };
}

interface StateDict {
  /** In file order, which the writer keeps. */
  tensors: RawTensor[];
  metadata: Record<string, string> | null;
  /** In the order of the model's modules, for chain inference. */
  moduleOrder: RawTensor[];
}

function readStateDict(file: string, bytes: Buffer, reading: ModelReading): StateDict {
  const tensors = parseTorchFile(file, bytes, reading);
  return { tensors, metadata: null, moduleOrder: tensors };
}

/**
 * The safetensors library writes tensors sorted by dtype and name, which puts "net.10" before
 * "net.2". A file in that order is read in natural order instead (numbers compared as numbers),
 * which is the module order of nn.Sequential and of numbered names (fc1, fc2, …, fc10). A file in
 * any other order (written from a state dict, like this tool's output) is taken as it is.
 */
function readSafetensors(file: string, bytes: Buffer, reading: ModelReading): StateDict {
  const { tensors, metadata } = parseSafetensors(file, bytes, reading);
  const sortedByLibrary = tensors.every((t, i) => i === 0 || t.dtype !== tensors[i - 1].dtype || tensors[i - 1].name < t.name);
  const natural = new Intl.Collator('en', { numeric: true }).compare;
  const moduleOrder = sortedByLibrary ? [...tensors].sort((a, b) => natural(a.name, b.name)) : tensors;
  return { tensors, metadata, moduleOrder };
}

registerFormat(['.pt', '.pth', '.safetensors'], openTorchModel);
