// Optimizer kernels beyond AdamW: NorMuon's per-row second-moment normalisation.
import { hsum } from './simd';

/**
 * NorMuon row normalisation for rows [start, end) of o (rows x cols), in place:
 * v[r] = beta2 * v[r] + (1 - beta2) * mean_c o[r, c]^2;  o[r, :] /= sqrt(v[r] / bc2) + eps,
 * where bc2 = 1 - beta2^t is the bias correction of step t. One thread owns each row.
 */
export function normuon_rows(o: usize, v: usize, cols: i32, beta2: f32, bc2: f32, eps: f32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const row = o + <usize>r * <usize>cols * 4;
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const x = v128.load(row + <usize>c * 4);
      acc = f32x4.add(acc, f32x4.mul(x, x));
    }
    let ss = hsum(acc);
    for (; c < cols; c++) {
      const x = load<f32>(row + <usize>c * 4);
      ss += x * x;
    }
    const vr = beta2 * load<f32>(v + <usize>r * 4) + (1 - beta2) * (ss / <f32>cols);
    store<f32>(v + <usize>r * 4, vr);
    const inv: f32 = 1 / (Mathf.sqrt(vr / bc2) + eps);
    const iv = f32x4.splat(inv);
    c = 0;
    for (; c + 4 <= cols; c += 4) v128.store(row + <usize>c * 4, f32x4.mul(iv, v128.load(row + <usize>c * 4)));
    for (; c < cols; c++) store<f32>(row + <usize>c * 4, inv * load<f32>(row + <usize>c * 4));
  }
}
