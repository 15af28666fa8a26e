/**
 * The ONNX graph as the engine's graph, in Keras vocabulary: Gemm, and MatMul with an optional Add
 * of a bias → Dense; Conv → Conv2D; BatchNormalization; activations (GELU and SiLU also as PyTorch
 * exports them: Div by √2 → Erf → Add 1 → Mul x → Mul 0.5, and Sigmoid → Mul x); pooling; Flatten
 * and Reshape to [batch, -1]; Add/Concat/Mul/… of several branches. Every other node becomes a layer
 * the engine does not analyse; Identity and Dropout are skipped. A Conv with one input channel per group
 * and one filter per group (group = channels) is a DepthwiseConv2D.
 *
 * Weights the engine analyses are given in its layout (Dense [in, out], Conv2D [kh, kw, in, out]);
 * the bindings say how they sit in the file. 4-D tensors are taken as NCHW: their shapes are given
 * channels-last (H, W, C) as the engine expects, and a Flatten of one is marked channel-major.
 */
import { onnx } from 'onnx-proto';
import { InputError } from '../../model/errors';
import { inferShapes, LayerNode, makeGraph, ModelGraph, Shape } from '../../model/graph';
import { NamedWeight, sizeOf, Tensor, transpose } from '../../model/tensor';
import { decodeTensor, isFloatDtype } from '../../codecs/dtypes';
import { declaredDims, Int64, OnnxModelFile, tensorValues, toNumber } from './read';

/** How an engine weight sits in the file. */
export interface WeightBinding {
  /** The ONNX axis of each engine axis; null: the engine holds the values as a vector (a bias of shape [1, out]). */
  perm: number[] | null;
  /** The engine holds scale × the stored values (Gemm's alpha and beta). */
  scale: number;
}

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

/** Element-wise activations: ONNX op → Keras class and config (null: not with these attributes). */
const ACTIVATIONS: Record<string, (node: Node) => { className: string; config: Record<string, unknown> } | null> = {
  Relu: () => keras('relu'),
  Tanh: () => keras('tanh'),
  Sigmoid: () => keras('sigmoid'),
  Softplus: () => keras('softplus'),
  Softsign: () => keras('softsign'),
  Mish: () => keras('mish'),
  LeakyRelu: (n) => ({ className: 'LeakyReLU', config: { alpha: n.float('alpha', 0.01) } }),
  Elu: (n) => ({ className: 'ELU', config: { alpha: n.float('alpha', 1) } }),
  Gelu: (n) => keras(n.string('approximate', 'none') === 'tanh' ? 'gelu_new' : 'gelu'),
  // Only with the defaults do these match the Keras functions.
  Selu: (n) => (near(n.float('alpha', 1.67326319), 1.67326319) && near(n.float('gamma', 1.05070102), 1.05070102) ? keras('selu') : null),
  HardSigmoid: (n) => (near(n.float('alpha', 0.2), 0.2) && near(n.float('beta', 0.5), 0.5) ? keras('hard_sigmoid') : null),
};

/** Ops that merge several branches, by their Keras class. */
const MERGES: Record<string, string> = {
  Add: 'Add', Sum: 'Add', Sub: 'Subtract', Mul: 'Multiply', Max: 'Maximum', Min: 'Minimum', Mean: 'Average', Concat: 'Concatenate',
};

/** Ops whose output has the rank of their first input (for the rank of tensors nothing declares). */
const RANK_PRESERVING = new Set([
  'Abs', 'Neg', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Cast', 'Clip', 'Transpose', 'Pad', 'Resize', 'Upsample', 'LRN',
  'InstanceNormalization', 'LayerNormalization', 'Softmax', 'LogSoftmax', 'HardSwish', 'PRelu', 'Div', 'Pow', 'Where',
]);

/** Constants with more values are not read (their values never decide how a node is mapped). */
const SMALL = 16;

/** ONNX op types spelled like a Keras class the engine interprets: when left unmapped they are renamed. */
const KERAS_SPELLED = new Set(['Add', 'Flatten', 'BatchNormalization', 'Softmax']);

function keras(activation: string): { className: string; config: Record<string, unknown> } {
  return { className: 'Activation', config: { activation } };
}

function near(a: number | null, b: number): boolean {
  return a !== null && Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
}

/** A node with typed access to its attributes. */
class Node {
  readonly op: string;
  readonly inputs: string[];
  readonly outputs: string[];

  constructor(
    readonly proto: onnx.INodeProto,
    readonly index: number,
  ) {
    // Custom domains (com.microsoft, …) define their own ops: keep them apart from the standard ones.
    const domain = proto.domain && proto.domain !== 'ai.onnx' ? `${proto.domain}::` : '';
    this.op = `${domain}${proto.opType ?? ''}`;
    this.inputs = proto.input ?? [];
    this.outputs = (proto.output ?? []).filter((t) => t !== '');
  }

  get name(): string {
    return this.proto.name || `${this.op}_${this.index}`;
  }

  private attr(name: string): onnx.IAttributeProto | undefined {
    return this.proto.attribute?.find((a) => a.name === name);
  }

  int(name: string, fallback: number): number {
    const a = this.attr(name);
    return a ? toNumber(a.i) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.attr(name);
    return a ? (a.f ?? 0) : fallback;
  }

  ints(name: string): number[] | null {
    const a = this.attr(name);
    return a ? (a.ints ?? []).map(toNumber) : null;
  }

  string(name: string, fallback: string): string {
    const a = this.attr(name);
    return a?.s ? new TextDecoder().decode(a.s) : fallback;
  }

  /** A Constant node's value, when it is small: only scalars and shapes are ever looked at. */
  constant(file: string): Tensor | null {
    const a = this.proto.attribute?.[0];
    if (!a || sizeOf((a.t?.dims ?? []).map(toNumber)) > SMALL || Math.max(a.floats?.length ?? 0, a.ints?.length ?? 0) > SMALL) return null;
    const floats = (values: number[]): Tensor => ({ shape: [values.length], dtype: 'float32', data: Float32Array.from(values) });
    const ints = (values: Int64[]): Tensor => ({ shape: [values.length], dtype: 'int32', data: Int32Array.from(values, toNumber) });
    switch (a.name) {
      case 'value': return a.t ? tensorValues(file, a.t) : null;
      case 'value_float': return { ...floats([a.f ?? 0]), shape: [] };
      case 'value_floats': return floats(a.floats ?? []);
      case 'value_int': return { ...ints([a.i ?? 0]), shape: [] };
      case 'value_ints': return ints(a.ints ?? []);
      default: return null;
    }
  }
}

export function buildOnnxGraph(file: string, source: OnnxModelFile): OnnxGraph {
  return new GraphBuilder(file, source).build();
}

class GraphBuilder {
  private readonly nodes: Node[];
  /** Decoded initializers (ONNX layout). */
  private readonly stored = new Map<string, NamedWeight>();
  /** Initializers holding NaN or infinities: constants (masks), refused only where read as a layer's weight. */
  private readonly unreadable = new Map<string, InputError>();
  /** Tensors known before the graph runs: initializers, Constant outputs; values where readable. */
  private readonly constants = new Map<string, Tensor | null>();
  private readonly producer = new Map<string, number>();
  private readonly consumers = new Map<string, number[]>();
  /** How often each name is read (node inputs, subgraphs, graph outputs): a weight read twice is tied. */
  private readonly reads = new Map<string, number>();
  private readonly graphOutputs: Set<string>;
  private readonly ranks = new Map<string, number | null>();
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
    const graph = source.graph;
    this.nodes = (graph.node ?? []).map((n, i) => new Node(n, i));
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    for (const init of source.initializers.values()) {
      this.ranks.set(init.name, init.dims.length);
      this.constants.set(init.name, null);
      if (!init.dtype || !init.bytes) continue;
      try {
        const decoded = decodeTensor(file, { name: init.name, dtype: init.dtype, shape: init.dims, bytes: init.bytes });
        this.stored.set(init.name, decoded);
        this.constants.set(init.name, decoded);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        this.unreadable.set(init.name, e);
      }
    }
    for (const sparse of graph.sparseInitializer ?? []) if (sparse.values?.name) this.constants.set(sparse.values.name, null);
    for (const info of [...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
      const dims = declaredDims(info);
      if (info.name && dims) this.ranks.set(info.name, dims.length);
    }
    for (const node of this.nodes) {
      if (node.op === 'Constant') for (const t of node.outputs) this.constants.set(t, node.constant(file));
      for (const t of node.outputs) this.producer.set(t, node.index);
      for (const t of node.inputs) {
        if (!t) continue;
        const readers = this.consumers.get(t);
        if (readers) readers.push(node.index);
        else this.consumers.set(t, [node.index]);
      }
    }
    countReads(graph, this.reads);
  }

  build(): OnnxGraph {
    const graph = this.source.graph;
    const inputs: string[] = [];
    for (const input of graph.input ?? []) {
      const name = input.name ?? '';
      if (this.constants.has(name)) continue; // an initializer listed as an input too (IR < 4)
      const shape = declaredDims(input);
      this.ranks.set(name, shape ? shape.length : null);
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
      if (node.op === 'Identity' || node.op === 'Dropout') {
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
      .filter((init) => init.dtype && isFloatDtype(init.dtype) && this.stored.has(init.name))
      .map((init) => this.engineWeights.get(init.name) ?? this.stored.get(init.name)!);
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
      const later = this.producer.get(t);
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
      const weight = toEngine(this.stored.get(name)!, binding);
      this.engineWeights.set(name, weight);
      this.bindings.set(name, binding);
      layer.weights.set(role, weight);
    }
    const outputs = spec.nodes.flatMap((i) => this.nodes[i].outputs);
    for (const t of outputs) this.layerOf.set(t, layer.name);
    const last = this.nodes[spec.nodes[spec.nodes.length - 1]];
    for (const t of last.outputs) if (this.ranks.get(t) == null) this.ranks.set(t, spec.rank);
    this.tensors.set(layer.name, outputs);
    this.layerNodes.set(layer.name, spec.nodes);
  }

  /** Identity and Dropout (inference) pass their input on: their output is the same tensor. */
  private alias(node: Node): void {
    const [input] = node.inputs;
    const [output] = node.outputs;
    if (!output) return;
    if (this.constants.has(input)) {
      this.constants.set(output, this.constants.get(input)!);
      return;
    }
    const layer = this.layerOf.get(input);
    if (!layer) throw new InputError(this.file, `node "${node.name}" reads "${input}", which nothing computes before it`);
    this.layerOf.set(output, layer);
    this.tensors.get(layer)!.push(output);
    if (this.ranks.get(output) == null) this.ranks.set(output, this.rank(input));
  }

  private match(node: Node): LayerSpec {
    const dynamic = node.inputs.filter((t) => this.isDynamic(t));
    const rank = this.rank(dynamic[0]);
    // Op types come from the file: own keys only, so that "constructor" is no activation.
    const activation = Object.hasOwn(ACTIVATIONS, node.op) ? ACTIVATIONS[node.op](node) : null;
    if (activation && dynamic.length === 1) return { ...activation, nodes: [node.index], inputs: dynamic, rank };
    const mapped = this.matchOp(node, dynamic, rank);
    if (mapped) return mapped;
    const className = KERAS_SPELLED.has(node.op) ? `onnx::${node.op}` : node.op;
    const declared = node.outputs.length ? this.ranks.get(node.outputs[0]) ?? null : null;
    return { className, config: {}, nodes: [node.index], inputs: dynamic, rank: declared ?? (RANK_PRESERVING.has(node.op) ? rank : null) };
  }

  private matchOp(node: Node, dynamic: string[], rank: number | null): LayerSpec | null {
    const base = { nodes: [node.index], inputs: dynamic, rank };
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
        const target = this.constants.get(node.inputs[1]);
        const [batch, width] = target?.data ?? [];
        if (dynamic.length !== 1 || target?.data.length !== 2 || width !== -1 || batch < -1) return null;
        return { ...base, className: 'Flatten', config: {}, rank: 2, channelMajor: rank === 4 };
      }
      case 'Softmax':
        return { ...base, className: 'Softmax', config: { axis: node.int('axis', -1) } };
      case 'Clip': {
        // ReLU6 and ReLU as exporters write them: bounds as attributes (opset < 11) or constant inputs.
        const low = node.inputs[1] ? this.scalar(node.inputs[1]) : node.float('min', -Infinity);
        const high = node.inputs[2] ? this.scalar(node.inputs[2]) : node.float('max', Infinity);
        if (dynamic.length !== 1 || low !== 0) return null;
        if (high === 6) return { ...base, ...keras('relu6') };
        return high === Infinity || high !== null && high > 3.4e38 ? { ...base, ...keras('relu') } : null;
      }
      default: {
        const merge = Object.hasOwn(MERGES, node.op) ? MERGES[node.op] : undefined;
        if (!merge || dynamic.length < 2) return null;
        const ranks = dynamic.map((t) => this.rank(t));
        const merged = ranks.every((r) => r !== null) ? Math.max(...(ranks as number[])) : null;
        const config = merge === 'Concatenate' && rank !== null ? { axis: kerasAxis(node.int('axis', 1), rank) } : {};
        return { ...base, className: merge, config, rank: merge === 'Concatenate' ? rank : merged };
      }
    }
  }

  private gemm(node: Node): LayerSpec | null {
    const [a, b, c] = node.inputs;
    const kernel = this.weight(b);
    if (!this.isDynamic(a) || node.int('transA', 0) !== 0 || kernel?.shape.length !== 2) return null;
    const transB = node.int('transB', 0) === 1;
    const units = kernel.shape[transB ? 0 : 1];
    const beta = node.float('beta', 1);
    const weights: LayerSpec['weights'] = [['kernel', b, { perm: transB ? [1, 0] : [0, 1], scale: node.float('alpha', 1) }]];
    if (c) {
      if (!isUnitVector(this.weight(c), units)) return null;
      if (beta !== 0) weights.push(['bias', c, { perm: null, scale: beta }]);
    }
    return { className: 'Dense', config: dense(units, weights.length > 1), nodes: [node.index], inputs: [a], weights, rank: 2 };
  }

  private matMul(node: Node): LayerSpec | null {
    const [x, w] = node.inputs;
    const kernel = this.weight(w);
    const rank = this.rank(x);
    if (!this.isDynamic(x) || kernel?.shape.length !== 2 || (rank !== null && rank < 2)) return null;
    const units = kernel.shape[1];
    const weights: LayerSpec['weights'] = [['kernel', w, { perm: [0, 1], scale: 1 }]];
    const nodes = [node.index];
    // A bias Add right after (how PyTorch exports Linear on inputs of more than two dimensions).
    const add = this.soleConsumer(node.outputs[0], 'Add');
    const bias = add?.inputs.find((t) => t !== node.outputs[0]);
    if (add && bias && isUnitVector(this.weight(bias), units)) {
      weights.push(['bias', bias, { perm: null, scale: 1 }]);
      nodes.push(add.index);
    }
    return { className: 'Dense', config: dense(units, weights.length > 1), nodes, inputs: [x], weights, rank };
  }

  private conv(node: Node): LayerSpec | null {
    const [x, w, b] = node.inputs;
    const kernel = this.weight(w);
    if (!this.isDynamic(x) || kernel?.shape.length !== 4) return null;
    const [filters, perGroup, kh, kw] = kernel.shape;
    const groups = node.int('group', 1);
    // One input channel and one filter per group: a filter per channel, held as Keras holds it ([kh, kw, C, 1]).
    const depthwise = groups > 1 && groups === filters && perGroup === 1;
    const weights: LayerSpec['weights'] = depthwise
      ? [['depthwise_kernel', w, { perm: [2, 3, 0, 1], scale: 1 }]]
      : [['kernel', w, { perm: [2, 3, 1, 0], scale: 1 }]];
    if (b) {
      if (!isUnitVector(this.weight(b), filters)) return null;
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
    const vectors = params.map((t) => this.weight(t));
    const channels = vectors[0]?.shape[0];
    const rank = this.rank(x);
    if (!this.isDynamic(x) || node.int('training_mode', 0) !== 0 || node.outputs.length > 1) return null;
    if (vectors.length !== 4 || vectors.some((v) => v?.shape.length !== 1 || v.shape[0] !== channels)) return null;
    const roles = ['gamma', 'beta', 'moving_mean', 'moving_variance'];
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

  // ---- multi-node patterns -------------------------------------------------------------------

  /** GELU and SiLU spelled out in elementary ops, by the index of their first node. */
  private fusedPatterns(): Map<number, LayerSpec> {
    const found = new Map<number, LayerSpec>();
    for (const node of this.nodes) {
      const spec = node.op === 'Erf' ? this.gelu(node) : node.op === 'Sigmoid' ? this.silu(node) : null;
      if (spec) found.set(Math.min(...spec.nodes), spec);
    }
    return found;
  }

  /** x / √2 (or x · 1/√2) → Erf → + 1 → · x → · 0.5, or the halving first: (x · 0.5) · (1 + erf). */
  private gelu(erf: Node): LayerSpec | null {
    const scaled = this.producerOf(erf.inputs[0]);
    if (!scaled || this.consumersOf(scaled.outputs[0]).length !== 1) return null;
    const x = scaled.op === 'Div' && near(this.scalar(scaled.inputs[1]), Math.SQRT2) ? scaled.inputs[0] : this.scaledBy(scaled, Math.SQRT1_2);
    const plusOne = this.soleConsumer(erf.outputs[0], 'Add');
    const product = plusOne && near(this.other(plusOne, erf.outputs[0]), 1) ? this.soleConsumer(plusOne.outputs[0], 'Mul') : null;
    if (!x || !this.isDynamic(x) || !product) return null;
    const factor = product.inputs.find((t) => t !== plusOne!.outputs[0]);
    const common = { className: 'Activation', config: { activation: 'gelu' }, inputs: [x], rank: this.rank(x) };
    if (factor === x) {
      const half = this.soleConsumer(product.outputs[0], 'Mul');
      if (!half || !near(this.other(half, product.outputs[0]), 0.5)) return null;
      return { ...common, nodes: [scaled.index, erf.index, plusOne!.index, product.index, half.index] };
    }
    const halving = factor ? this.producerOf(factor) : null;
    if (!halving || this.scaledBy(halving, 0.5) !== x || this.consumersOf(factor!).length !== 1) return null;
    return { ...common, nodes: [halving.index, scaled.index, erf.index, plusOne!.index, product.index] };
  }

  /** x · sigmoid(x). */
  private silu(sigmoid: Node): LayerSpec | null {
    const x = sigmoid.inputs[0];
    const product = this.soleConsumer(sigmoid.outputs[0], 'Mul');
    if (!this.isDynamic(x) || !product || !product.inputs.includes(x)) return null;
    return { className: 'Activation', config: { activation: 'swish' }, nodes: [sigmoid.index, product.index], inputs: [x], rank: this.rank(x) };
  }

  /** The dynamic operand of a Mul by the constant `factor`. */
  private scaledBy(node: Node, factor: number): string | null {
    if (node.op !== 'Mul') return null;
    const operand = node.inputs.find((t) => this.isDynamic(t));
    return operand && near(this.other(node, operand), factor) ? operand : null;
  }

  /** The scalar value of a binary node's other operand. */
  private other(node: Node, operand: string): number | null {
    const other = node.inputs.find((t) => t !== operand);
    return other === undefined ? null : this.scalar(other);
  }

  // ---- tensors -------------------------------------------------------------------------------

  private isDynamic(t: string | undefined): t is string {
    return !!t && !this.constants.has(t);
  }

  private scalar(t: string): number | null {
    const value = this.constants.get(t);
    return value && value.data.length === 1 ? value.data[0] : null;
  }

  /** A float initializer read by this one node only: a weight the engine may change. */
  private weight(t: string | undefined): NamedWeight | null {
    const unreadable = t ? this.unreadable.get(t) : undefined;
    if (unreadable) throw unreadable;
    const w = t ? this.stored.get(t) : undefined;
    return w && w.dtype === 'float32' && this.reads.get(t!) === 1 ? w : null;
  }

  private rank(t: string | undefined): number | null {
    return t ? this.ranks.get(t) ?? null : null;
  }

  private producerOf(t: string): Node | null {
    const index = this.producer.get(t);
    return index === undefined ? null : this.nodes[index];
  }

  private consumersOf(t: string): number[] {
    return this.graphOutputs.has(t) ? [-1] : this.consumers.get(t) ?? [];
  }

  /** The one node reading `t`, when it is of the given op and `t` is not also a graph output. */
  private soleConsumer(t: string, op: string): Node | null {
    const readers = this.consumersOf(t);
    return readers.length === 1 && readers[0] >= 0 && this.nodes[readers[0]].op === op ? this.nodes[readers[0]] : null;
  }
}

function dense(units: number, useBias: boolean): Record<string, unknown> {
  return { units, activation: 'linear', use_bias: useBias };
}

/** A bias: `units` values along the last axis, every other axis 1 ([out] or [1, out]). */
function isUnitVector(w: NamedWeight | null, units: number): boolean {
  return !!w && w.shape.length >= 1 && w.shape[w.shape.length - 1] === units && sizeOf(w.shape) === units;
}

/** Conv/pool padding as graph.ts reads it: "same", "valid" or [[top, bottom], [left, right]]. */
function padding(node: Node, strides: number[], ceilMode: boolean): unknown {
  const auto = node.string('auto_pad', 'NOTSET');
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') return 'same';
  const [top, left, bottom, right] = auto === 'VALID' ? [0, 0, 0, 0] : node.ints('pads') ?? [0, 0, 0, 0];
  // Rounding the output size up is padding the end by stride − 1 more.
  const [extraH, extraW] = ceilMode ? [strides[0] - 1, strides[1] - 1] : [0, 0];
  if (top + left + bottom + right + extraH + extraW === 0) return 'valid';
  return [[top, bottom + extraH], [left, right + extraW]];
}

/** An ONNX axis as a Keras axis (batch = 0) of the engine's shape: NCHW images are given channels-last. */
function kerasAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  return rank === 4 ? [0, 3, 1, 2][a] : a;
}

/** A shape with the batch axis, channels-last when it is an NCHW image. */
function channelsLast(shape: Shape): Shape {
  return shape.length === 4 ? [shape[0], shape[2], shape[3], shape[1]] : shape;
}

/** Counts every read of each name, subgraphs included (they may read the outer graph's initializers). */
function countReads(graph: onnx.IGraphProto, reads: Map<string, number>): void {
  const add = (t: string | null | undefined): void => {
    if (t) reads.set(t, (reads.get(t) ?? 0) + 1);
  };
  for (const node of graph.node ?? []) {
    (node.input ?? []).forEach(add);
    for (const a of node.attribute ?? []) [a.g, ...(a.graphs ?? [])].forEach((g) => g && countReads(g, reads));
  }
  (graph.output ?? []).forEach((o) => add(o.name));
}

/** A stored weight in the engine's layout. */
function toEngine(w: NamedWeight, binding: WeightBinding): NamedWeight {
  const t = binding.perm ? transpose(w, w.shape, binding.perm) : { ...w, shape: [w.data.length] };
  return { ...w, shape: t.shape, data: scaled(t.data, binding.scale) };
}

/** Engine values back in the file's layout: the stored dims with the engine's sizes. */
export function toStored(t: Tensor, binding: WeightBinding, storedDims: number[]): Tensor {
  if (!binding.perm) {
    return { ...t, shape: [...storedDims.slice(0, -1), t.data.length], data: scaled(t.data, 1 / binding.scale) };
  }
  const inverse = binding.perm.map((_, i) => binding.perm!.indexOf(i));
  const back = transpose(t, t.shape, inverse);
  return { ...back, data: scaled(back.data, 1 / binding.scale) };
}

function scaled(data: Float32Array | Int32Array, factor: number): Float32Array | Int32Array {
  if (factor === 1) return data;
  const out = Float32Array.from(data);
  for (let i = 0; i < out.length; i++) out[i] *= factor;
  return out;
}
