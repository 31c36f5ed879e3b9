// What the generation loop, chat and benchmarks know about a model: it turns one new token into
// next-token logits, carrying everything about the past in a state object. A family plugs in
// by implementing InferenceModel (Llama with a KV cache in llama.ts; a convolutional model
// would keep a ring buffer of past inputs in its state instead).

import type { Tokenizer } from '../data/tokenizer.js';

/** The per-sequence memory of a model (KV cache, conv ring buffer...), living in the wasm heap. */
export interface InferenceState {
  /** Tokens consumed so far: the position the next token will take. */
  readonly pos: number;
  /** Free the state's memory; the state is unusable afterwards. */
  dispose(): void;
}

export interface InferenceModel<S extends InferenceState = InferenceState> {
  /** Model family, e.g. 'llama'. */
  readonly family: string;
  /** The family's own configuration (plain JSON, for logs and benchmarks). */
  readonly config: Readonly<Record<string, number | string | boolean>>;
  /** Size of the logits vector: token ids are in [0, vocabSize). */
  readonly vocabSize: number;
  /** Most tokens one state can hold (Infinity for a model with no such limit). */
  readonly contextLength: number;
  /**
   * The token that began every training document, when the model file says (models trained on
   * `ternlm prepare` shards start documents with the tokenizer's eotId; llama2.c's with BOS).
   * Absent: the tokenizer's BOS, else its end-of-text token.
   */
  readonly startToken?: number;
  /** The tokenizer stored in the model file, when it carries one. */
  readonly tokenizer?: Tokenizer;
  /** A fresh state at position 0. */
  newState(): S;
  /** Forget the past: back to position 0, without freeing memory. */
  reset(state: S): void;
  /**
   * Consume `token` at position state.pos and return the logits of the next token
   * (vocabSize floats). The array is a view owned by the state: valid until the next call on it.
   */
  step(state: S, token: number): Float32Array;
  /**
   * Consume several tokens (a prompt) and return the logits after the last one, as `step` does.
   * Implementations may skip work whose result is not needed (the classifier of earlier tokens).
   */
  prefill(state: S, tokens: ArrayLike<number>): Float32Array;
  /**
   * Consume one token in each of several states (independent sequences, each at its own
   * position) and return each state's next-token logits (its `logits` view), as `step` on each
   * would give up to float rounding (a batch multiplies several rows at once). Optional: an
   * engine that has it makes one pass over its weights for all the sequences, so that serving
   * many clients costs less than stepping each; `stepAll` (infer/batch.ts) falls back to `step`.
   */
  stepBatch?(states: readonly S[], tokens: readonly number[]): Float32Array[];
  /** Free the weights; states must be disposed first. */
  dispose(): void;
}
