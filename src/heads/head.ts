// Output heads: from final hidden states to a training loss and, for inference, to the
// log-probabilities of the next token.
import { noGrad } from '../core/autograd.js';
import { scope, type Tensor } from '../core/tensor.js';
import { Module } from '../nn/module.js';

/** Rows of full log-probabilities the default `tokenLosses` holds at once (x V floats). */
const ROWS_PER_CHUNK = 256;

export abstract class Head extends Module {
  /**
   * Mean cross-entropy (nats per counted token) of the next-token targets given hidden states:
   * h (M, d), targets int32 (M) with negative entries ignored. Returns a one-element tensor that
   * backward() can start from. When every target is ignored the loss is 0 and the gradient of h
   * and of every head parameter is zero (ignoredBatchLoss).
   */
  abstract loss(h: Tensor, targets: Tensor): Tensor;

  /**
   * Multiply-adds of the training loss's forward pass per token whose target follows the token
   * frequencies `counts` (benchmarks count model FLOPs with it).
   */
  abstract macsPerToken(counts: ArrayLike<number>): number;

  /** Log-probabilities over the whole vocabulary for each row of h (M, d) -> (M, V). No gradient. */
  abstract logProbs(h: Tensor): Tensor;

  /**
   * -log p(target | h) of each row in nats, h (M, d), targets int32 (M); 0 where the target is
   * negative (not scored). No gradient. Heads override this with a cheaper pass; this one
   * reads the targets' columns off `logProbs`, a chunk of rows at a time.
   */
  tokenLosses(h: Tensor, targets: Tensor): Float32Array {
    const d = h.shape[h.shape.length - 1];
    const M = h.size / d;
    const tv = targets.typed();
    const out = new Float32Array(M);
    for (let r0 = 0; r0 < M; r0 += ROWS_PER_CHUNK) {
      const rows = Math.min(ROWS_PER_CHUNK, M - r0);
      noGrad(() => scope(() => {
        const lp = this.logProbs(h.reshape([M, d]).rows(r0, rows)).f32();
        const V = lp.length / rows;
        for (let r = 0; r < rows; r++) {
          const t = tv[r0 + r];
          if (t >= 0) out[r0 + r] = -lp[r * V + t];
        }
      }));
    }
    return out;
  }
}
