/**
 * Dense float64 linear algebra for the data-aware steps (forward pass, second moments, ridge
 * least squares). Matrices are row-major Float64Arrays. The products work on rows of both operands
 * (A·Bᵀ), so every inner loop reads contiguous memory; a 4×4 register block keeps 16 sums live per
 * 8 loads (blockProducts, which the TypeScript Gram engine runs too).
 */

/** A copy of the n×d matrix with zero rows appended up to a multiple of 4 (the kernel then needs no edge cases). */
function padRows(a: Float64Array, n: number, d: number): Float64Array {
  const padded = (n + 3) & ~3;
  if (padded === n) return a;
  const out = new Float64Array(padded * d);
  out.set(a.subarray(0, n * d));
  return out;
}

/**
 * C = A·Bᵀ into `c` (n×m, row-major) for rows of A (n×d) and B (m×d), both padded with zero rows to
 * a multiple of 4; with `symmetric` (A = B) only the blocks from the diagonal's on, the upper
 * triangle, are written. V8 emits scalar code, so keeping 16 sums in registers per 8 loads is what
 * counts (blocking over d for cache measured no gain: V8's scalar float64 arithmetic, about 2 GMAC/s,
 * is the limit). The sums are float64 whatever `c` holds.
 */
export function blockProducts(pa: Float64Array, n: number, pb: Float64Array, m: number, d: number, symmetric: boolean, c: Float32Array | Float64Array): void {
  for (let i = 0; i < n; i += 4) {
    const x0 = i * d, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d;
    for (let j = symmetric ? i : 0; j < m; j += 4) {
      const y0 = j * d, y1 = y0 + d, y2 = y1 + d, y3 = y2 + d;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let k = 0; k < d; k++) {
        const a0 = pa[x0 + k], a1 = pa[x1 + k], a2 = pa[x2 + k], a3 = pa[x3 + k];
        let v = pb[y0 + k];
        s00 += a0 * v; s10 += a1 * v; s20 += a2 * v; s30 += a3 * v;
        v = pb[y1 + k];
        s01 += a0 * v; s11 += a1 * v; s21 += a2 * v; s31 += a3 * v;
        v = pb[y2 + k];
        s02 += a0 * v; s12 += a1 * v; s22 += a2 * v; s32 += a3 * v;
        v = pb[y3 + k];
        s03 += a0 * v; s13 += a1 * v; s23 += a2 * v; s33 += a3 * v;
      }
      storeRow(c, n, m, i, j, s00, s01, s02, s03);
      storeRow(c, n, m, i + 1, j, s10, s11, s12, s13);
      storeRow(c, n, m, i + 2, j, s20, s21, s22, s23);
      storeRow(c, n, m, i + 3, j, s30, s31, s32, s33);
    }
  }
}

/** Writes up to four entries of row i from column j of the n×m matrix c, skipping the padding rows and columns. */
function storeRow(c: Float32Array | Float64Array, n: number, m: number, i: number, j: number, v0: number, v1: number, v2: number, v3: number): void {
  if (i >= n) return;
  const at = i * m + j;
  c[at] = v0;
  if (j + 1 < m) c[at + 1] = v1;
  if (j + 2 < m) c[at + 2] = v2;
  if (j + 3 < m) c[at + 3] = v3;
}

/** C = A·Bᵀ for A n×d and B m×d (both row-major), C n×m. With `symmetric` (A = B) only the upper triangle is computed and then mirrored. */
function productRows(a: Float64Array, n: number, b: Float64Array, m: number, d: number, symmetric: boolean): Float64Array {
  const pa = padRows(a, n, d);
  const pb = symmetric ? pa : padRows(b, m, d);
  const c = new Float64Array(n * m);
  blockProducts(pa, n, pb, m, d, symmetric, c);
  // The kernel wrote whole 4×4 blocks from the diagonal's block on: the upper triangle is the truth.
  if (symmetric) for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) c[i * n + j] = c[j * n + i];
  return c;
}

/** A·Bᵀ: A n×d, B m×d → n×m. */
export function multiplyRows(a: Float64Array, n: number, b: Float64Array, m: number, d: number): Float64Array {
  return productRows(a, n, b, m, d, false);
}

/** A·Aᵀ: A n×d → n×n (exactly symmetric). */
export function gramRows(a: Float64Array, n: number, d: number): Float64Array {
  return productRows(a, n, a, n, d, true);
}

/** Row-major transpose of an r×c matrix, in tiles so the strided side stays in cache. */
export function transposeMatrix(a: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  const tile = 32;
  for (let i0 = 0; i0 < r; i0 += tile) {
    for (let j0 = 0; j0 < c; j0 += tile) {
      const i1 = Math.min(r, i0 + tile), j1 = Math.min(c, j0 + tile);
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) out[j * r + i] = a[i * c + j];
    }
  }
  return out;
}

/**
 * Lower Cholesky factor L (row-major, upper part zero) of the symmetric positive definite d×d
 * matrix a, which is left unchanged. Row-oriented (Cholesky–Banachiewicz): each entry is a dot
 * product of two contiguous row prefixes. When a pivot is not positive (a rank-deficient second
 * moment), a jitter of growing size times the mean diagonal is added and the factorisation retried.
 */
export function cholesky(a: Float64Array, d: number): Float64Array {
  let mean = 0;
  for (let i = 0; i < d; i++) mean += a[i * d + i];
  mean = mean / Math.max(d, 1) || 1;
  for (let jitter = 0; ; jitter = jitter ? jitter * 100 : 1e-12) {
    const l = tryCholesky(a, d, jitter * mean);
    if (l) return l;
    if (jitter > 1) throw new Error('matrix is not positive definite');
  }
}

function tryCholesky(a: Float64Array, d: number, shift: number): Float64Array | null {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let j = 0; j <= i; j++) {
      const rj = j * d;
      let sum = a[ri + j] + (i === j ? shift : 0);
      for (let k = 0; k < j; k++) sum -= l[ri + k] * l[rj + k];
      if (i === j) {
        if (!(sum > 0)) return null;
        l[ri + i] = Math.sqrt(sum);
      } else l[ri + j] = sum / l[rj + j];
    }
  }
  return l;
}

/** Solves (L·Lᵀ)·X = B for X, B d×k row-major (overwritten with X). */
export function solveCholesky(l: Float64Array, d: number, b: Float64Array, k: number): Float64Array {
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let p = 0; p < i; p++) {
      const f = l[ri + p];
      if (f !== 0) for (let c = 0; c < k; c++) b[i * k + c] -= f * b[p * k + c];
    }
    const inv = 1 / l[ri + i];
    for (let c = 0; c < k; c++) b[i * k + c] *= inv;
  }
  for (let i = d - 1; i >= 0; i--) {
    for (let p = i + 1; p < d; p++) {
      const f = l[p * d + i];
      if (f !== 0) for (let c = 0; c < k; c++) b[i * k + c] -= f * b[p * k + c];
    }
    const inv = 1 / l[i * d + i];
    for (let c = 0; c < k; c++) b[i * k + c] *= inv;
  }
  return b;
}

/**
 * The large float64 products of the data-aware steps (forward passes, normal equations, solves).
 * Asynchronous so a native engine can run them: onnxruntime's double Gemm (see engines.ts) is
 * 15–25× faster here than the TypeScript kernel above, which is what runs without it.
 */
export interface ProductEngine {
  readonly name: string;
  /** A·Bᵀ: A n×d, B m×d (row-major) → n×m. */
  multiplyRows(a: Float64Array, n: number, b: Float64Array, m: number, d: number): Promise<Float64Array>;
  /** A·Aᵀ: A n×d → n×n, exactly symmetric. */
  gramRows(a: Float64Array, n: number, d: number): Promise<Float64Array>;
}

export const typescriptProducts: ProductEngine = {
  name: 'typescript',
  multiplyRows: async (a, n, b, m, d) => multiplyRows(a, n, b, m, d),
  gramRows: async (a, n, d) => gramRows(a, n, d),
};

/** Inverse of a lower-triangular d×d matrix (row-major), itself lower triangular; column by column forward substitution. */
export function invertLower(l: Float64Array, d: number): Float64Array {
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    inv[ri + i] = 1 / l[ri + i];
    // Row i of L⁻¹: (L⁻¹)ᵢⱼ = −(Σₖ Lᵢₖ (L⁻¹)ₖⱼ) / Lᵢᵢ over j ≤ k < i; accumulated row-wise so the inner loop is contiguous.
    const row = new Float64Array(i);
    for (let k = 0; k < i; k++) {
      const f = l[ri + k];
      if (f === 0) continue;
      const rk = k * d;
      for (let j = 0; j <= k; j++) row[j] += f * inv[rk + j];
    }
    for (let j = 0; j < i; j++) inv[ri + j] = -row[j] * inv[ri + i];
  }
  return inv;
}

/** Below this order the factor and its inverse are computed directly; above, by halves with engine products. */
const DIRECT_ORDER = 128;

/** Rows r0..r1 and columns c0..c1 of a row-major matrix with `width` columns. */
function block(a: Float64Array, width: number, r0: number, r1: number, c0: number, c1: number): Float64Array {
  const out = new Float64Array((r1 - r0) * (c1 - c0));
  for (let r = r0; r < r1; r++) out.set(a.subarray(r * width + c0, r * width + c1), (r - r0) * (c1 - c0));
  return out;
}

/** Writes a block into a row-major matrix with `width` columns at (r0, c0). */
function place(a: Float64Array, width: number, r0: number, c0: number, b: Float64Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) a.set(b.subarray(r * cols, (r + 1) * cols), (r0 + r) * width + c0);
}

/**
 * The Cholesky factor L of a symmetric positive definite d×d matrix and L⁻¹, recursively by halves:
 * L₂₁ = A₂₁·L₁₁⁻ᵀ, L₂₂ = chol(A₂₂ − L₂₁·L₂₁ᵀ), and the inverse's lower-left block −L₂₂⁻¹·L₂₁·L₁₁⁻¹. All
 * but O(d·DIRECT_ORDER²) of the work is products, which the engine runs.
 */
export async function choleskyWithInverse(engine: ProductEngine, a: Float64Array, d: number): Promise<{ l: Float64Array; inverse: Float64Array }> {
  if (d <= DIRECT_ORDER) {
    const l = cholesky(a, d);
    return { l, inverse: invertLower(l, d) };
  }
  const h = d >> 1, rest = d - h;
  const first = await choleskyWithInverse(engine, block(a, d, 0, h, 0, h), h);
  const l21 = await engine.multiplyRows(block(a, d, h, d, 0, h), rest, first.inverse, h, h);
  const schur = block(a, d, h, d, h, d);
  const update = await engine.gramRows(l21, rest, h);
  for (let i = 0; i < schur.length; i++) schur[i] -= update[i];
  const second = await choleskyWithInverse(engine, schur, rest);
  const t = await engine.multiplyRows(l21, rest, transposeMatrix(first.inverse, h, h), h, h);
  const lowerLeft = await engine.multiplyRows(second.inverse, rest, transposeMatrix(t, rest, h), h, rest);
  for (let i = 0; i < lowerLeft.length; i++) lowerLeft[i] = -lowerLeft[i];
  const l = new Float64Array(d * d);
  const inverse = new Float64Array(d * d);
  place(l, d, 0, 0, first.l, h, h);
  place(l, d, h, 0, l21, rest, h);
  place(l, d, h, h, second.l, rest, rest);
  place(inverse, d, 0, 0, first.inverse, h, h);
  place(inverse, d, h, 0, lowerLeft, rest, h);
  place(inverse, d, h, h, second.inverse, rest, rest);
  return { l, inverse };
}

/**
 * X = M⁻¹·B for a symmetric positive definite d×d matrix M and B given as k×d (its columns as
 * rows: the layout the products use); X comes back as d×k row-major. Through L⁻¹, so that beyond
 * small orders the engine does nearly all the work.
 */
export async function solveSymmetric(engine: ProductEngine, m: Float64Array, d: number, bt: Float64Array, k: number): Promise<Float64Array> {
  if (d <= DIRECT_ORDER) return solveCholesky(cholesky(m, d), d, transposeMatrix(bt, k, d), k);
  const { inverse } = await choleskyWithInverse(engine, m, d);
  // Y = L⁻¹·B (d×k), then X = L⁻ᵀ·Y: each an A·Bᵀ product of rows.
  const y = await engine.multiplyRows(inverse, d, bt, k, d);
  return engine.multiplyRows(transposeMatrix(inverse, d, d), d, transposeMatrix(y, d, k), k, d);
}
