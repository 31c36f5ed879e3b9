// Bindings of the gated linear recurrence kernels (assembly/recurrence.ts): forward and backward
// over whole sequences, split over (batch, block of 16 channels) tasks so that the threads share
// the work even at batch 1. Arguments go in the kernel's order (see kernels.ts).
import { sequenceTasks } from './pool.js';
import { kernelPool } from './runtime.js';

/** h (B, T, C) = the recurrence h_t = f_t * h_{t-1} + (1 - f_t) * c_t over f, c (B, T, C), h_{-1} = 0. */
export function recurrenceForward(f: number, c: number, h: number, B: number, T: number, C: number): void {
  const [tasks, minChunk] = sequenceTasks(B, T, C);
  kernelPool().run('recurrence_forward', [f, c, h, T, C], tasks, 1, minChunk);
}

/**
 * df, dc (+)= the gradients of recurrenceForward given f, c, its output h and the gradient g of h.
 * A zero pointer skips that gradient. df and dc may share a buffer if dc accumulates.
 */
export function recurrenceBackward(
  f: number, c: number, h: number, g: number, df: number, dc: number, B: number, T: number, C: number,
  accumulateDf: boolean, accumulateDc: boolean,
): void {
  const [tasks, minChunk] = sequenceTasks(B, T, C);
  const flags = (accumulateDf ? 1 : 0) | (accumulateDc ? 2 : 0);
  kernelPool().run('recurrence_backward', [f, c, h, g, df, dc, T, C, flags], tasks, 1, minChunk);
}
