// Bindings of the prefix-sum kernels (assembly/cumsum.ts): running sums over time of (B, T, C),
// forward and reverse, split over (batch row, block of 16 channels) tasks. Arguments go in the
// kernel's order (see kernels.ts).
import { sequenceTasks } from './pool.js';
import { kernelPool } from './runtime.js';

/** y (B, T, C) (+)= the prefix sums of x (B, T, C) along T: y_t = sum_{s <= t} x_s, in f32. */
export function cumsumForward(x: number, y: number, B: number, T: number, C: number, accumulate: boolean): void {
  const [tasks, minChunk] = sequenceTasks(B, T, C);
  kernelPool().run('cumsum_forward', [x, y, T, C, accumulate ? 1 : 0], tasks, 1, minChunk);
}

/** dx (B, T, C) (+)= the reverse prefix sums of dy along T: dx_t = sum_{s >= t} dy_s, in f32. */
export function cumsumBackward(dy: number, dx: number, B: number, T: number, C: number, accumulate: boolean): void {
  const [tasks, minChunk] = sequenceTasks(B, T, C);
  kernelPool().run('cumsum_backward', [dy, dx, T, C, accumulate ? 1 : 0], tasks, 1, minChunk);
}
