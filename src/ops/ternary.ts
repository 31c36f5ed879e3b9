// Ternary (1.58-bit) linear layer, BitNet b1.58 style: AbsMean weight ternarization with a
// straight-through estimator, optional 8-bit per-token absmax activations.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { leadingRows } from './matmul.js';

/** AbsMean scale of a weight tensor: alpha = mean |W| (floored so that alpha > 0). */
export function absMean(W: Tensor): number {
  return Math.max(K.reduce('sumabs', W.ptr, W.size) / W.size, 1e-8);
}

/**
 * AbsMean ternarization of W (N, K), 2 bits a weight in the kernels' layout (rows padded to
 * ternaryPaddedK(K)): the weights alpha * T that ternaryLinear multiplies by. The caller owns
 * `packed`.
 */
export function packTernary(W: Tensor, alpha = absMean(W)): { alpha: number; packed: Tensor } {
  const [N, Kd] = W.shape;
  const packed = Tensor.empty([N * (K.ternaryPaddedK(Kd) / 4)], 'u8');
  K.ternaryPack(W.ptr, alpha, packed.ptr, N, Kd);
  return { alpha, packed };
}

export interface TernaryLinearOptions {
  /** Quantize activations to 8 bits per token (absmax) and multiply in integers. */
  quantizeActivations: boolean;
}

/**
 * y = x . (alpha * T)^T with T = clamp(round(W / alpha), -1, 1), x (..., K), W (N, K) -> (..., N).
 * With 8-bit activations the product runs as int16 dot products of q(x) against T, so each
 * weight only adds, subtracts or skips an activation. Gradients pass straight through both
 * quantizers: dx = dy . (alpha T), dW = dy^T . x_seen (the activations the product really used).
 */
export function ternaryLinear(x: Tensor, W: Tensor, opts: TernaryLinearOptions): Tensor {
  const [N, Kd] = W.shape;
  if (x.shape[x.shape.length - 1] !== Kd) throw new Error(`ternaryLinear: input [${x.shape.join(', ')}] does not end in ${Kd}`);
  const M = leadingRows(x);
  const alpha = absMean(W);
  const y = Tensor.empty([...x.shape.slice(0, -1), N]);
  const grad = needsGrad(x, W);
  let wt: Tensor | null = null; // alpha * T as f32, for the float product and the backward pass
  let xSeen = x;
  if (opts.quantizeActivations) {
    const Kp = K.ternaryPaddedK(Kd);
    const { packed } = packTernary(W, alpha);
    const codes = Tensor.empty([K.ternaryCodesBytes(N, Kp)], 'u8');
    const q = Tensor.empty([M, Kp], 'i16');
    const s = Tensor.empty([M]);
    K.ternaryUnpackCodes(packed.ptr, codes.ptr, N, Kp);
    K.quantizeRowsI8(x.ptr, M, Kd, q.ptr, Kp, s.ptr);
    K.ternaryMatmulI16(q.ptr, s.ptr, codes.ptr, alpha, y.ptr, N, M, N, Kp, false);
    if (grad && W.requiresGrad) {
      xSeen = Tensor.empty(x.shape);
      K.dequantizeRowsI8(q.ptr, Kp, s.ptr, xSeen.ptr, M, Kd);
    }
    packed.dispose();
    codes.dispose();
    q.dispose();
    s.dispose();
  } else {
    wt = Tensor.empty(W.shape);
    K.ternarizeF32(W.ptr, alpha, wt.ptr, W.size);
    K.matmul(M, N, Kd, x.ptr, false, wt.ptr, true, y.ptr, false);
  }
  if (grad) {
    if (!wt && x.requiresGrad) {
      wt = Tensor.empty(W.shape);
      K.ternarizeF32(W.ptr, alpha, wt.ptr, W.size);
    }
    const w = wt;
    record(y, (gy) => {
      if (w) gradInto(x, (gx, acc) => K.matmul(M, Kd, N, gy.ptr, false, w.ptr, false, gx.ptr, acc));
      gradInto(W, (gw, acc) => K.matmul(N, Kd, M, gy.ptr, true, xSeen.ptr, false, gw.ptr, acc));
    });
  } else {
    wt?.dispose();
  }
  return y;
}

/** Fractions of -1, 0 and +1 in W's ternarization, and its scale alpha (for the training log). */
export function ternaryStats(W: Tensor): { alpha: number; neg: number; zero: number; pos: number } {
  const alpha = absMean(W);
  const [neg, zero, pos] = K.ternaryCounts(W.ptr, alpha, W.size);
  return { alpha, neg: neg / W.size, zero: zero / W.size, pos: pos / W.size };
}
