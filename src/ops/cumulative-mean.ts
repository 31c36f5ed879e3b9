// The weighted running mean over time of CPUFlow's token mixer, cumsum(w * v) / (cumsum(w) + eps),
// as one op whose time loop runs in a kernel (assembly/cumulative_mean.ts).
import { gradPair, needsGrad, record } from '../core/autograd.js';
import { cumulativeMeanBackward, cumulativeMeanForward } from '../core/kernels-cumulative-mean.js';
import { Tensor } from '../core/tensor.js';

/**
 * m (B, T, C) with m_t = (sum_{s <= t} w_s * v_s) / (sum_{s <= t} w_s + eps), elementwise over the
 * channels of the weights w and values v (both (B, T, C)): with w > 0, a running mean of v
 * weighted by w. Sums accumulate in f32.
 *
 * The denominators D_t are kept for the backward pass: with g = dL/dm, A_s = sum_{t >= s} g_t / D_t
 * and M_s = sum_{t >= s} g_t m_t / D_t, dv_s = w_s A_s and dw_s = v_s A_s - M_s.
 */
export function cumulativeMean(w: Tensor, v: Tensor, eps: number): Tensor {
  if (w.shape.length !== 3) throw new Error(`cumulativeMean: w must be (B, T, C), got [${w.shape.join(', ')}]`);
  if (v.shape.length !== 3 || v.shape.some((d, i) => d !== w.shape[i])) {
    throw new Error(`cumulativeMean: v is [${v.shape.join(', ')}], expected [${w.shape.join(', ')}] (the shape of w)`);
  }
  const [B, T, C] = w.shape;
  const m = Tensor.empty(w.shape);
  const den = Tensor.empty(w.shape);
  cumulativeMeanForward(w.ptr, v.ptr, m.ptr, den.ptr, B, T, C, eps);
  if (!needsGrad(w, v)) {
    den.dispose();
    return m;
  }
  return record(m, (gm) => {
    // The kernel writes dw before dv at each element, as gradPair needs when w and v are one tensor.
    const { ptrs, accumulate } = gradPair(w, v);
    cumulativeMeanBackward(w.ptr, v.ptr, m.ptr, den.ptr, gm.ptr, ptrs[0], ptrs[1], B, T, C, accumulate[0], accumulate[1]);
  });
}
