/**
 * ONNX models (.onnx, with or without external data) as a ModelSource. The reduced model is the
 * original file with its changed initializers and shapes rewritten; initializers the original keeps
 * in external data go to one `<name>.onnx.data` file next to it. Verification runs onnxruntime-node.
 */
import * as path from 'path';
import { InputError } from '../../model/errors';
import { LayerNode, ModelGraph } from '../../model/graph';
import { OpenedModel, OpenerOptions, registerFormat } from '../../model/registry';
import { FloatDtype, encodeFloats } from '../../codecs/dtypes';
import { onnxPredictor } from './predictor';
import { declaredDims, readOnnxModel } from './read';
import { buildOnnxGraph } from './graph';
import { toStored } from './layout';
import { IntAttributes, ShapeEdit, TensorUpdate, writeOnnxModel } from './write';
import { isCondensable, isSoftmax, layerKind } from '../../structure/layerKinds';

async function openOnnxModel(file: string, options: OpenerOptions): Promise<OpenedModel> {
  const source = await readOnnxModel(file, options.reading);
  const { graph, weights, bindings, tensors, nodes } = buildOnnxGraph(file, source);
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
      const attributes = new Map<number, IntAttributes>();
      for (const [name, { before, after, channelsFirst }] of newWidths(graph, units)) {
        for (const t of tensors.get(name) ?? []) shapes.set(t, resizeChannels(before, after, channelsFirst));
        // A depthwise Conv has one group per channel.
        if (layerKind(graph.byName.get(name)!.className)?.channels === 'depthwise') attributes.set(nodes.get(name)![0], { group: after });
      }
      const { model, data } = writeOnnxModel(source, updates, shapes, dataFile, attributes);
      return data ? [{ name: mainFile, data: model }, { name: dataFile, data }] : [{ name: mainFile, data: model }];
    },
    async predictor(_backend, options) {
      const initializers = source.initializers;
      const inputs = (source.graph.input ?? [])
        .filter((i) => !initializers.has(i.name ?? ''))
        .map((i) => ({ name: i.name ?? '', elemType: i.type?.tensorType?.elemType ?? 0, dims: declaredDims(i) }));
      const first = graph.outputs.length ? graph.byName.get(graph.outputs[0])! : null;
      return onnxPredictor(source.path, inputs, first !== null && isSoftmax(first), options?.threads);
    },
  };
}

registerFormat(['.onnx'], openOnnxModel);

interface Width {
  /** The engine's last axis (channels; features after a Flatten), before and after reduction. */
  before: number;
  after: number;
  /** Its channels come from a convolution: axis 1 of a 4-D (NCHW) tensor. */
  channelsFirst: boolean;
}

/**
 * Every layer whose output width the reduction changes: the reduced layers, and the layers their
 * channels flow through to their consumers (a Flatten multiplies by its positions, a Concatenate
 * adds up its sources).
 */
function newWidths(graph: ModelGraph, units: Map<string, number>): Map<string, Width> {
  const widths = new Map<string, Width>();
  const last = (layer: LayerNode): number | null => (layer.outputShape ? layer.outputShape[layer.outputShape.length - 1] : null);
  for (const layer of graph.layers) {
    const before = last(layer);
    const kept = units.get(layer.name);
    if (before === null) continue;
    const kind = layerKind(layer.className);
    if (kept !== undefined) {
      // A producer with a 4-axis kernel convolves images.
      widths.set(layer.name, { before, after: kept, channelsFirst: kind?.kernelRank === 4 });
      continue;
    }
    const inputs = layer.inbound.map((name) => graph.byName.get(name)!);
    const changed = inputs.find((i) => widths.has(i.name));
    if (isCondensable(layer) || !changed) continue;
    const width = (i: LayerNode): number => widths.get(i.name)?.after ?? last(i)!;
    const after = kind?.channels === 'concatenate'
      ? inputs.reduce((s, i) => s + width(i), 0)
      // Per-channel layers and Add keep the width; a Flatten keeps positions × channels.
      : (before / last(inputs[0])!) * width(inputs[0]);
    widths.set(layer.name, { before, after, channelsFirst: widths.get(changed.name)!.channelsFirst && kind?.channels !== 'flatten' });
  }
  return widths;
}

/**
 * A declared shape with a layer's width resized: axis 1 of NCHW images from a convolution, else the
 * last axis. Left alone where the declared size is not the engine's.
 */
function resizeChannels(before: number, after: number, channelsFirst: boolean): ShapeEdit {
  return (dims) => {
    const axis = channelsFirst && dims.length === 4 ? 1 : dims.length - 1;
    if (dims[axis] !== before) return dims;
    const resized = dims.slice();
    resized[axis] = after;
    return resized;
  };
}
