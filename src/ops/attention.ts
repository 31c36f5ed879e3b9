// Attention for training: fused causal multi-head attention (grouped KV heads) and rotary
// position embedding, with the RoPE table the inference engine shares.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import { attentionBackward, attentionForward, ropeForward } from '../core/kernels-attention.js';
import { cachedConstant } from '../core/constants.js';
import { Tensor } from '../core/tensor.js';

/**
 * Causal multi-head attention, fused (FlashAttention-style): q (B, T, heads*hd), k and v (B, T, kvHeads*hd)
 * -> (B, T, heads*hd). Query head h reads key/value head floor(h / (heads/kvHeads)) (grouped KV heads;
 * kvHeads must divide heads). Scale 1/sqrt(hd). Position t attends to 0..t.
 *
 * Only o and the per-row log-sum-exp lse (B, heads, T) are kept for the backward pass, which
 * rebuilds the attention weights from them block by block (memory O(T * hd) per head, not T^2).
 */
export function causalAttention(q: Tensor, k: Tensor, v: Tensor, heads: number, kvHeads: number): Tensor {
  if (q.shape.length !== 3) throw new Error(`causalAttention: q must be (B, T, heads*hd), got [${q.shape.join(', ')}]`);
  const [B, T, C] = q.shape;
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) throw new Error(`causalAttention: ${heads} heads do not divide width ${C}`);
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new Error(`causalAttention: kvHeads (${kvHeads}) must divide heads (${heads})`);
  }
  const hd = C / heads;
  for (const [name, t] of [['k', k], ['v', v]] as const) {
    if (t.shape.length !== 3 || t.shape[0] !== B || t.shape[1] !== T || t.shape[2] !== kvHeads * hd) {
      throw new Error(`causalAttention: ${name} is [${t.shape.join(', ')}], expected [${B}, ${T}, ${kvHeads * hd}] (kvHeads * head size)`);
    }
  }
  const o = Tensor.empty(q.shape);
  const lse = Tensor.empty([B, heads, T]);
  attentionForward(q.ptr, k.ptr, v.ptr, o.ptr, lse.ptr, B, T, heads, kvHeads, hd);
  if (!needsGrad(q, k, v)) {
    lse.dispose();
    return o;
  }
  return record(o, (go) => {
    // Collect the three gradient buffers first: when q, k or v are one tensor, gradInto hands the
    // later ones `accumulate`, which the kernel honours in the order dq, dk, dv.
    const ptrs = [0, 0, 0];
    const acc = [false, false, false];
    [q, k, v].forEach((t, i) => gradInto(t, (g, a) => {
      ptrs[i] = g.ptr;
      acc[i] = a;
    }));
    attentionBackward(q.ptr, k.ptr, v.ptr, o.ptr, go.ptr, lse.ptr, ptrs[0], ptrs[1], ptrs[2], B, T, heads, kvHeads, hd, acc[0], acc[1], acc[2]);
  });
}

/** The RoPE table of (T, hd, theta), built once per runtime. */
function cachedRopeTable(T: number, hd: number, theta: number): Tensor {
  return cachedConstant(`rope ${T},${hd},${theta}`, () => ropeTable(T, hd, theta));
}

/**
 * Rotary position embedding on x (B, T, heads*hd), position t = the row's index along T, in llama2.c's
 * interleaved convention: within each head, pair (i, i+1) (i even) turns by t / theta^(i/hd). hd even.
 * Backward: the inverse rotation of the gradient.
 */
export function rope(x: Tensor, heads: number, theta = 10000): Tensor {
  if (x.shape.length < 2) throw new Error(`rope: x must be (..., T, heads*hd), got [${x.shape.join(', ')}]`);
  const T = x.shape[x.shape.length - 2], C = x.shape[x.shape.length - 1];
  const hd = C / heads;
  if (!Number.isInteger(hd) || hd % 2 !== 0) throw new Error(`rope: width ${C} is not ${heads} heads of an even size`);
  const rows = x.size / C;
  const table = cachedRopeTable(T, hd, theta);
  const y = Tensor.empty(x.shape);
  ropeForward(x.ptr, table.ptr, y.ptr, rows, T, heads, hd, false, false);
  if (needsGrad(x)) {
    record(y, (gy) => gradInto(x, (gx, acc) => ropeForward(gy.ptr, table.ptr, gx.ptr, rows, T, heads, hd, true, acc)));
  }
  return y;
}

/**
 * RoPE table in the layout rope_rotate reads (row pos: [cos,cos] per pair then [-sin,sin] per pair),
 * as llama2.c turns: pair (i, i+1) of a head by pos / theta^(i / headSize).
 */
export function ropeTable(seqLen: number, headSize: number, theta: number): Tensor {
  const t = Tensor.empty([seqLen, 2 * headSize]);
  const v = t.f32();
  for (let pos = 0; pos < seqLen; pos++) {
    const row = pos * 2 * headSize;
    for (let i = 0; i < headSize; i += 2) {
      const angle = pos / Math.pow(theta, i / headSize);
      const cos = Math.cos(angle), sin = Math.sin(angle);
      v[row + i] = cos;
      v[row + i + 1] = cos;
      v[row + headSize + i] = -sin;
      v[row + headSize + i + 1] = sin;
    }
  }
  return t;
}
