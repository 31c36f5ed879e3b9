// Causal linear attention (Katharopoulos et al., "Transformers are RNNs", arXiv 2006.16236) and
// the causal running mean, for training: whole sequences at once. With positive features
// φ(q), φ(k) the output at position i is
//   out_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i,  S_i = Σ_{j <= i} φ(k_j) v_jᵀ,  z_i = Σ_{j <= i} φ(k_j),
// which is (A ⊙ causal mask, rows normalised) . V with A = φ(Q) φ(K)ᵀ: O(T²) per head, and no
// (T, hd, hd) running state to keep for the backward pass. An engine keeps S and z instead.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import { cachedConstant } from '../core/constants.js';
import { causalNormalizeBackward, causalNormalizeForward } from '../core/kernels-linear-attention.js';
import { Tensor } from '../core/tensor.js';
import { cumsum } from './cumsum.js';
import { mul, reshape } from './elementwise.js';
import { bmm } from './matmul.js';

/**
 * a (..., T, T) positive scores -> y, y_ij = a_ij / Σ_{j' <= i} a_ij' for j <= i and 0 above the
 * diagonal. Backward: da_ij = (dy_ij - Σ_{j' <= i} dy_ij' y_ij') / Σ_{j' <= i} a_ij' for j <= i.
 */
export function causalNormalize(a: Tensor): Tensor {
  const T = a.shape[a.shape.length - 1];
  if (a.shape.length < 2 || a.shape[a.shape.length - 2] !== T) throw new Error(`causalNormalize needs (..., T, T), got [${a.shape.join(', ')}]`);
  const rows = a.size / T;
  const y = Tensor.empty(a.shape);
  causalNormalizeForward(a.ptr, y.ptr, rows, T);
  if (needsGrad(a)) record(y, (gy) => gradInto(a, (ga, acc) => causalNormalizeBackward(a.ptr, y.ptr, gy.ptr, ga.ptr, rows, T, acc)));
  return y;
}

/**
 * Causal linear attention per head: phiQ, phiK (..., T, hd) positive features (e.g. elu + 1 of the
 * queries and keys), v (..., T, hd) -> (..., T, hd).
 */
export function causalLinearAttention(phiQ: Tensor, phiK: Tensor, v: Tensor): Tensor {
  return bmm(causalNormalize(bmm(phiQ, phiK, false, true)), v);
}

/** 1 / (t + 1) for t = 0..T-1, each repeated C times: the row scale of a causal mean, (1, T * C). */
function inverseCounts(T: number, C: number): Tensor {
  return cachedConstant(`inverse counts ${T},${C}`, () => {
    const v = new Float32Array(T * C);
    for (let t = 0; t < T; t++) v.fill(1 / (t + 1), t * C, (t + 1) * C);
    return Tensor.from(v, [1, T * C]);
  });
}

/** x (B, T, C) -> the mean of x_0..x_t at every t, (B, T, C): cumsum along T, divided by t + 1. */
export function causalMean(x: Tensor): Tensor {
  const [B, T, C] = x.shape;
  return reshape(mul(reshape(cumsum(x), [B, T * C]), inverseCounts(T, C)), [B, T, C]);
}
