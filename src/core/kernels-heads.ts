// Bindings of the output heads' kernels (assembly/heads.ts): pointers and sizes in, work split
// over the pool with a minimum slice per thread so that small calls stay on the calling thread.
// Arguments go in the kernel's order (see kernels.ts).
import { kernelPool, rt } from './runtime.js';

const WORK_MIN = 1 << 14; // multiply-adds per thread below which a call stays single-threaded

/** Pointers of a tree's CSR paths (see HuffmanTree). */
export interface PathPointers {
  pathStart: number;
  pathNode: number;
  pathSign: number;
  /** Longest path: the row stride of coef. */
  maxDepth: number;
}

/** Threads' minimum share of rows for `workPerRow` multiply-adds a row. */
function minRows(workPerRow: number): number {
  return Math.max(1, Math.ceil(WORK_MIN / workPerRow));
}

/**
 * Hierarchical-softmax loss: h (M, d), nodes (V-1, d), targets i32 (M) -> losses (M).
 * gradScale != 0 also writes coef (M, maxDepth) and, when dh != 0, dh (M, d), both scaled by it.
 */
export function hsmLoss(
  h: number, nodes: number, targets: number, paths: PathPointers, M: number, d: number,
  losses: number, coef: number, dh: number, gradScale: number,
): void {
  kernelPool().run('hsm_loss',
    [h, nodes, targets, paths.pathStart, paths.pathNode, paths.pathSign, d, paths.maxDepth, losses, coef, dh, gradScale],
    M, 1, minRows(d * Math.max(1, paths.maxDepth)));
}

/** dnodes (V-1, d) += s * sum over counted rows and path steps of coef[r, j] * h[r]. */
export function hsmNodeGrad(
  h: number, targets: number, paths: PathPointers, coef: number, M: number, d: number, s: number, dnodes: number,
): void {
  kernelPool().run('hsm_node_grad', [h, targets, paths.pathStart, paths.pathNode, coef, M, d, paths.maxDepth, s, dnodes],
    d, 4, minRows(Math.max(1, M * paths.maxDepth)));
}

/** out (M, V) = log-probabilities of every token from node scores (M, V-1) and the tree's children. */
export function hsmLogProbs(scores: number, left: number, right: number, M: number, V: number, out: number): void {
  const r = rt();
  const nInner = V - 1;
  const scratch = r.heap.alloc(Math.max(1, nInner) * 4 * r.threads);
  try {
    kernelPool().run('hsm_log_probs', [scores, left, right, nInner, V, out, scratch], M, 1, minRows(4 * V));
  } finally {
    r.heap.free(scratch);
  }
}

/**
 * dst[r, idx[k]] = src[r, k] (+ bias[r * ldBias]) for r < M, k < n: puts a block of columns at
 * their vocabulary positions. bias 0 means none; ld* are row strides in floats.
 */
export function scatterCols(
  src: number, ldSrc: number, n: number, idx: number, bias: number, ldBias: number, dst: number, ldDst: number, M: number,
): void {
  kernelPool().run('scatter_cols', [src, ldSrc, n, idx, bias, ldBias, dst, ldDst], M, 1, minRows(Math.max(1, n)));
}

/**
 * Multi-label binary cross-entropy with logits: z (N, V), labels i32 (N, L) (each row's distinct
 * non-negative ids are its positives) -> losses (N), the sum over V of each row's terms with
 * posWeight on the positive ones. dz != 0 also writes dz (N, V), the gradient times gradScale.
 */
export function multilabelBce(
  z: number, labels: number, N: number, V: number, L: number, posWeight: number, losses: number, dz: number, gradScale: number,
): void {
  kernelPool().run('multilabel_bce', [z, labels, V, L, posWeight, losses, dz, gradScale], N, 1, minRows(4 * V));
}
