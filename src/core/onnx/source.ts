/**
 * ONNX models (.onnx, with or without external data) as a ModelSource. The reduced model is the
 * original file with its changed initializers and shapes rewritten; initializers the original keeps
 * in external data go to one `<name>.onnx.data` file next to it. Verification runs onnxruntime-node.
 */
import * as path from 'path';
import { InputError } from '../errors';
import { ModelSource, registerFormat } from '../source';
import { FloatDtype, encodeFloats } from '../torch/tensors';
import { onnxPredictor } from './predictor';
import { declaredDims, readOnnxModel } from './read';
import { buildOnnxGraph, channelTensors, toStored } from './topology';
import { ShapeEdit, TensorUpdate, writeOnnxModel } from './write';

export async function openOnnxModel(file: string): Promise<ModelSource> {
  const source = await readOnnxModel(file);
  const { graph, weights, bindings, tensors } = buildOnnxGraph(file, source);
  const mainFile = path.basename(source.path);
  const dataFile = `${mainFile}.data`;
  return {
    format: 'onnx',
    path: source.path,
    files: [source.path, ...source.externalFiles],
    graph,
    weights,
    mainFile,
    encode(changed, units) {
      if (source.externalElsewhere) {
        throw new InputError(file, `tensor "${source.externalElsewhere}" keeps its data in an external file outside the graph's initializers; writing such models is not supported`);
      }
      const updates = new Map<string, TensorUpdate>();
      const shapes = new Map<string, ShapeEdit>();
      for (const [name, tensor] of changed) {
        const stored = source.initializers.get(name)!;
        const back = toStored(tensor, bindings.get(name)!, stored.dims);
        updates.set(name, { dims: back.shape, bytes: encodeFloats(stored.dtype as FloatDtype, back.data) });
        // Where initializers are also listed as graph inputs (IR < 4), their declared shapes follow.
        shapes.set(name, () => back.shape);
      }
      for (const [name, kept] of units) {
        const layer = graph.byName.get(name)!;
        const conv = layer.className === 'Conv2D';
        const before = Number(conv ? layer.config.filters : layer.config.units);
        for (const t of channelTensors(graph, tensors, layer)) shapes.set(t, resizeChannels(before, kept, conv));
      }
      const { model, data } = writeOnnxModel(source, updates, shapes, dataFile);
      return data ? [{ name: mainFile, data: model }, { name: dataFile, data }] : [{ name: mainFile, data: model }];
    },
    async predictor() {
      const initializers = source.initializers;
      const inputs = (source.graph.input ?? [])
        .filter((i) => !initializers.has(i.name ?? ''))
        .map((i) => ({ name: i.name ?? '', elemType: i.type?.tensorType?.elemType ?? 0, dims: declaredDims(i) }));
      const first = graph.outputs.length ? graph.byName.get(graph.outputs[0])! : null;
      return onnxPredictor(source.path, inputs, first?.className === 'Softmax');
    },
  };
}

registerFormat(['.onnx'], openOnnxModel);

/**
 * A declared shape with a layer's channels resized: axis 1 of NCHW images from a convolution, else
 * the last axis (Dense outputs, and Flatten outputs, where each channel spans its positions).
 */
function resizeChannels(before: number, after: number, conv: boolean): ShapeEdit {
  return (dims) => {
    const axis = conv && dims.length === 4 ? 1 : dims.length - 1;
    const size = dims[axis];
    if (size === null || size % before !== 0) return dims;
    const resized = dims.slice();
    resized[axis] = (size / before) * after;
    return resized;
  };
}
