/**
 * What the ONNX graph builder knows about tensors before mapping any node: decoded initializers,
 * constants, declared ranks, which node computes and which nodes read each tensor, and how often
 * each is read (a weight read twice is tied and left alone).
 */
import { onnx } from 'onnx-proto';
import { InputError } from '../../model/errors';
import { NamedWeight, Tensor } from '../../model/tensor';
import { decodeTensor } from '../../codecs/dtypes';
import { Node } from './node';
import { declaredDims, OnnxModelFile } from './read';

export class TensorIndex {
  /** Decoded initializers (ONNX layout). */
  readonly stored = new Map<string, NamedWeight>();
  /** Initializers holding NaN or infinities: constants (masks), refused only where read as a layer's weight. */
  private readonly unreadable = new Map<string, InputError>();
  /** Tensors known before the graph runs: initializers, Constant outputs; values where readable. */
  readonly constants = new Map<string, Tensor | null>();
  readonly producer = new Map<string, number>();
  private readonly consumers = new Map<string, number[]>();
  /** How often each name is read (node inputs, subgraphs, graph outputs). */
  private readonly reads = new Map<string, number>();
  private readonly graphOutputs: Set<string>;
  readonly ranks = new Map<string, number | null>();

  constructor(
    file: string,
    source: OnnxModelFile,
    private readonly nodes: Node[],
  ) {
    const graph = source.graph;
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
    for (const node of nodes) {
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

  isDynamic(t: string | undefined): t is string {
    return !!t && !this.constants.has(t);
  }

  scalar(t: string): number | null {
    const value = this.constants.get(t);
    return value && value.data.length === 1 ? value.data[0] : null;
  }

  /** A float initializer read by this one node only: a weight the engine may change. */
  weight(t: string | undefined): NamedWeight | null {
    const unreadable = t ? this.unreadable.get(t) : undefined;
    if (unreadable) throw unreadable;
    const w = t ? this.stored.get(t) : undefined;
    return w && w.dtype === 'float32' && this.reads.get(t!) === 1 ? w : null;
  }

  rank(t: string | undefined): number | null {
    return t ? this.ranks.get(t) ?? null : null;
  }

  producerOf(t: string): Node | null {
    const index = this.producer.get(t);
    return index === undefined ? null : this.nodes[index];
  }

  consumersOf(t: string): number[] {
    return this.graphOutputs.has(t) ? [-1] : this.consumers.get(t) ?? [];
  }

  /** The one node reading `t`, when it is of the given op and `t` is not also a graph output. */
  soleConsumer(t: string, op: string): Node | null {
    const readers = this.consumersOf(t);
    return readers.length === 1 && readers[0] >= 0 && this.nodes[readers[0]].op === op ? this.nodes[readers[0]] : null;
  }

  /** The scalar value of a binary node's other operand. */
  other(node: Node, operand: string): number | null {
    const other = node.inputs.find((t) => t !== operand);
    return other === undefined ? null : this.scalar(other);
  }
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
