// Causal depthwise dilated 1-D convolution: the token mixer of FlashLM.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';

/**
 * x (B, T, C), w (Kw, C), bias (C) or null -> y (B, T, C):
 * y[b, t, c] = bias[c] + sum_i w[i, c] x[b, t - (Kw-1-i) * dilation, c] (zeros before t = 0).
 */
export function causalConv1d(x: Tensor, w: Tensor, bias: Tensor | null, dilation: number): Tensor {
  const [B, T, C] = x.shape;
  const [Kw, Cw] = w.shape;
  if (Cw !== C || x.shape.length !== 3) throw new Error(`causalConv1d: x [${x.shape.join(', ')}] and w [${w.shape.join(', ')}] do not fit`);
  const rows = B * T;
  const y = Tensor.empty(x.shape);
  K.conv1dForward(x.ptr, w.ptr, bias ? bias.ptr : 0, y.ptr, rows, T, C, Kw, dilation);
  if (needsGrad(x, w, bias)) {
    record(y, (gy) => {
      const run = (dx: number, accDx: boolean, dw: number, accDw: boolean) =>
        K.conv1dBackward(x.ptr, w.ptr, gy.ptr, dx, dw, rows, T, C, Kw, dilation, accDx, accDw);
      if (w.requiresGrad) {
        if (x.requiresGrad) gradInto(x, (gx, ax) => gradInto(w, (gw, aw) => run(gx.ptr, ax, gw.ptr, aw)));
        else {
          const scratch = Tensor.empty(x.shape);
          gradInto(w, (gw, aw) => run(scratch.ptr, false, gw.ptr, aw));
          scratch.dispose();
        }
      } else if (x.requiresGrad) {
        gradInto(x, (gx, ax) => run(gx.ptr, ax, 0, false));
      }
      if (bias) gradInto(bias, (gb, acc) => K.colSum(gy.ptr, rows, C, 1, gb.ptr, acc));
    });
  }
  return y;
}
