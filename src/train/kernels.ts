// Kernel wrappers of the optimizers beyond AdamW (see assembly/optim_extra.ts).
import { rt } from '../core/runtime.js';

const WORK_MIN = 1 << 14; // elements per thread below which a call stays single-threaded

/**
 * NorMuon row normalisation of o (rows x cols) in place, updating the per-row second moment
 * v (rows): v = beta2 v + (1 - beta2) mean(o_r^2); o_r /= sqrt(v / (1 - beta2^step)) + eps.
 */
export function normuonRows(o: number, v: number, rows: number, cols: number, beta2: number, step: number, eps: number): void {
  const bc2 = 1 - Math.pow(beta2, step);
  rt().pool.run('normuon_rows', [o, v, cols, beta2, bc2, eps], rows, 1, Math.max(1, Math.ceil(WORK_MIN / cols)));
}
