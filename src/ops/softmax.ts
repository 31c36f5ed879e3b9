// Softmax over the last axis.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { leadingRows } from './matmul.js';

/**
 * softmax over the last axis. With `causal`, x is (..., T, T) attention scores and query row t
 * only attends to keys 0..t (masked entries come out as exactly 0).
 */
export function softmax(x: Tensor, causal = false): Tensor {
  const D = x.shape[x.shape.length - 1];
  const rows = leadingRows(x);
  if (causal && x.shape[x.shape.length - 2] !== D) throw new Error(`causal softmax needs (..., T, T), got [${x.shape.join(', ')}]`);
  const y = Tensor.empty(x.shape);
  K.softmaxForward(x.ptr, y.ptr, rows, D, causal ? D : 0);
  if (needsGrad(x)) record(y, (gy) => gradInto(x, (gx, acc) => K.softmaxBackward(y.ptr, gy.ptr, gx.ptr, rows, D, acc)));
  return y;
}
