// The gated linear recurrence of the MatMul-free LM's MLGRU: the hidden state as one op whose
// time loop runs in the kernel (assembly/recurrence.ts).
import { gradPair, needsGrad, record } from '../core/autograd.js';
import { recurrenceBackward, recurrenceForward } from '../core/kernels-recurrence.js';
import { Tensor } from '../core/tensor.js';

/**
 * h (B, T, C) with h_t = f_t * h_{t-1} + (1 - f_t) * c_t and h_{-1} = 0, elementwise over the
 * channels of the forget gate f and the candidate c (both (B, T, C); f need not lie in (0, 1)).
 *
 * Only h is kept for the backward pass: with a_t = g_t + f_{t+1} * a_{t+1} (g = dL/dh),
 * dc_t = (1 - f_t) * a_t and df_t = a_t * (h_{t-1} - c_t).
 */
export function gatedRecurrence(f: Tensor, c: Tensor): Tensor {
  if (f.shape.length !== 3) throw new Error(`gatedRecurrence: f must be (B, T, C), got [${f.shape.join(', ')}]`);
  if (c.shape.length !== 3 || c.shape.some((d, i) => d !== f.shape[i])) {
    throw new Error(`gatedRecurrence: c is [${c.shape.join(', ')}], expected [${f.shape.join(', ')}] (the shape of f)`);
  }
  const [B, T, C] = f.shape;
  const h = Tensor.empty(f.shape);
  recurrenceForward(f.ptr, c.ptr, h.ptr, B, T, C);
  if (!needsGrad(f, c)) return h;
  return record(h, (gh) => {
    // The kernel writes df before dc at each element, as gradPair needs when f and c are one tensor.
    const { ptrs, accumulate } = gradPair(f, c);
    recurrenceBackward(f.ptr, c.ptr, h.ptr, gh.ptr, ptrs[0], ptrs[1], B, T, C, accumulate[0], accumulate[1]);
  });
}
