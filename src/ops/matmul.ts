// Matrix products: linear layers, plain 2-D products and batched products (attention).
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';

/** Rows of x when its last axis is the feature axis. */
export function leadingRows(x: Tensor): number {
  return x.size / x.shape[x.shape.length - 1];
}

/**
 * y = x . W^T (+ bias): x (..., K), W (N, K) as in nn.Linear, bias (N) or null -> y (..., N).
 * Backward: dx = dy . W, dW = dy^T . x, dbias = column sums of dy.
 */
export function linear(x: Tensor, W: Tensor, bias: Tensor | null = null): Tensor {
  const [N, Kd] = W.shape;
  if (x.shape[x.shape.length - 1] !== Kd) throw new Error(`linear: input [${x.shape.join(', ')}] does not end in ${Kd}`);
  const M = leadingRows(x);
  const y = Tensor.empty([...x.shape.slice(0, -1), N]);
  K.matmul(M, N, Kd, x.ptr, false, W.ptr, true, y.ptr, false);
  if (bias) K.binaryForward('add', y.ptr, bias.ptr, N, y.ptr, y.size);
  if (needsGrad(x, W, bias)) {
    record(y, (gy) => {
      gradInto(x, (gx, acc) => K.matmul(M, Kd, N, gy.ptr, false, W.ptr, false, gx.ptr, acc));
      gradInto(W, (gw, acc) => K.matmul(N, Kd, M, gy.ptr, true, x.ptr, false, gw.ptr, acc));
      if (bias) gradInto(bias, (gb, acc) => K.colSum(gy.ptr, M, N, 1, gb.ptr, acc));
    });
  }
  return y;
}

/** C = A . B for 2-D A (M, K) and B (K, N); transA / transB take A as (K, M), B as (N, K). */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const M = transA ? a.shape[1] : a.shape[0];
  const Ka = transA ? a.shape[0] : a.shape[1];
  const Kb = transB ? b.shape[1] : b.shape[0];
  const N = transB ? b.shape[0] : b.shape[1];
  if (Ka !== Kb) throw new Error(`matmul: inner sizes ${Ka} and ${Kb} differ`);
  const c = Tensor.empty([M, N]);
  K.matmul(M, N, Ka, a.ptr, transA, b.ptr, transB, c.ptr, false);
  if (needsGrad(a, b)) {
    record(c, (gc) => {
      // dA = dC . B^T (as A's layout), dB = A^T . dC (as B's layout)
      gradInto(a, (ga, acc) => {
        if (transA) K.matmul(Ka, M, N, b.ptr, transB, gc.ptr, true, ga.ptr, acc);
        else K.matmul(M, Ka, N, gc.ptr, false, b.ptr, !transB, ga.ptr, acc);
      });
      gradInto(b, (gb, acc) => {
        if (transB) K.matmul(N, Ka, M, gc.ptr, true, a.ptr, transA, gb.ptr, acc);
        else K.matmul(Ka, N, M, a.ptr, !transA, gc.ptr, false, gb.ptr, acc);
      });
    });
  }
  return c;
}

/**
 * Batched product over the leading axes: a (..., M, K) . b (..., K, N) -> (..., M, N), with the
 * same transpose flags as matmul applied to the last two axes of each operand.
 */
export function bmm(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const ra = a.shape.length, rb = b.shape.length;
  const [a0, a1] = [a.shape[ra - 2], a.shape[ra - 1]];
  const [b0, b1] = [b.shape[rb - 2], b.shape[rb - 1]];
  const M = transA ? a1 : a0, Ka = transA ? a0 : a1;
  const Kb = transB ? b1 : b0, N = transB ? b0 : b1;
  const batch = a.size / (a0 * a1);
  if (Ka !== Kb || b.size / (b0 * b1) !== batch) {
    throw new Error(`bmm: [${a.shape.join(', ')}] and [${b.shape.join(', ')}] do not multiply`);
  }
  const c = Tensor.empty([...a.shape.slice(0, -2), M, N]);
  const sa = a0 * a1 * 4, sb = b0 * b1 * 4, sc = M * N * 4;
  for (let i = 0; i < batch; i++) K.matmul(M, N, Ka, a.ptr + i * sa, transA, b.ptr + i * sb, transB, c.ptr + i * sc, false);
  if (needsGrad(a, b)) {
    record(c, (gc) => {
      gradInto(a, (ga, acc) => {
        for (let i = 0; i < batch; i++) {
          if (transA) K.matmul(Ka, M, N, b.ptr + i * sb, transB, gc.ptr + i * sc, true, ga.ptr + i * sa, acc);
          else K.matmul(M, Ka, N, gc.ptr + i * sc, false, b.ptr + i * sb, !transB, ga.ptr + i * sa, acc);
        }
      });
      gradInto(b, (gb, acc) => {
        for (let i = 0; i < batch; i++) {
          if (transB) K.matmul(N, Ka, M, gc.ptr + i * sc, true, a.ptr + i * sa, transA, gb.ptr + i * sb, acc);
          else K.matmul(Ka, N, M, a.ptr + i * sa, !transA, gc.ptr + i * sc, false, gb.ptr + i * sb, acc);
        }
      });
    });
  }
  return c;
}
