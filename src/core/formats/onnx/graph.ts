/**
 * The ONNX graph as the engine's graph, in Keras vocabulary: each node (or run of nodes) becomes
 * the layer of the kind the table of layer kinds (structure/layerKinds.ts) names for its op type —
 * Gemm, and MatMul with an optional Add of a bias → Dense; Conv → Conv2D, or DepthwiseConv2D with
 * one input channel and one filter per group; BatchNormalization; activations (GELU and SiLU also
 * spelled out, see patterns.ts); pooling; Flatten and Reshape to [batch, -1]; Add/Concat/Mul/… of
 * several branches. Every other node becomes a layer the engine does not analyse; Identity and
 * Dropout are skipped.
 *
 * Weights the engine analyses are given in its layout (Dense [in, out], Conv2D [kh, kw, in, out]);
 * the bindings say how they sit in the file (layout.ts). 4-D tensors are taken as NCHW: their
 * shapes are given channels-last (H, W, C) as the engine expects, and a Flatten of one is marked
 * channel-major.
 */
import { InputError } from '../../model/errors';
import { LayerNode, makeGraph, ModelGraph } from '../../model/graph';
import { NamedWeight, sizeOf } from '../../model/tensor';
import { isFloatDtype } from '../../codecs/dtypes';
import { inferShapes, layerKind, onnxOpKinds, OnnxOpKinds } from '../../structure/layerKinds';
import { channelsLast, kerasAxis, padding, toEngine, WeightBinding } from './layout';
import { Node } from './node';
import { fusedActivations } from './patterns';
import { declaredDims, OnnxModelFile } from './read';
import { TensorIndex } from './tensors';

export interface OnnxGraph {
  graph: ModelGraph;
  /** Every float initializer in file order (but those holding NaN or infinities: constants), in the engine's layout where a layer reads it. */
  weights: NamedWeight[];
  /** By initializer name: the weights the engine holds in its own layout. */
  bindings: Map<string, WeightBinding>;
  /** By layer: the ONNX tensors it computes (those of fused nodes and skipped Identity/Dropout included). */
  tensors: Map<string, string[]>;
  /** By layer: the indices of the nodes it stands for. */
  nodes: Map<string, number[]>;
}

interface LayerSpec {
  className: string;
  config: Record<string, unknown>;
  /** Indices of the nodes the layer stands for. */
  nodes: number[];
  /** The dynamic tensors it reads. */
  inputs: string[];
  weights?: [role: string, initializer: string, binding: WeightBinding][];
  /** Rank of its output, where known. */
  rank: number | null;
  channelMajor?: boolean;
}

/** Ops whose output has the rank of their first input (for the rank of tensors nothing declares). */
const RANK_PRESERVING = new Set([
  'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Cast', 'Clip', 'Transpose', 'Pad', 'Resize', 'Upsample', 'LRN',
  'InstanceNormalization', 'LayerNormalization', 'Softmax', 'LogSoftmax', 'HardSwish', 'PRelu', 'Div', 'Pow', 'Where',
]);

export function buildOnnxGraph(file: string, source: OnnxModelFile): OnnxGraph {
  return new GraphBuilder(file, source).build();
}

class GraphBuilder {
  private readonly nodes: Node[];
  private readonly index: TensorIndex;
  private readonly layerOf = new Map<string, string>();
  private readonly layers = new Map<string, LayerNode>();
  private readonly tensors = new Map<string, string[]>();
  private readonly layerNodes = new Map<string, number[]>();
  private readonly engineWeights = new Map<string, NamedWeight>();
  private readonly bindings = new Map<string, WeightBinding>();

  constructor(
    private readonly file: string,
    private readonly source: OnnxModelFile,
  ) {
    this.nodes = (source.graph.node ?? []).map((n, i) => new Node(n, i));
    this.index = new TensorIndex(file, source, this.nodes);
  }

  build(): OnnxGraph {
    const graph = this.source.graph;
    const inputs: string[] = [];
    for (const input of graph.input ?? []) {
      const name = input.name ?? '';
      if (this.index.constants.has(name)) continue; // an initializer listed as an input too (IR < 4)
      const shape = declaredDims(input);
      this.index.ranks.set(name, shape ? shape.length : null);
      const node = this.addLayer(name, 'InputLayer', { batch_input_shape: shape ? channelsLast(shape) : undefined }, []);
      inputs.push(node.name);
      this.layerOf.set(name, node.name);
      this.tensors.set(node.name, [name]);
    }

    const fused = this.fusedPatterns();
    const claimed = new Set([...fused.values()].flatMap((spec) => spec.nodes));
    for (const node of this.nodes) {
      const pattern = fused.get(node.index);
      if (!pattern && claimed.has(node.index)) continue;
      if (node.op === 'Constant') continue;
      if (onnxOpKinds(node.op)?.kinds[0].channels === 'identity') {
        this.alias(node);
        continue;
      }
      const spec = pattern ?? this.match(node);
      spec.nodes.forEach((i) => claimed.add(i));
      this.addSpec(node, spec);
    }

    const outputs = [...new Set((graph.output ?? []).map((o) => this.layerOf.get(o.name ?? '')).filter((n): n is string => !!n))];
    const modelGraph = makeGraph(this.file, 'ONNX', [...this.layers.values()], inputs, outputs);
    inferShapes(modelGraph);
    const weights = [...this.source.initializers.values()]
      .filter((init) => init.dtype && isFloatDtype(init.dtype) && this.index.stored.has(init.name))
      .map((init) => this.engineWeights.get(init.name) ?? this.index.stored.get(init.name)!);
    return { graph: modelGraph, weights, bindings: this.bindings, tensors: this.tensors, nodes: this.layerNodes };
  }

  // ---- layers --------------------------------------------------------------------------------

  private addLayer(name: string, className: string, config: Record<string, unknown>, inputs: string[]): LayerNode {
    let unique = name;
    for (let k = 2; this.layers.has(unique); k++) unique = `${name}_${k}`;
    const layer: LayerNode = { name: unique, className, config, inbound: [], outbound: [], shared: false, weights: new Map(), outputShape: null };
    for (const source of new Set(inputs.map((t) => this.layerOf.get(t)!))) {
      layer.inbound.push(source);
      this.layers.get(source)!.outbound.push(unique);
    }
    this.layers.set(unique, layer);
    return layer;
  }

  private addSpec(first: Node, spec: LayerSpec): void {
    for (const t of spec.inputs) {
      if (this.layerOf.has(t)) continue;
      const later = this.index.producer.get(t);
      throw new InputError(
        this.file,
        later !== undefined
          ? `node "${first.name}" reads "${t}" before node "${this.nodes[later].name}" computes it: the nodes are not in topological order`
          : `node "${first.name}" reads "${t}", which is neither a graph input, an initializer nor any node's output`,
      );
    }
    const layer = this.addLayer(first.name, spec.className, spec.config, spec.inputs);
    if (spec.channelMajor) layer.channelMajor = true;
    for (const [role, name, binding] of spec.weights ?? []) {
      const weight = toEngine(this.index.stored.get(name)!, binding);
      this.engineWeights.set(name, weight);
      this.bindings.set(name, binding);
      layer.weights.set(role, weight);
    }
    const outputs = spec.nodes.flatMap((i) => this.nodes[i].outputs);
    for (const t of outputs) this.layerOf.set(t, layer.name);
    const last = this.nodes[spec.nodes[spec.nodes.length - 1]];
    for (const t of last.outputs) if (this.index.ranks.get(t) == null) this.index.ranks.set(t, spec.rank);
    this.tensors.set(layer.name, outputs);
    this.layerNodes.set(layer.name, spec.nodes);
  }

  /** Identity and Dropout (inference) pass their input on: their output is the same tensor. */
  private alias(node: Node): void {
    const [input] = node.inputs;
    const [output] = node.outputs;
    if (!output) return;
    if (this.index.constants.has(input)) {
      this.index.constants.set(output, this.index.constants.get(input)!);
      return;
    }
    const layer = this.layerOf.get(input);
    if (!layer) throw new InputError(this.file, `node "${node.name}" reads "${input}", which nothing computes before it`);
    this.layerOf.set(output, layer);
    this.tensors.get(layer)!.push(output);
    if (this.index.ranks.get(output) == null) this.index.ranks.set(output, this.index.rank(input));
  }

  private match(node: Node): LayerSpec {
    const dynamic = node.inputs.filter((t) => this.index.isDynamic(t));
    const rank = this.index.rank(dynamic[0]);
    const named = onnxOpKinds(node.op);
    const mapped = named ? this.matchNamed(node, named, dynamic, rank) : null;
    if (mapped) return mapped;
    // Left unmapped, an op spelled like a kind the engine interprets is renamed, so as not to pass for one.
    const interpreted = (layerKind(node.op)?.channels ?? 'opaque') !== 'opaque';
    const className = interpreted ? `onnx::${node.op}` : node.op;
    const declared = node.outputs.length ? this.index.ranks.get(node.outputs[0]) ?? null : null;
    return { className, config: {}, nodes: [node.index], inputs: dynamic, rank: declared ?? (RANK_PRESERVING.has(node.op) ? rank : null) };
  }

  /** The layer a node of an op the table of kinds names stands for; null when its attributes, weights or inputs make it something else. */
  private matchNamed(node: Node, named: OnnxOpKinds, dynamic: string[], rank: number | null): LayerSpec | null {
    const base = { nodes: [node.index], inputs: dynamic, rank };
    const [kind] = named.kinds;
    if (named.byAttributes) {
      const config = dynamic.length === 1 ? named.byAttributes(node) : null;
      return config && { ...base, className: kind.className, config };
    }
    if (kind.channels === 'add' || kind.channels === 'concatenate' || kind.channels === 'merging') {
      if (dynamic.length < 2) return null;
      const ranks = dynamic.map((t) => this.index.rank(t));
      const merged = ranks.every((r) => r !== null) ? Math.max(...ranks) : null;
      const concatenate = kind.channels === 'concatenate';
      const config = concatenate && rank !== null ? { axis: kerasAxis(node.int('axis', 1), rank) } : {};
      return { ...base, className: kind.className, config, rank: concatenate ? rank : merged };
    }
    switch (node.op) {
      case 'Gemm':
        return this.gemm(node);
      case 'MatMul':
        return this.matMul(node);
      case 'Conv':
        return this.conv(node);
      case 'BatchNormalization':
        return this.batchNorm(node);
      case 'MaxPool':
      case 'AveragePool': {
        const pool = node.ints('kernel_shape');
        const dilated = (node.ints('dilations') ?? []).some((d) => d !== 1);
        // Pooling per channel only on NCHW images: a 1-D pool over a Dense output would mix units.
        if (rank !== 4 || pool?.length !== 2 || dilated || node.outputs.length > 1) return null;
        const strides = node.ints('strides') ?? [1, 1];
        const className = node.op === 'MaxPool' ? 'MaxPooling2D' : 'AveragePooling2D';
        return { ...base, className, config: { pool_size: pool, strides, padding: padding(node, strides, node.int('ceil_mode', 0) === 1) } };
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        if (rank !== 4) return null;
        return { ...base, className: node.op === 'GlobalAveragePool' ? 'GlobalAveragePooling2D' : 'GlobalMaxPooling2D', config: { keepdims: true } };
      case 'Flatten':
        if (node.int('axis', 1) !== 1) return null;
        return { ...base, className: 'Flatten', config: {}, rank: 2, channelMajor: rank === 4 };
      case 'Reshape': {
        // To [batch, -1]: a flatten. An explicit width would have to change with the units, so it is left alone.
        const target = this.index.constants.get(node.inputs[1]);
        const [batch, width] = target?.data ?? [];
        if (dynamic.length !== 1 || target?.data.length !== 2 || width !== -1 || batch < -1) return null;
        return { ...base, className: 'Flatten', config: {}, rank: 2, channelMajor: rank === 4 };
      }
      case 'Softmax':
        return { ...base, className: 'Softmax', config: { axis: node.int('axis', -1) } };
      case 'Clip': {
        // ReLU6 and ReLU as exporters write them: bounds as attributes (opset < 11) or constant inputs.
        const low = node.inputs[1] ? this.index.scalar(node.inputs[1]) : node.float('min', -Infinity);
        const high = node.inputs[2] ? this.index.scalar(node.inputs[2]) : node.float('max', Infinity);
        if (dynamic.length !== 1 || low !== 0) return null;
        if (high === 6) return { ...base, className: 'Activation', config: { activation: 'relu6' } };
        return high === Infinity || high !== null && high > 3.4e38 ? { ...base, className: 'Activation', config: { activation: 'relu' } } : null;
      }
      default:
        return null;
    }
  }

  private gemm(node: Node): LayerSpec | null {
    const [a, b, c] = node.inputs;
    const kernel = this.index.weight(b);
    if (!this.index.isDynamic(a) || node.int('transA', 0) !== 0 || kernel?.shape.length !== 2) return null;
    const transB = node.int('transB', 0) === 1;
    const units = kernel.shape[transB ? 0 : 1];
    const beta = node.float('beta', 1);
    const weights: LayerSpec['weights'] = [['kernel', b, { perm: transB ? [1, 0] : [0, 1], scale: node.float('alpha', 1) }]];
    if (c) {
      if (!isUnitVector(this.index.weight(c), units)) return null;
      if (beta !== 0) weights.push(['bias', c, { perm: null, scale: beta }]);
    }
    return { className: 'Dense', config: dense(units, weights.length > 1), nodes: [node.index], inputs: [a], weights, rank: 2 };
  }

  private matMul(node: Node): LayerSpec | null {
    const [x, w] = node.inputs;
    const kernel = this.index.weight(w);
    const rank = this.index.rank(x);
    if (!this.index.isDynamic(x) || kernel?.shape.length !== 2 || (rank !== null && rank < 2)) return null;
    const units = kernel.shape[1];
    const weights: LayerSpec['weights'] = [['kernel', w, { perm: [0, 1], scale: 1 }]];
    const nodes = [node.index];
    // A bias Add right after (how PyTorch exports Linear on inputs of more than two dimensions).
    const add = this.index.soleConsumer(node.outputs[0], 'Add');
    const bias = add?.inputs.find((t) => t !== node.outputs[0]);
    if (add && bias && isUnitVector(this.index.weight(bias), units)) {
      weights.push(['bias', bias, { perm: null, scale: 1 }]);
      nodes.push(add.index);
    }
    return { className: 'Dense', config: dense(units, weights.length > 1), nodes, inputs: [x], weights, rank };
  }

  private conv(node: Node): LayerSpec | null {
    const [x, w, b] = node.inputs;
    const kernel = this.index.weight(w);
    if (!this.index.isDynamic(x) || kernel?.shape.length !== 4) return null;
    const [filters, perGroup, kh, kw] = kernel.shape;
    const groups = node.int('group', 1);
    // One input channel and one filter per group: a filter per channel, held as Keras holds it ([kh, kw, C, 1]).
    const depthwise = groups > 1 && groups === filters && perGroup === 1;
    const weights: LayerSpec['weights'] = depthwise
      ? [['depthwise_kernel', w, { perm: [2, 3, 0, 1], scale: 1 }]]
      : [['kernel', w, { perm: [2, 3, 1, 0], scale: 1 }]];
    if (b) {
      if (!isUnitVector(this.index.weight(b), filters)) return null;
      weights.push(['bias', b, { perm: null, scale: 1 }]);
    }
    const strides = node.ints('strides') ?? [1, 1];
    const common = {
      kernel_size: [kh, kw],
      strides,
      dilation_rate: node.ints('dilations') ?? [1, 1],
      padding: padding(node, strides, false),
      activation: 'linear',
      use_bias: !!b,
    };
    if (depthwise) return { className: 'DepthwiseConv2D', config: { ...common, depth_multiplier: 1 }, nodes: [node.index], inputs: [x], weights, rank: 4 };
    return { className: 'Conv2D', config: { filters, ...common, groups }, nodes: [node.index], inputs: [x], weights, rank: 4 };
  }

  private batchNorm(node: Node): LayerSpec | null {
    const [x, ...params] = node.inputs;
    const vectors = params.map((t) => this.index.weight(t));
    const channels = vectors[0]?.shape[0];
    const rank = this.index.rank(x);
    if (!this.index.isDynamic(x) || node.int('training_mode', 0) !== 0 || node.outputs.length > 1) return null;
    if (vectors.length !== 4 || vectors.some((v) => v?.shape.length !== 1 || v.shape[0] !== channels)) return null;
    // ONNX's inputs come in Keras' weight order: scale, bias, mean, variance.
    const roles = layerKind('BatchNormalization')!.weights;
    return {
      className: 'BatchNormalization',
      // ONNX normalises axis 1; in the engine's channels-last shapes that is the last axis only for 2-D and 4-D tensors.
      config: { axis: rank === null ? null : kerasAxis(1, rank), epsilon: node.float('epsilon', 1e-5) },
      nodes: [node.index],
      inputs: [x],
      weights: params.map((t, i) => [roles[i], t, { perm: null, scale: 1 }]),
      rank,
    };
  }

  /** Activations spelled out in elementary ops (patterns.ts), as layers, by the index of their first node. */
  private fusedPatterns(): Map<number, LayerSpec> {
    const specs = new Map<number, LayerSpec>();
    for (const [first, fused] of fusedActivations(this.nodes, this.index)) {
      specs.set(first, { className: 'Activation', config: { activation: fused.activation }, nodes: fused.nodes, inputs: [fused.input], rank: this.index.rank(fused.input) });
    }
    return specs;
  }
}

function dense(units: number, useBias: boolean): Record<string, unknown> {
  return { units, activation: 'linear', use_bias: useBias };
}

/** A bias: `units` values along the last axis, every other axis 1 ([out] or [1, out]). */
function isUnitVector(w: NamedWeight | null, units: number): boolean {
  return !!w && w.shape.length >= 1 && w.shape[w.shape.length - 1] === units && sizeOf(w.shape) === units;
}
