// Token embedding lookup.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';

/** table (V, D), ids (int32, any shape) -> (...ids.shape, D). Ids must lie in [0, V). */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  if (ids.dtype !== 'i32') throw new Error('embedding ids must be int32');
  const [V, D] = table.shape;
  const idv = ids.typed();
  for (let i = 0; i < idv.length; i++) {
    if (idv[i] < 0 || idv[i] >= V) throw new Error(`token id ${idv[i]} is outside the vocabulary (0..${V - 1})`);
  }
  const y = Tensor.empty([...ids.shape, D]);
  K.embeddingForward(table.ptr, ids.ptr, y.ptr, ids.size, D);
  if (needsGrad(table)) {
    record(y, (gy) => gradInto(table, (gt, acc) => {
      if (!acc) K.fill(gt.ptr, gt.size, 0);
      K.embeddingBackward(gy.ptr, ids.ptr, gt.ptr, ids.size, D);
    }));
  }
  return y;
}
