/** An ONNX node with typed access to its attributes. */
import { onnx } from 'onnx-proto';
import { sizeOf, Tensor } from '../../model/tensor';
import { OpAttributes } from '../../structure/layerKinds';
import { Int64, tensorValues, toNumber } from './read';

/** Constants with more values are not read (their values never decide how a node is mapped). */
const SMALL = 16;

/** a ≈ b to float32 precision (attributes and constants are stored as float32). */
export function near(a: number | null, b: number): boolean {
  return a !== null && Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
}

export class Node implements OpAttributes {
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

  floatNear(name: string, value: number): boolean {
    return near(this.float(name, value), value);
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
