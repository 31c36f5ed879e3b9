// The full softmax head: logits = h . W^T over the whole vocabulary, trained through the fused,
// chunked cross-entropy (never the whole rows x V logits at once).
import { noGrad } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { init } from '../nn/module.js';
import { linearCrossEntropy, linearCrossEntropyRows } from '../ops/loss.js';
import { Head } from './head.js';

export class SoftmaxHead extends Head {
  readonly weight: Tensor;

  /** `tied`: use this (V, d) tensor (the token embedding) instead of a weight of its own. */
  constructor(readonly vocabSize: number, readonly dim: number, rng: Rng, tied?: Tensor) {
    super();
    this.weight = tied ?? this.param('weight', init.normal([vocabSize, dim], 1 / Math.sqrt(dim), rng), { decay: true, matrix: false });
  }

  loss(h: Tensor, targets: Tensor): Tensor {
    return linearCrossEntropy(h, this.weight, targets);
  }

  override tokenLosses(h: Tensor, targets: Tensor): Float32Array {
    return linearCrossEntropyRows(h, this.weight, targets);
  }

  macsPerToken(): number {
    return this.vocabSize * this.dim;
  }

  logProbs(h: Tensor): Tensor {
    return noGrad(() => {
      const M = h.size / this.dim;
      const out = Tensor.empty([M, this.vocabSize]);
      K.matmul(M, this.vocabSize, this.dim, h.ptr, false, this.weight.ptr, true, out.ptr, false);
      K.logSoftmaxForward(out.ptr, out.ptr, M, this.vocabSize);
      return out;
    });
  }
}
