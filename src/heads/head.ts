// Output heads: from final hidden states to a training loss and, for inference, to the
// log-probabilities of the next token.
import type { Tensor } from '../core/tensor.js';
import { Module } from '../nn/module.js';

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
}
