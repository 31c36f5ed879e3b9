// Normalization over the last axis.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { leadingRows } from './matmul.js';

/** RMSNorm: x (..., D) -> x / rms(x) * w; w (D) or null for no gain. */
export function rmsNorm(x: Tensor, w: Tensor | null, eps = 1e-6): Tensor {
  const D = x.shape[x.shape.length - 1];
  const rows = leadingRows(x);
  const y = Tensor.empty(x.shape);
  const rstd = Tensor.empty([rows]);
  K.rmsNormForward(x.ptr, w ? w.ptr : 0, y.ptr, rstd.ptr, rows, D, eps);
  if (needsGrad(x, w)) {
    record(y, (gy) => {
      const wantW = !!w && w.requiresGrad;
      const run = (dx: number, accDx: boolean, dw: number, accDw: boolean) =>
        K.rmsNormBackward(x.ptr, w ? w.ptr : 0, rstd.ptr, gy.ptr, dx, dw, rows, D, accDx, accDw);
      if (x.requiresGrad) {
        gradInto(x, (gx, accX) => {
          if (wantW) gradInto(w!, (gw, accW) => run(gx.ptr, accX, gw.ptr, accW));
          else run(gx.ptr, accX, 0, false);
        });
      } else if (wantW) {
        const scratch = Tensor.empty(x.shape);
        gradInto(w!, (gw, accW) => run(scratch.ptr, false, gw.ptr, accW));
        scratch.dispose();
      }
    });
  }
  return y;
}

/** LayerNorm: x (..., D) -> (x - mean) / std * w + b. */
export function layerNorm(x: Tensor, w: Tensor | null, b: Tensor | null, eps = 1e-5): Tensor {
  const D = x.shape[x.shape.length - 1];
  const rows = leadingRows(x);
  const y = Tensor.empty(x.shape);
  const mean = Tensor.empty([rows]);
  const rstd = Tensor.empty([rows]);
  K.layerNormForward(x.ptr, w ? w.ptr : 0, b ? b.ptr : 0, y.ptr, mean.ptr, rstd.ptr, rows, D, eps);
  if (needsGrad(x, w, b)) {
    record(y, (gy) => {
      const wantParams = (!!w && w.requiresGrad) || (!!b && b.requiresGrad);
      const dwdb = wantParams ? Tensor.empty([2 * D]) : null;
      const dx = x.requiresGrad ? null : Tensor.empty(x.shape);
      const run = (dxPtr: number, acc: boolean) =>
        K.layerNormBackward(x.ptr, w ? w.ptr : 0, mean.ptr, rstd.ptr, gy.ptr, dxPtr, dwdb ? dwdb.ptr : 0, rows, D, acc, false);
      if (x.requiresGrad) gradInto(x, (gx, acc) => run(gx.ptr, acc));
      else run(dx!.ptr, false);
      if (dwdb) {
        if (w) gradInto(w, (gw, acc) => K.scale(dwdb.ptr, 1, gw.ptr, D, acc));
        if (b) gradInto(b, (gb, acc) => K.scale(dwdb.ptr + D * 4, 1, gb.ptr, D, acc));
        dwdb.dispose();
      }
      dx?.dispose();
    });
  }
  return y;
}
