// 8-bit weight precision for hybrid models: weights fake-quantized per output row (absmax)
// with a straight-through estimator, multiplied in f32.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { leadingRows } from './matmul.js';

/** y = x . Q(W)^T with Q = per-row absmax int8 rounding; dx = dy . Q(W), dW = dy^T . x (STE). */
export function int8Linear(x: Tensor, W: Tensor): Tensor {
  const [N, Kd] = W.shape;
  const M = leadingRows(x);
  const Kp = Math.ceil(Kd / 8) * 8;
  const q = Tensor.empty([N, Kp], 'i16');
  const s = Tensor.empty([N]);
  const wq = Tensor.empty([N, Kd]);
  K.quantizeRowsI8(W.ptr, N, Kd, q.ptr, Kp, s.ptr);
  K.dequantizeRowsI8(q.ptr, Kp, s.ptr, wq.ptr, N, Kd);
  q.dispose();
  s.dispose();
  const y = Tensor.empty([...x.shape.slice(0, -1), N]);
  K.matmul(M, N, Kd, x.ptr, false, wq.ptr, true, y.ptr, false);
  if (needsGrad(x, W)) {
    record(y, (gy) => {
      gradInto(x, (gx, acc) => K.matmul(M, Kd, N, gy.ptr, false, wq.ptr, false, gx.ptr, acc));
      gradInto(W, (gw, acc) => K.matmul(N, Kd, M, gy.ptr, true, x.ptr, false, gw.ptr, acc));
    });
  }
  return y;
}
