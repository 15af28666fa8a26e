/**
 * The numeric engines behind the analysis and the refit: Gram matrices for similarity (onnxruntime's
 * float Gemm, or the current tfjs backend's matMul) and float64 products for the data-aware steps
 * (onnxruntime's double Gemm, else TypeScript). onnxruntime-node is optional: each engine is undefined
 * without it and the caller falls back.
 */
import { createRequire } from 'module';
import type * as TF from '@tensorflow/tfjs';
import type * as Ort from 'onnxruntime-node';
import { ProductEngine, typescriptProducts } from './linalg';
import { bytesField, concatBytes, varintField } from '../codecs/protobuf';
import { GramEngine, mirrorUpper } from '../similarity/weights';

/**
 * Gram on the current tfjs backend; the explicit transpose matters: wasm's transposeB flag is a
 * slow path. Mirrored because matMul does not promise an exactly symmetric result.
 */
export function tfjsGram(tf: typeof TF, name: string): GramEngine {
  return {
    name,
    async gram(rows, n, d) {
      const product = tf.tidy(() => {
        const a = tf.tensor2d(rows, [n, d]);
        return tf.matMul(a, tf.transpose(a));
      });
      const data = (await product.data()) as Float32Array;
      product.dispose();
      mirrorUpper(data, n);
      return data;
    },
  };
}

/** onnxruntime-node (an optional dependency); throws when the package or its native binary cannot be loaded. */
export function loadOnnxRuntime(): typeof Ort {
  // A native addon is loaded from node_modules at run time, never bundled: createRequire keeps esbuild out.
  return createRequire(__filename)('onnxruntime-node') as typeof Ort;
}

let onnx: Promise<GramEngine | undefined> | undefined;

/**
 * Gram on onnxruntime-node (optional dependency): a native multithreaded sgemm, several times
 * faster than the wasm engine. Undefined when the package or its native binary cannot be loaded.
 */
export function onnxGram(): Promise<GramEngine | undefined> {
  onnx ??= (async () => {
    try {
      const ort = loadOnnxRuntime();
      // No memory arena: every output goes straight into a JavaScript buffer, so an arena would only hold on to memory.
      const session = await ort.InferenceSession.create(productModel(FLOAT), { executionProviders: ['cpu'], enableCpuMemArena: false });
      const matrix = (data: Float32Array, rows: number, columns: number): Ort.Tensor => new ort.Tensor('float32', data, [rows, columns]);
      return {
        name: 'onnxruntime',
        async gram(rows: Float32Array, n: number, d: number) {
          const s = new Float32Array(n * n);
          if (n === 0) return s;
          const panels = panelCount(n, d);
          for (let p = 0; p < panels; p++) {
            const r0 = Math.round((p * n) / panels), r1 = Math.round(((p + 1) * n) / panels);
            const width = n - r0;
            // Rows r0..r1 against rows r0..n; the first panel spans every column, so it is written in place.
            const panel = p === 0 ? s.subarray(0, r1 * n) : new Float32Array((r1 - r0) * width);
            const feeds = { A: matrix(rows.subarray(r0 * d, r1 * d), r1 - r0, d), B: matrix(rows.subarray(r0 * d, n * d), width, d) };
            await session.run(feeds, { S: matrix(panel, r1 - r0, width) });
            if (p > 0) for (let r = r0; r < r1; r++) s.set(panel.subarray((r - r0) * width, (r - r0 + 1) * width), r * n + r0);
          }
          mirrorUpper(s, n);
          return s;
        },
      };
    } catch {
      // Not installed, or no binary for this platform: the caller falls back to another engine.
      return undefined;
    }
  })();
  return onnx;
}

/**
 * Row panels over the upper triangle. Gemm computes a full product, so p panels, each against the
 * rows from its own start on, do (p + 1) / 2p of the work. Worth it only while the product is
 * compute-bound (long rows) and the panels stay large enough for sgemm to run at full speed.
 */
function panelCount(n: number, d: number): number {
  return d < 64 ? 1 : Math.max(1, Math.min(4, Math.round(n / 512)));
}

/** Products smaller than this (multiply–adds) stay in TypeScript: a session run costs more than they do. */
const NATIVE_PRODUCT_MACS = 1 << 20;

let onnxFloat64: Promise<ProductEngine | undefined> | undefined;

/** onnxruntime's double Gemm for the data-aware steps; undefined when onnxruntime-node cannot be loaded. */
export function onnxProducts(): Promise<ProductEngine | undefined> {
  onnxFloat64 ??= (async () => {
    try {
      const ort = loadOnnxRuntime();
      const session = await ort.InferenceSession.create(productModel(DOUBLE), { executionProviders: ['cpu'], enableCpuMemArena: false });
      const multiplyRows = async (a: Float64Array, n: number, b: Float64Array, m: number, d: number): Promise<Float64Array> => {
        if (n * m * d < NATIVE_PRODUCT_MACS || d === 0) return typescriptProducts.multiplyRows(a, n, b, m, d);
        const s = new Float64Array(n * m);
        const feeds = { A: new ort.Tensor('float64', a.subarray(0, n * d), [n, d]), B: new ort.Tensor('float64', b.subarray(0, m * d), [m, d]) };
        await session.run(feeds, { S: new ort.Tensor('float64', s, [n, m]) });
        return s;
      };
      return {
        name: 'onnxruntime',
        multiplyRows,
        async gramRows(a, n, d) {
          const s = await multiplyRows(a, n, a, n, d);
          // Gemm does not promise an exactly symmetric result, and Cholesky reads one triangle only.
          for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) s[i * n + j] = s[j * n + i];
          return s;
        },
      };
    } catch {
      return undefined;
    }
  })();
  return onnxFloat64;
}

/** The fastest float64 product engine available: onnxruntime's when installed, else TypeScript. */
export async function productEngine(): Promise<ProductEngine> {
  return (await onnxProducts()) ?? typescriptProducts;
}

/** onnx.proto TensorProto.DataType values. */
const FLOAT = 1;
const DOUBLE = 11;

/**
 * The ONNX model S = A·Bᵀ for inputs A [m, d] and B [k, d] of one element type (symbolic sizes), as
 * ModelProto bytes: one Gemm with transB = 1, so nothing is transposed in JavaScript. Field numbers
 * are those of onnx.proto.
 */
function productModel(elementType: typeof FLOAT | typeof DOUBLE): Uint8Array {
  const ATTRIBUTE_INT = 2;
  const valueInfo = (name: string, dims: string[]): Uint8Array =>
    concatBytes([
      bytesField(1, name),
      bytesField(2 /* type */, bytesField(1 /* tensor_type */,
        varintField(1 /* elem_type */, elementType),
        bytesField(2 /* shape */, ...dims.map((dim) => bytesField(1 /* dim */, bytesField(2 /* dim_param */, dim)))),
      )),
    ]);
  const transB = bytesField(5 /* attribute */, bytesField(1, 'transB'), varintField(3 /* i */, 1), varintField(20 /* type */, ATTRIBUTE_INT));
  const gemm = bytesField(1 /* node */, bytesField(1, 'A'), bytesField(1, 'B'), bytesField(2, 'S'), bytesField(4 /* op_type */, 'Gemm'), transB);
  const graph = bytesField(7 /* graph */,
    gemm,
    bytesField(2 /* name */, 'product'),
    bytesField(11 /* input */, valueInfo('A', ['m', 'd'])),
    bytesField(11 /* input */, valueInfo('B', ['k', 'd'])),
    bytesField(12 /* output */, valueInfo('S', ['m', 'k'])),
  );
  return concatBytes([varintField(1 /* ir_version */, 8), graph, bytesField(8 /* opset_import */, varintField(2 /* version */, 13))]);
}
