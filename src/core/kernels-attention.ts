// Bindings of the training-time attention kernels (assembly/attention.ts): fused causal attention
// forward and backward, split over (batch, head) tasks, and rotary embedding over whole
// sequences. Arguments go in the kernel's order (see kernels.ts).
import { ELEMENTWISE_MIN, FLOP_MIN } from './pool.js';
import { kernelPool, rt } from './runtime.js';

/** Attention tasks per thread so that a thread gets at least FLOP_MIN multiply-adds. */
function minTasks(T: number, headSize: number, headsPerTask: number): number {
  // A task does about T^2/2 * hd multiply-adds per product and head.
  return Math.max(1, Math.ceil(FLOP_MIN / (((T * T) / 2) * headSize * headsPerTask)));
}

/** Run an attention kernel with `floats` of scratch per thread (its address and size are appended to args). */
function withScratch(T: number, headSize: number, backward: boolean, launch: (scratch: number, floats: number) => void): void {
  const r = rt();
  const floats = kernelPool().call('attention_scratch_floats', [T, headSize, backward ? 1 : 0]);
  const scratch = r.heap.alloc(floats * 4 * r.threads);
  try {
    launch(scratch, floats);
  } finally {
    r.heap.free(scratch);
  }
}

/**
 * o (B, T, heads*hd) = causal attention of q (B, T, heads*hd) over k, v (B, T, kvHeads*hd) with
 * scale 1/sqrt(hd); lse (B, heads, T) receives each row's log-sum-exp of scaled scores.
 */
export function attentionForward(
  q: number, k: number, v: number, o: number, lse: number, B: number, T: number, heads: number, kvHeads: number, headSize: number,
): void {
  withScratch(T, headSize, false, (scratch, floats) =>
    kernelPool().run('attention_forward', [q, k, v, o, lse, T, headSize, heads, kvHeads, 1 / Math.sqrt(headSize), scratch, floats],
      B * heads, 1, minTasks(T, headSize, 1)));
}

/**
 * dq, dk, dv (+)= the gradients of attentionForward's o, given its gradient dout, its output o and
 * lse. A zero pointer skips that gradient. When two gradients share a buffer (q, k or v being one
 * tensor), only the first of dq, dk, dv in that order may overwrite: pass accumulate for the others.
 */
export function attentionBackward(
  q: number, k: number, v: number, o: number, dout: number, lse: number, dq: number, dk: number, dv: number,
  B: number, T: number, heads: number, kvHeads: number, headSize: number,
  accumulateDq: boolean, accumulateDk: boolean, accumulateDv: boolean,
): void {
  const flags = (accumulateDq ? 1 : 0) | (accumulateDk ? 2 : 0) | (accumulateDv ? 4 : 0);
  withScratch(T, headSize, true, (scratch, floats) =>
    kernelPool().run('attention_backward',
      [q, k, v, o, dout, lse, dq, dk, dv, T, headSize, heads, kvHeads, 1 / Math.sqrt(headSize), flags, scratch, floats],
      B * kvHeads, 1, minTasks(T, headSize, heads / kvHeads)));
}

/**
 * y (rows = B*T, heads*hd) (+)= x turned by the RoPE table (T, 2*hd) of rope_rotate, row r at
 * position r % T; `inverse` turns by the opposite angles (the backward pass).
 */
export function ropeForward(
  x: number, table: number, y: number, rows: number, T: number, heads: number, headSize: number,
  inverse: boolean, accumulate: boolean,
): void {
  kernelPool().run('rope_forward', [x, table, y, T, heads, headSize, inverse ? 1 : 0, accumulate ? 1 : 0],
    rows, 1, Math.ceil(ELEMENTWISE_MIN / (heads * headSize)));
}
