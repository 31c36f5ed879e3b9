// Bindings of causal linear attention's normalisation kernels (assembly/linear-attention.ts): one
// task per row of scores, split over the pool. Arguments go in the kernel's order (see kernels.ts).
import { ELEMENTWISE_MIN } from './pool.js';
import { kernelPool } from './runtime.js';

/**
 * y (rows, T) = a / Σ_{j <= i} a_ij on columns j <= i of row r (query i = r % T), 0 above; rows
 * is a multiple of T (batches of T x T score matrices).
 */
export function causalNormalizeForward(a: number, y: number, rows: number, T: number): void {
  kernelPool().run('causal_normalize_forward', [a, y, T], rows, 1, Math.ceil(ELEMENTWISE_MIN / T));
}

/** da (rows, T) (+)= the gradient of causalNormalizeForward given a, its output y and dy. */
export function causalNormalizeBackward(a: number, y: number, dy: number, da: number, rows: number, T: number, accumulate: boolean): void {
  kernelPool().run('causal_normalize_backward', [a, y, dy, da, T, accumulate ? 1 : 0], rows, 1, Math.ceil(ELEMENTWISE_MIN / T));
}
