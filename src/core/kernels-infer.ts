// Bindings of the inference kernels (assembly/infer.ts): pointers and sizes in, work split over
// the pool only when a slice is worth a thread (one-token shapes are usually too small).
// Arguments go in the kernel's order (see kernels.ts).
import { ELEMENTWISE_MIN } from './pool.js';
import { kernelPool } from './runtime.js';

// Cached floats read per thread below which attention stays on one thread: waking a sleeping
// worker costs tens of microseconds, more than a small model's whole attention.
const ATTENTION_MIN = 1 << 18;

/** Rotate `heads` heads of x (heads x headSize) in place by one position's table row (2 * headSize floats). */
export function ropeRotate(x: number, table: number, heads: number, headSize: number): void {
  kernelPool().run('rope_rotate', [x, table, headSize], heads, 1, Math.ceil(ELEMENTWISE_MIN / headSize));
}

/**
 * out (nHeads x headSize) = causal attention of query q (nHeads x headSize) over the first T rows
 * of this layer's caches kc, vc (rows of nKvHeads x headSize); att: nHeads x attStride scratch.
 */
export function attentionDecode(
  q: number, kc: number, vc: number, att: number, out: number,
  T: number, nHeads: number, nKvHeads: number, headSize: number, attStride: number,
): void {
  const kvDim = nKvHeads * headSize, group = nHeads / nKvHeads; // group: query heads per KV head
  kernelPool().run('attention_decode', [q, kc, vc, att, out, T, headSize, kvDim, group, attStride, 1 / Math.sqrt(headSize)],
    nHeads, 1, Math.ceil(ATTENTION_MIN / (2 * T * headSize)));
}

/** y (n) = silu(a) * b. */
export function swiglu(a: number, b: number, y: number, n: number): void {
  kernelPool().run('swiglu_forward', [a, b, y], n, 4, ELEMENTWISE_MIN);
}

/**
 * y (C) = the causal depthwise conv's output for the newest row of `window`, which holds the
 * last (Kw-1)*dil + 1 input rows (C channels each), oldest first; w: Kw x C; bias: C or 0.
 */
export function conv1dStep(window: number, w: number, bias: number, y: number, C: number, Kw: number, dil: number): void {
  kernelPool().run('conv1d_step', [window, w, bias, y, C, Kw, dil], C, 4, Math.ceil(ELEMENTWISE_MIN / Kw));
}
