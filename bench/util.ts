// Shared benchmark helpers: best-of-N timing and the host's SIMD ceiling.
import { cpus } from 'node:os';
import { clockProbe } from '../src/core/kernels.js';

/** Best wall time in seconds of `reps` runs of fn after one warm-up run. */
export function bestOf(reps: number, fn: () => void): number {
  fn();
  return bestOfRuns(reps, fn);
}

/** Best wall time in seconds of `reps` runs of fn, with no warm-up. */
export function bestOfRuns(reps: number, fn: () => void): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

/**
 * Estimated clock (GHz) from a chain of dependent one-cycle integer ops run in wasm, and the
 * f32 ceiling of 128-bit SIMD per core at that clock: 4 lanes x 2 FMA units x 2 flops.
 */
export function simdCeiling(): { clockGHz: number; reportedGHz: number; gflopsPerCore: number } {
  const n = 20_000_000;
  const seconds = bestOf(3, () => clockProbe(n, 12345, 678));
  const clockGHz = (8 * n) / seconds / 1e9;
  const reportedGHz = (cpus()[0]?.speed ?? 0) / 1000;
  return { clockGHz, reportedGHz, gflopsPerCore: 16 * clockGHz };
}

export function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}
