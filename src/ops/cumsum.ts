// Causal prefix sums over time, the running state of linear attention (CPUFlow-style
// out = q * cumsum(k * v) / (cumsum(k) + eps)).
import { gradInto, needsGrad, record } from '../core/autograd.js';
import { cumsumBackward, cumsumForward } from '../core/kernels-cumsum.js';
import { Tensor } from '../core/tensor.js';

/**
 * x (B, T, C) -> y (B, T, C), y_t = sum_{s <= t} x_s along T, per batch row and channel. Sums are
 * accumulated in f32 (error about T * 2^-24 relative at worst). Backward: dx_t = sum_{s >= t} dy_s.
 */
export function cumsum(x: Tensor): Tensor {
  if (x.shape.length !== 3) throw new Error(`cumsum: x must be (B, T, C), got [${x.shape.join(', ')}]`);
  const [B, T, C] = x.shape;
  const y = Tensor.empty(x.shape);
  cumsumForward(x.ptr, y.ptr, B, T, C, false);
  if (needsGrad(x)) {
    record(y, (gy) => gradInto(x, (gx, acc) => cumsumBackward(gy.ptr, gx.ptr, B, T, C, acc)));
  }
  return y;
}
