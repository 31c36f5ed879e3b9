// What every score needs of a model: the log-probability of chosen next tokens, for many rows
// of tokens at once. Two kinds of model provide it:
//   - a model with a batched forward pass (the training model class): every row of a batch goes
//     through its matrix kernels in one pass, on all threads, and the head scores only the
//     targets (the hierarchical head walks one path per token, the softmax head never keeps
//     more than a chunk of logits);
//   - any inference engine (InferenceModel): each row is stepped through one token at a time,
//     and the target's log-probability is read off the logits.
// The scorers (text.ts, minimal-pairs.ts, multiple-choice.ts) only see TokenScorer.
import { noGrad } from '../core/autograd.js';
import { Tensor, scope } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { InferenceModel } from '../infer/model.js';

export interface TokenScorer {
  /** Model family and file kind, for reports ('flashlm checkpoint', 'llama llama2.c', ...). */
  readonly description: string;
  /** Most input tokens one row may hold. */
  readonly contextLength: number;
  readonly vocabSize: number;
  /**
   * B rows of T input ids (row-major) and their next-token targets (B*T, negative: not scored)
   * -> nats (-log p) of each target, 0 where not scored.
   */
  nats(ids: Int32Array, targets: Int32Array, B: number, T: number): Float32Array;
  dispose(): void;
}

/** A model whose forward pass maps ids (B, T) to final hidden states (B*T, d) read by a head. */
export interface HiddenStateModel {
  readonly config: { vocabSize: number; contextLength: number };
  readonly head: Head;
  hidden(ids: Tensor): Tensor;
  dispose(): void;
}

/** Scores rows in batches through a model's training forward pass (no gradients, no dropout). */
export class BatchedScorer implements TokenScorer {
  readonly contextLength: number;
  readonly vocabSize: number;

  constructor(private readonly model: HiddenStateModel, readonly description: string) {
    this.contextLength = model.config.contextLength;
    this.vocabSize = model.config.vocabSize;
  }

  nats(ids: Int32Array, targets: Int32Array, B: number, T: number): Float32Array {
    return noGrad(() => scope(() => {
      const h = this.model.hidden(Tensor.from(ids, [B, T], 'i32'));
      return this.model.head.tokenLosses(h, Tensor.from(targets, [B * T], 'i32'));
    }));
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Scores rows one token at a time through an inference engine's state. */
export class SteppedScorer implements TokenScorer {
  readonly contextLength: number;
  readonly vocabSize: number;

  constructor(private readonly model: InferenceModel, readonly description: string) {
    this.contextLength = Number.isFinite(model.contextLength) ? model.contextLength : 1 << 16;
    this.vocabSize = model.vocabSize;
  }

  nats(ids: Int32Array, targets: Int32Array, B: number, T: number): Float32Array {
    const out = new Float32Array(B * T);
    const state = this.model.newState();
    try {
      for (let b = 0; b < B; b++) {
        const row = b * T;
        let first = -1, last = -1;
        for (let j = 0; j < T; j++) {
          if (targets[row + j] < 0) continue;
          if (first < 0) first = j;
          last = j;
        }
        if (first < 0) continue;
        this.model.reset(state);
        // Logits after input j predict target j; the inputs before `first` need no classifier.
        let logits = this.model.prefill(state, ids.subarray(row, row + first + 1));
        for (let j = first; j <= last; j++) {
          if (j > first) logits = this.model.step(state, ids[row + j]);
          const t = targets[row + j];
          if (t >= 0) out[row + j] = logSumExp(logits) - logits[t];
        }
      }
    } finally {
      state.dispose();
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** log sum exp of a row of logits (or log-probabilities), in f64. */
function logSumExp(x: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  return max + Math.log(sum);
}
