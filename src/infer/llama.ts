// Llama decoding, one token at a time with a KV cache, in the shape of llama2.c's run.c: a
// Config, the Weights (pointers into the wasm heap), a RunState per sequence, and one forward
// function that reads top to bottom:
//
//   x = embedding[token]
//   per layer:  x += Wo . attention(rope(Wq . rmsnorm(x)), cache(rope(Wk . rmsnorm(x)), Wv . rmsnorm(x)))
//               x += W2 . (silu(W1 . rmsnorm(x)) * (W3 . rmsnorm(x)))
//   logits = Wcls . rmsnorm(x)
import { TernlmError } from '../core/errors.js';
import { copyRows, matvec, rmsNormForward } from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { attentionDecode, ropeRotate, swiglu } from '../core/kernels-infer.js';
import { ropeTable } from '../ops/index.js';
import type { LlamaShape } from '../io/llama2c.js';
import type { InferenceModel, InferenceState } from './model.js';

/** A llama2.c checkpoint's shape (src/io/llama2c.ts) and the two constants run.c fixes. */
export interface LlamaConfig extends LlamaShape {
  /** RMSNorm epsilon (llama2.c: 1e-5). */
  normEps: number;
  /** RoPE base (llama2.c: 10000). */
  ropeTheta: number;
}

/** Byte offsets of f32 weights in the wasm heap; per-layer arrays are indexed by layer. */
export interface LlamaWeights {
  tokenEmbedding: number; // (vocab, dim)
  rmsAtt: number[]; // (dim)
  wq: number[]; // (dim, dim): rows are outputs
  wk: number[]; // (kvDim, dim)
  wv: number[]; // (kvDim, dim)
  wo: number[]; // (dim, dim)
  rmsFfn: number[]; // (dim)
  w1: number[]; // (hidden, dim)
  w2: number[]; // (dim, hidden)
  w3: number[]; // (hidden, dim)
  rmsFinal: number; // (dim)
  wcls: number; // (vocab, dim): the embedding itself when shared
}

/** Activations of one sequence and its KV cache, allocated once; a step allocates nothing. */
export class LlamaState implements InferenceState {
  pos = 0;
  readonly x: Tensor; // (dim) residual stream
  readonly xb: Tensor; // (dim) normed input of a block, then attention output
  readonly qkv: Tensor; // (dim + 2 kvDim) this position's query, then its key and value
  readonly hb: Tensor; // (2 hidden) W1 . xn then W3 . xn; silu(W1 . xn) * (W3 . xn) in the first half
  readonly att: Tensor; // (nHeads, seqLen) attention weights
  readonly rstd: Tensor; // (1) RMSNorm's saved 1/rms, unused at inference
  readonly kvCache: Tensor; // (2, layers, seqLen, kvDim): the keys, then the values
  readonly logitsTensor: Tensor; // (vocab)
  /** View of logitsTensor; shared wasm memory never detaches, so it stays valid as memory grows. */
  readonly logits: Float32Array;

  constructor(c: LlamaConfig) {
    const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
    this.x = Tensor.empty([c.dim]);
    this.xb = Tensor.empty([c.dim]);
    this.qkv = Tensor.empty([c.dim + 2 * kvDim]);
    this.hb = Tensor.empty([2 * c.hiddenDim]);
    this.att = Tensor.empty([c.nHeads, c.seqLen]);
    this.rstd = Tensor.empty([1]);
    this.kvCache = Tensor.empty([2, c.nLayers, c.seqLen, kvDim]);
    this.logitsTensor = Tensor.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  dispose(): void {
    for (const t of [this.x, this.xb, this.qkv, this.hb, this.att, this.rstd, this.kvCache, this.logitsTensor]) t.dispose();
  }
}

export class LlamaModel implements InferenceModel<LlamaState> {
  readonly family = 'llama';
  readonly config: Readonly<LlamaConfig>;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly weights: Readonly<LlamaWeights>;
  private readonly headSize: number;
  private readonly kvDim: number;
  /** (seqLen, 2 * headSize) RoPE table: per position the cosines then the signed sines (see rope_rotate). */
  private readonly rope: Tensor;
  /** Memory holding the weights, freed by dispose(). */
  private readonly storage: Tensor[];
  /** Whether each layer's wq, wk, wv (and its w1, w3) lie one after the other: one product computes them all. */
  private readonly fusedQkv: boolean;
  private readonly fusedFfn: boolean;

  constructor(config: LlamaConfig, weights: LlamaWeights, storage: Tensor[]) {
    validateConfig(config);
    this.config = Object.freeze({ ...config });
    this.vocabSize = config.vocabSize;
    this.contextLength = config.seqLen;
    this.weights = weights;
    this.storage = storage;
    this.headSize = config.dim / config.nHeads;
    this.kvDim = this.headSize * config.nKvHeads;
    this.rope = ropeTable(config.seqLen, this.headSize, config.ropeTheta);
    const { dim, hiddenDim } = config;
    this.fusedQkv = weights.wq.every((p, l) => weights.wk[l] === p + dim * dim * 4 && weights.wv[l] === weights.wk[l] + this.kvDim * dim * 4);
    this.fusedFfn = weights.w1.every((p, l) => weights.w3[l] === p + hiddenDim * dim * 4);
  }

  newState(): LlamaState {
    return new LlamaState(this.config);
  }

  reset(s: LlamaState): void {
    s.pos = 0;
  }

  step(s: LlamaState, token: number): Float32Array {
    this.forward(s, token);
    this.classify(s);
    return s.logits;
  }

  prefill(s: LlamaState, tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new Error('prefill needs at least one token');
    for (let i = 0; i < tokens.length - 1; i++) this.forward(s, tokens[i]);
    return this.step(s, tokens[tokens.length - 1]);
  }

  /** Run `token` through every layer at position s.pos, leaving the final residual in s.x. */
  private forward(s: LlamaState, token: number): void {
    const c = this.config, w = this.weights;
    const { dim, hiddenDim, nHeads, nKvHeads, seqLen } = c;
    const hs = this.headSize, kvDim = this.kvDim;
    const pos = s.pos;
    if (!(token >= 0 && token < c.vocabSize && Number.isInteger(token))) {
      throw new TernlmError(`token id ${token} is outside the model's vocabulary [0, ${c.vocabSize})`);
    }
    if (pos >= seqLen) throw new TernlmError(`the context is full: this model holds ${seqLen} tokens`);
    const x = s.x.ptr, xb = s.xb.ptr, hb = s.hb.ptr, hb2 = hb + hiddenDim * 4, rstd = s.rstd.ptr;
    const q = s.qkv.ptr, k = q + dim * 4, v = k + kvDim * 4;
    const rope = this.rope.ptr + pos * 2 * hs * 4;
    const cacheFloats = c.nLayers * seqLen * kvDim; // from a key to its value in kvCache

    copyRows(w.tokenEmbedding + token * dim * 4, 0, 0, x, 0, 0, 1, 1, dim, false);
    for (let l = 0; l < c.nLayers; l++) {
      // Attention block: q, k, v side by side (one product when the weights are), q and k
      // turned together, then this position's key and value copied into the caches.
      const kc = s.kvCache.ptr + l * seqLen * kvDim * 4, vc = kc + cacheFloats * 4;
      rmsNormForward(x, w.rmsAtt[l], xb, rstd, 1, dim, c.normEps);
      if (this.fusedQkv) {
        matvec(dim + 2 * kvDim, dim, w.wq[l], dim, xb, q, false);
      } else {
        matvec(dim, dim, w.wq[l], dim, xb, q, false);
        matvec(kvDim, dim, w.wk[l], dim, xb, k, false);
        matvec(kvDim, dim, w.wv[l], dim, xb, v, false);
      }
      ropeRotate(q, rope, nHeads + nKvHeads, hs);
      copyRows(k, 0, kvDim, kc + pos * kvDim * 4, 0, cacheFloats, 1, 2, kvDim, false);
      attentionDecode(q, kc, vc, s.att.ptr, xb, pos + 1, nHeads, nKvHeads, hs, seqLen);
      matvec(dim, dim, w.wo[l], dim, xb, x, true);

      // Feed-forward block: x += W2 . (silu(W1 . xn) * (W3 . xn)).
      rmsNormForward(x, w.rmsFfn[l], xb, rstd, 1, dim, c.normEps);
      if (this.fusedFfn) {
        matvec(2 * hiddenDim, dim, w.w1[l], dim, xb, hb, false);
      } else {
        matvec(hiddenDim, dim, w.w1[l], dim, xb, hb, false);
        matvec(hiddenDim, dim, w.w3[l], dim, xb, hb2, false);
      }
      swiglu(hb, hb2, hb, hiddenDim);
      matvec(dim, hiddenDim, w.w2[l], hiddenDim, hb, x, true);
    }
    s.pos = pos + 1;
  }

  /** s.logits = Wcls . rmsnorm(s.x). */
  private classify(s: LlamaState): void {
    const c = this.config, w = this.weights;
    rmsNormForward(s.x.ptr, w.rmsFinal, s.xb.ptr, s.rstd.ptr, 1, c.dim, c.normEps);
    matvec(c.vocabSize, c.dim, w.wcls, c.dim, s.xb.ptr, s.logitsTensor.ptr, false);
  }

  dispose(): void {
    this.rope.dispose();
    for (const t of this.storage) t.dispose();
  }
}

/** Shape checks every loader shares: one clear message instead of a kernel reading garbage. */
export function validateConfig(c: LlamaConfig): void {
  const ints = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'seqLen'] as const;
  for (const k of ints) {
    if (!Number.isInteger(c[k]) || c[k] <= 0) throw new TernlmError(`llama config: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.dim % c.nHeads !== 0) throw new TernlmError(`llama config: dim ${c.dim} is not a multiple of nHeads ${c.nHeads}`);
  if (c.nHeads % c.nKvHeads !== 0) throw new TernlmError(`llama config: nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
  if ((c.dim / c.nHeads) % 2 !== 0) throw new TernlmError(`llama config: head size ${c.dim / c.nHeads} must be even for rotary embeddings`);
}
