/**
 * Activations exporters spell out in elementary ops, each read as one activation: GELU (Div by √2
 * → Erf → Add 1 → Mul x → Mul 0.5, or the halving first) and SiLU (Sigmoid → Mul x).
 */
import { near, Node } from './node';
import { TensorIndex } from './tensors';

export interface FusedActivation {
  /** The Keras activation name. */
  activation: string;
  /** The nodes it stands for. */
  nodes: number[];
  /** The tensor it reads. */
  input: string;
}

/** The spelled-out activations, by the index of their first node. */
export function fusedActivations(nodes: Node[], tensors: TensorIndex): Map<number, FusedActivation> {
  const found = new Map<number, FusedActivation>();
  for (const node of nodes) {
    const fused = node.op === 'Erf' ? gelu(node, tensors) : node.op === 'Sigmoid' ? silu(node, tensors) : null;
    if (fused) found.set(Math.min(...fused.nodes), fused);
  }
  return found;
}

/** x / √2 (or x · 1/√2) → Erf → + 1 → · x → · 0.5, or the halving first: (x · 0.5) · (1 + erf). */
function gelu(erf: Node, tensors: TensorIndex): FusedActivation | null {
  const scaled = tensors.producerOf(erf.inputs[0]);
  if (!scaled || tensors.consumersOf(scaled.outputs[0]).length !== 1) return null;
  const x = scaled.op === 'Div' && near(tensors.scalar(scaled.inputs[1]), Math.SQRT2) ? scaled.inputs[0] : scaledBy(scaled, Math.SQRT1_2, tensors);
  const plusOne = tensors.soleConsumer(erf.outputs[0], 'Add');
  const product = plusOne && near(tensors.other(plusOne, erf.outputs[0]), 1) ? tensors.soleConsumer(plusOne.outputs[0], 'Mul') : null;
  if (!x || !tensors.isDynamic(x) || !product) return null;
  const factor = product.inputs.find((t) => t !== plusOne!.outputs[0]);
  if (factor === x) {
    const half = tensors.soleConsumer(product.outputs[0], 'Mul');
    if (!half || !near(tensors.other(half, product.outputs[0]), 0.5)) return null;
    return { activation: 'gelu', input: x, nodes: [scaled.index, erf.index, plusOne!.index, product.index, half.index] };
  }
  const halving = factor ? tensors.producerOf(factor) : null;
  if (!halving || scaledBy(halving, 0.5, tensors) !== x || tensors.consumersOf(factor!).length !== 1) return null;
  return { activation: 'gelu', input: x, nodes: [halving.index, scaled.index, erf.index, plusOne!.index, product.index] };
}

/** x · sigmoid(x). */
function silu(sigmoid: Node, tensors: TensorIndex): FusedActivation | null {
  const x = sigmoid.inputs[0];
  const product = tensors.soleConsumer(sigmoid.outputs[0], 'Mul');
  if (!tensors.isDynamic(x) || !product || !product.inputs.includes(x)) return null;
  return { activation: 'swish', input: x, nodes: [sigmoid.index, product.index] };
}

/** The dynamic operand of a Mul by the constant `factor`. */
function scaledBy(node: Node, factor: number, tensors: TensorIndex): string | null {
  if (node.op !== 'Mul') return null;
  const operand = node.inputs.find((t) => tensors.isDynamic(t));
  return operand && near(tensors.other(node, operand), factor) ? operand : null;
}
