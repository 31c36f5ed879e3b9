// Bindings of the weighted running mean kernels (assembly/cumulative_mean.ts): forward and
// backward over whole sequences, split over (batch row, block of 16 channels) tasks so that the
// threads share the work even at batch 1. Arguments go in the kernel's order (see kernels.ts).
import { sequenceTasks } from './pool.js';
import { kernelPool } from './runtime.js';

/**
 * m (B, T, C) = (sum_{s <= t} w_s v_s) / (sum_{s <= t} w_s + eps) over w, v (B, T, C); den (B, T, C)
 * receives the denominators (the backward pass reads them).
 */
export function cumulativeMeanForward(w: number, v: number, m: number, den: number, B: number, T: number, C: number, eps: number): void {
  const [tasks, minChunk] = sequenceTasks(B, T, C);
  kernelPool().run('cumulative_mean_forward', [w, v, m, den, T, C, eps], tasks, 1, minChunk);
}

/**
 * dw, dv (+)= the gradients of cumulativeMeanForward given w, v, its outputs m and den and the
 * gradient g of m. A zero pointer skips that gradient. dw and dv may share a buffer if dv accumulates.
 */
export function cumulativeMeanBackward(
  w: number, v: number, m: number, den: number, g: number, dw: number, dv: number, B: number, T: number, C: number,
  accumulateDw: boolean, accumulateDv: boolean,
): void {
  const [tasks, minChunk] = sequenceTasks(B, T, C);
  const flags = (accumulateDw ? 1 : 0) | (accumulateDv ? 2 : 0);
  kernelPool().run('cumulative_mean_backward', [w, v, m, den, g, dw, dv, T, C, flags], tasks, 1, minChunk);
}
