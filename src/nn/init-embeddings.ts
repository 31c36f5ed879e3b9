// Embedding tables that start from something better than noise:
//   gpt2Embeddings   GPT-2's token embeddings projected to d dimensions (top principal directions)
//   corpusEmbeddings word vectors from the training tokens themselves (PPMI + truncated SVD)
// Both use one randomized SVD (Halko, Martinsson & Tropp 2011): the products with the big matrix
// run on the matmul kernels; only (d+10)-sized problems (Gram matrices, their eigenvectors) run
// on the host. Both return a host Float32Array [V, d], row v = embedding of token v.
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor, scope } from '../core/tensor.js';
import { openSafetensors } from '../io/safetensors.js';

export interface SvdOptions {
  /** Extra sketch columns beyond the rank wanted (default 10). */
  oversample?: number;
  /** Subspace (power) iterations; each sharpens the top directions when the spectrum decays slowly (default 2). */
  powerIters?: number;
  /** Seed of the Gaussian sketch (default 1). */
  seed?: number;
}

export interface EmbeddingScale {
  /** Standard deviation of the returned table's entries (default 1, as nn Embedding's own init). */
  std?: number;
}

// ---------------------------------------------------------------- small dense linear algebra (host)

/**
 * Eigen-decomposition of a symmetric n x n matrix (row-major f64) by cyclic Jacobi rotations.
 * Returns eigenvalues in descending order and the eigenvectors as the columns of an n x n matrix.
 * O(n^3) per sweep: meant for n = d + oversample, never for V.
 */
export function symmetricEigen(matrix: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0, diag = 0;
    for (let p = 0; p < n; p++) {
      diag += a[p * n + p] ** 2;
      for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    }
    if (off <= 1e-26 * diag || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        // Rotation J (J_pp = J_qq = c, J_pq = s, J_qp = -s) with (J^T A J)_pq = 0; t = tan of its angle, the smaller root.
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = a[src * n + src];
    for (let k = 0; k < n; k++) vectors[k * n + dst] = v[k * n + src];
  });
  return { values, vectors };
}

/** G = X^T X [c, c] (kernel product, then a f64 copy for the host). */
function gram(x: Tensor): Float64Array {
  const [m, c] = x.shape;
  const g = Tensor.empty([c, c]);
  K.matmul(c, c, m, x.ptr, true, x.ptr, false, g.ptr, false);
  const out = Float64Array.from(g.f32());
  g.dispose();
  return out;
}

/** Directions whose Gram eigenvalue is below this fraction of the largest are numerically absent in f32. */
const RANK_TOL = 1e-6;

/**
 * An orthonormal basis [m, r] (r <= c) of the column span of x [m, c]: Q = X W Lambda^{-1/2} from
 * the eigen-decomposition of X^T X, dropping directions below RANK_TOL (so rank-deficient
 * input is fine). Squaring the condition number costs accuracy, so a second pass re-orthonormalizes
 * (as in CholeskyQR2); a pass is skipped when X^T X is already the identity to 1e-5.
 */
function orthonormalize(x: Tensor): Tensor {
  let q = x;
  for (let pass = 0; pass < 3; pass++) {
    const c = q.shape[1];
    const g = gram(q);
    let offIdentity = 0;
    for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) offIdentity = Math.max(offIdentity, Math.abs(g[i * c + j] - (i === j ? 1 : 0)));
    if (offIdentity < 1e-5) return q;
    const { values, vectors } = symmetricEigen(g, c);
    let r = 0;
    while (r < c && values[r] > Math.max(0, values[0]) * RANK_TOL && values[r] > 0) r++;
    const w = new Float32Array(c * r); // [c, r]: column j = eigenvector j / sqrt(lambda_j)
    for (let i = 0; i < c; i++) for (let j = 0; j < r; j++) w[i * r + j] = vectors[i * c + j] / Math.sqrt(values[j]);
    const wt = Tensor.from(w, [c, r]);
    const next = Tensor.empty([q.shape[0], r]);
    K.matmul(q.shape[0], r, c, q.ptr, false, wt.ptr, false, next.ptr, false);
    wt.dispose();
    q = next;
  }
  return q;
}

/** A linear operator A [rows, cols] known through its products with blocks of column vectors. */
interface Operator {
  rows: number;
  cols: number;
  /** out [rows, c] = A . x [cols, c] */
  apply(x: Tensor, out: Tensor): void;
  /** out [cols, c] = A^T . y [rows, c] */
  applyT(y: Tensor, out: Tensor): void;
}

function denseOperator(a: Tensor): Operator {
  const [m, n] = a.shape;
  return {
    rows: m,
    cols: n,
    apply: (x, out) => K.matmul(m, x.shape[1], n, a.ptr, false, x.ptr, false, out.ptr, false),
    applyT: (y, out) => K.matmul(n, y.shape[1], m, a.ptr, true, y.ptr, false, out.ptr, false),
  };
}

/**
 * Truncated SVD A ~ U_k S_k V_k^T by randomized range finding, returned in the factored form
 * U = Q Ub with Q [rows, r] orthonormal (a wasm tensor; the caller disposes it) and Ub [r, r]
 * (host, column j = left singular vector j of B = Q^T A), singular values descending. r may be
 * below k when A has lower rank.
 */
function randomizedSvd(op: Operator, k: number, opts: SvdOptions): { q: Tensor; ub: Float64Array; sigma: Float64Array } {
  const rng = new Rng(opts.seed ?? 1);
  const c = Math.min(k + (opts.oversample ?? 10), op.rows, op.cols);
  const q = scope(() => {
    const omega = new Float32Array(op.cols * c); // Gaussian sketch [cols, c]
    for (let i = 0; i < omega.length; i++) omega[i] = rng.normal();
    const om = Tensor.from(omega, [op.cols, c]);
    let y = Tensor.empty([op.rows, c]);
    op.apply(om, y);
    let basis = orthonormalize(y);
    for (let it = 0; it < (opts.powerIters ?? 2); it++) {
      const z = Tensor.empty([op.cols, basis.shape[1]]);
      op.applyT(basis, z);
      const zq = orthonormalize(z);
      y = Tensor.empty([op.rows, zq.shape[1]]);
      op.apply(zq, y);
      basis = orthonormalize(y);
    }
    return basis;
  });
  const r = q.shape[1];
  // B^T = A^T Q [cols, r]; B B^T = (B^T)^T B^T [r, r] = Ub S^2 Ub^T.
  const bbt = scope(() => {
    const bt = Tensor.empty([op.cols, r]);
    op.applyT(q, bt);
    return gram(bt);
  });
  const { values, vectors } = symmetricEigen(bbt, r);
  const sigma = values.map((x) => Math.sqrt(Math.max(0, x)));
  return { q, ub: vectors, sigma };
}

/**
 * out [rows, d] = Q . Ub_d . diag(f(sigma_d)): the left singular vectors scaled per column;
 * columns past the rank found stay zero.
 */
function leftFactor(q: Tensor, ub: Float64Array, sigma: Float64Array, d: number, f: (s: number) => number): Tensor {
  const [m, r] = q.shape;
  const out = Tensor.zeros([m, d]);
  const cols = Math.min(r, d);
  if (cols === 0) return out;
  const small = new Float32Array(r * d); // [r, d]
  for (let i = 0; i < r; i++) for (let j = 0; j < cols; j++) small[i * d + j] = ub[i * r + j] * f(sigma[j]);
  const s = Tensor.from(small, [r, d]);
  K.matmul(m, d, r, q.ptr, false, s.ptr, false, out.ptr, false);
  s.dispose();
  return out;
}

/** Scale x in place so that the standard deviation of its entries is `std` (all-zero stays zero). */
function scaleToStd(x: Tensor, std: number): void {
  const n = x.size;
  const mean = K.reduce('sum', x.ptr, n) / n;
  const sd = Math.sqrt(Math.max(0, K.reduce('sumsq', x.ptr, n) / n - mean * mean));
  if (sd > 0) K.scale(x.ptr, std / sd, x.ptr, n, false);
}

// ---------------------------------------------------------------- GPT-2 projection

export interface Gpt2EmbeddingOptions extends SvdOptions, EmbeddingScale {}

const GPT2_NAMES = ['wte.weight', 'transformer.wte.weight'];

/**
 * GPT-2's token embedding table E [V, D] (V = 50,257, D = 768) from a safetensors file, projected
 * onto its top-d principal directions: (E - mean row) . V_d, where V_d [D, d] are the top right
 * singular vectors of the centred table. Centring matters: GPT-2's embeddings share a large
 * common offset, which would otherwise take the first direction and carry no information about
 * which token is which. Returns [V, d], scaled to `std`.
 */
export function gpt2Embeddings(path: string, d: number, opts: Gpt2EmbeddingOptions = {}): Float32Array {
  const st = openSafetensors(path);
  try {
    const name = GPT2_NAMES.find((n) => st.has(n));
    if (!name) throw new TernlmError(`${path} has no GPT-2 token embedding (looked for ${GPT2_NAMES.join(', ')}) — is it a GPT-2 model.safetensors?`);
    const info = st.info(name);
    if (info.shape.length !== 2) throw new TernlmError(`${path}: '${name}' has shape [${info.shape.join(', ')}], expected [vocab, dim]`);
    const [V, D] = info.shape;
    if (!Number.isInteger(d) || d < 1 || d > D) throw new TernlmError(`cannot project GPT-2 embeddings of width ${D} to ${d} dimensions (1 <= d <= ${D})`);
    const e = Tensor.empty([V, D]);
    try {
      st.readF32(name, e.f32());
      return projectToPrincipal(e, d, opts);
    } finally {
      e.dispose();
    }
  } finally {
    st.close();
  }
}

/** The centred rows of e [V, D] (centred in place) projected on their top-d principal directions, scaled to std. */
function projectToPrincipal(e: Tensor, d: number, opts: Gpt2EmbeddingOptions): Float32Array {
  const [V, D] = e.shape;
  const out = scope(() => {
    const mean = Tensor.empty([D]);
    K.colSum(e.ptr, V, D, 1 / V, mean.ptr, false);
    K.binaryForward('sub', e.ptr, mean.ptr, D, e.ptr, V * D);
    const { q, ub, sigma } = randomizedSvd(denseOperator(e), d, opts);
    // E V_d = U_d S_d.
    return leftFactor(q, ub, sigma, d, (s) => s);
  });
  try {
    scaleToStd(out, opts.std ?? 1);
    return out.f32().slice();
  } finally {
    out.dispose();
  }
}

// ---------------------------------------------------------------- corpus co-occurrence

export interface CorpusEmbeddingOptions extends SvdOptions, EmbeddingScale {
  /** Tokens on each side counted as context (default 4), weighted 1/distance. */
  window?: number;
  /** Largest vocabulary counted densely; above it only the most frequent this many tokens get SVD vectors (default 8192). */
  maxDense?: number;
  /** Context-distribution smoothing exponent of PPMI (default 0.75, as in Levy et al. 2015). */
  alpha?: number;
}

/**
 * Word vectors from the training tokens: symmetric co-occurrence counts within `window`
 * (weight 1/distance), positive PMI with smoothed context probabilities, then U_d sqrt(S_d) of
 * its truncated SVD (no centring: PPMI is a non-negative association matrix, not data points).
 * Tokens that never co-occur with a counted token, and tokens outside the `maxDense` most
 * frequent, get Gaussian rows. Returns [vocabSize, d], scaled to `std`.
 */
export function corpusEmbeddings(
  tokens: Uint16Array | Uint32Array | Int32Array, vocabSize: number, d: number, opts: CorpusEmbeddingOptions = {},
): Float32Array {
  const window = opts.window ?? 4;
  const std = opts.std ?? 1;
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`vocabSize must be a positive integer, got ${vocabSize}`);
  if (!Number.isInteger(d) || d < 1) throw new Error(`embedding width must be a positive integer, got ${d}`);
  if (!Number.isInteger(window) || window < 1) throw new Error(`window must be a positive integer, got ${window}`);

  const { index, kept } = countedTokens(tokens, vocabSize, opts.maxDense ?? 8192);
  const n = kept.length;
  const counts = Tensor.zeros([n, n]);
  let vectors: Tensor | null = null;
  try {
    const rowTotal = countCooccurrences(tokens, index, window, counts);
    ppmiInPlace(counts, rowTotal, opts.alpha ?? 0.75);
    if (n === 0) throw new TernlmError('cannot learn embeddings from the corpus: it has no tokens');
    vectors = scope(() => {
      const { q, ub, sigma } = randomizedSvd(denseOperator(counts), Math.min(d, n), opts);
      return leftFactor(q, ub, sigma, d, Math.sqrt);
    });
    counts.dispose();
    scaleToStd(vectors, std);

    const rng = new Rng((opts.seed ?? 1) ^ 0x5eed);
    const out = new Float32Array(vocabSize * d);
    const v = vectors.f32();
    const seen = new Uint8Array(vocabSize);
    for (let i = 0; i < n; i++) if (rowTotal[i] > 0) {
      seen[kept[i]] = 1;
      out.set(v.subarray(i * d, (i + 1) * d), kept[i] * d);
    }
    for (let t = 0; t < vocabSize; t++) if (!seen[t]) for (let j = 0; j < d; j++) out[t * d + j] = rng.normal() * std;
    return out;
  } finally {
    if (!counts.isDisposed) counts.dispose();
    vectors?.dispose();
  }
}

/** Which tokens get a row in the dense count matrix: those that occur, at most the maxDense most frequent. */
function countedTokens(tokens: ArrayLike<number>, V: number, maxDense: number): { index: Int32Array; kept: Int32Array } {
  const freq = new Float64Array(V);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!(t >= 0 && t < V)) throw new TernlmError(`token ${t} at position ${i.toLocaleString('en-US')} is outside the vocabulary of ${V.toLocaleString('en-US')} — do the shards belong to this tokenizer?`);
    freq[t]++;
  }
  // Tokens that never occur would only add zero rows (and dilute the std scaling).
  const present = Array.from({ length: V }, (_, i) => i).filter((t) => freq[t] > 0);
  if (present.length > maxDense) present.sort((a, b) => freq[b] - freq[a] || a - b).splice(maxDense);
  const kept = Int32Array.from(present).sort();
  const index = new Int32Array(V).fill(-1);
  kept.forEach((t, i) => (index[t] = i));
  return { index, kept };
}

/**
 * counts [n, n] += symmetric co-occurrences within `window` (1/distance each way); returns each
 * row's total. One pass over the tokens on the host: this is counting, not arithmetic.
 */
function countCooccurrences(tokens: ArrayLike<number>, index: Int32Array, window: number, counts: Tensor): Float64Array {
  const n = counts.shape[0];
  const c = counts.f32(); // no allocation below, so the view stays valid
  const rowTotal = new Float64Array(n);
  for (let i = 0; i < tokens.length; i++) {
    const a = index[tokens[i]];
    if (a < 0) continue;
    const end = Math.min(tokens.length, i + window + 1);
    for (let j = i + 1; j < end; j++) {
      const b = index[tokens[j]];
      if (b < 0) continue;
      const w = 1 / (j - i);
      c[a * n + b] += w;
      c[b * n + a] += w;
      rowTotal[a] += w;
      rowTotal[b] += w;
    }
  }
  return rowTotal;
}

/**
 * counts [n, n] -> max(0, log(C(a,b) Z / (R_a R_b^alpha))), Z = sum_b R_b^alpha: PMI against a
 * context distribution flattened by alpha (rare contexts otherwise get huge PMI). Zero counts
 * stay zero. A single pass over the matrix on the host.
 */
function ppmiInPlace(counts: Tensor, rowTotal: Float64Array, alpha: number): void {
  const n = counts.shape[0];
  const ctx = rowTotal.map((r) => r ** alpha);
  let z = 0;
  for (const x of ctx) z += x;
  const c = counts.f32();
  for (let a = 0; a < n; a++) {
    if (rowTotal[a] === 0) continue;
    const rowScale = z / rowTotal[a];
    const base = a * n;
    for (let b = 0; b < n; b++) {
      const x = c[base + b];
      if (x > 0) c[base + b] = Math.max(0, Math.log((x * rowScale) / ctx[b]));
    }
  }
}
