// Llama decoding, one token at a time with a KV cache, in the shape of llama2.c's run.c: a
// Config, the Weights (pointers into the wasm heap), a RunState per sequence, and one forward
// function that reads top to bottom:
//
//   x = embedding[token]
//   per layer:  x += Wo . attention(rope(Wq . rmsnorm(x)), cache(rope(Wk . rmsnorm(x)), Wv . rmsnorm(x)))
//               x += W2 . (silu(W1 . rmsnorm(x)) * (W3 . rmsnorm(x)))
//   logits = Wcls . rmsnorm(x)
import { TernlmError } from '../core/errors.js';
import { copyRows, embeddingForward, matvec, rmsNormForward } from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import { attentionDecode, ropeRotate, swiglu } from '../core/kernels-infer.js';
import { ropeTable } from '../ops/index.js';
import type { LlamaShape } from '../io/llama2c.js';
import { checkBatchStates, checkRoom, scatterLogits } from './engine.js';
import type { InferenceModel, InferenceState } from './model.js';
import { WeightPanels } from './weight-panels.js';

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

/** The KV cache and the logits of one sequence; a forward pass's activations live in the model (LlamaRows). */
export class LlamaState implements InferenceState {
  pos = 0;
  readonly kvCache: Tensor; // (2, layers, seqLen, kvDim): the keys, then the values
  readonly logitsTensor: Tensor; // (vocab)
  /** View of logitsTensor; shared wasm memory never detaches, so it stays valid as memory grows. */
  readonly logits: Float32Array;

  constructor(c: LlamaConfig) {
    const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
    this.kvCache = Tensor.empty([2, c.nLayers, c.seqLen, kvDim]);
    this.logitsTensor = Tensor.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  dispose(): void {
    this.kvCache.dispose();
    this.logitsTensor.dispose();
  }
}

/**
 * The activations of one forward pass of up to `capacity` rows: row i is one token of the i-th
 * sequence in the pass (one row when a single sequence steps, one per sequence in a batch).
 */
class LlamaRows {
  readonly ids: Tensor; // (capacity) int32 token ids
  readonly x: Tensor; // (capacity, dim) residual stream
  readonly xb: Tensor; // (capacity, dim) normed input of a block, then attention output
  readonly qkv: Tensor; // (capacity, dim + 2 kvDim) each row's query, then its key and value
  readonly hb: Tensor; // (capacity, 2 hidden) W1 . xn then W3 . xn; silu(W1 . xn) * (W3 . xn) in the first half
  readonly att: Tensor; // (nHeads, seqLen) attention weights of the row being attended
  readonly rstd: Tensor; // (capacity) RMSNorm's saved 1/rms, unused at inference
  readonly logits: Tensor; // (capacity, vocab) a batch's logits, before each row goes to its state

  constructor(c: LlamaConfig, readonly capacity: number) {
    const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
    this.ids = Tensor.empty([capacity], 'i32');
    this.x = Tensor.empty([capacity, c.dim]);
    this.xb = Tensor.empty([capacity, c.dim]);
    this.qkv = Tensor.empty([capacity, c.dim + 2 * kvDim]);
    this.hb = Tensor.empty([capacity, 2 * c.hiddenDim]);
    this.att = Tensor.empty([c.nHeads, c.seqLen]);
    this.rstd = Tensor.empty([capacity]);
    this.logits = Tensor.empty([capacity, c.vocabSize]);
  }

  dispose(): void {
    for (const t of [this.ids, this.x, this.xb, this.qkv, this.hb, this.att, this.rstd, this.logits]) t.dispose();
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
  /** Activations of a forward pass, grown (to a power of two) for the largest batch so far. */
  private rows: LlamaRows;
  /** The weights packed for the GEMMs of a batch (made at the first batch). */
  private readonly panels = new WeightPanels();

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
    this.rows = new LlamaRows(this.config, 1);
  }

  newState(): LlamaState {
    return new LlamaState(this.config);
  }

  reset(s: LlamaState): void {
    s.pos = 0;
  }

  step(s: LlamaState, token: number): Float32Array {
    this.forward([s], [token]);
    this.classify([s]);
    return s.logits;
  }

  prefill(s: LlamaState, tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new Error('prefill needs at least one token');
    for (let i = 0; i < tokens.length - 1; i++) this.forward([s], [tokens[i]]);
    return this.step(s, tokens[tokens.length - 1]);
  }

  /** One token of each sequence in one pass: the projections multiply every row at once. */
  stepBatch(states: readonly LlamaState[], tokens: readonly number[]): Float32Array[] {
    checkBatchStates(states, tokens);
    if (states.length > this.rows.capacity) {
      this.rows.dispose();
      this.rows = new LlamaRows(this.config, 2 ** Math.ceil(Math.log2(states.length)));
    }
    this.forward(states, tokens);
    this.classify(states);
    return states.map((s) => s.logits);
  }

  /**
   * Run token i of states[i] through every layer at position states[i].pos (one row each),
   * leaving the final residuals in rows.x. Everything is checked first: a refused pass moves no state.
   */
  private forward(states: readonly LlamaState[], tokens: ArrayLike<number>): void {
    const c = this.config, w = this.weights, r = this.rows;
    const { dim, hiddenDim, nHeads, nKvHeads, seqLen } = c;
    const n = states.length, hs = this.headSize, kvDim = this.kvDim;
    const ids = r.ids.typed();
    for (let i = 0; i < n; i++) {
      const token = tokens[i];
      if (!(token >= 0 && token < c.vocabSize && Number.isInteger(token))) {
        throw new TernlmError(`token id ${token} is outside the model's vocabulary [0, ${c.vocabSize})`);
      }
      checkRoom(states[i].pos, 1, seqLen);
      ids[i] = token;
    }
    const x = r.x.ptr, xb = r.xb.ptr, qkv = r.qkv.ptr, hb = r.hb.ptr, rstd = r.rstd.ptr;
    const project = this.panels.product.bind(this.panels);
    const qkvWidth = dim + 2 * kvDim; // floats from one row's query to the next's
    const cacheFloats = c.nLayers * seqLen * kvDim; // from a key to its value in kvCache

    embeddingForward(w.tokenEmbedding, r.ids.ptr, x, n, dim);
    for (let l = 0; l < c.nLayers; l++) {
      // Attention block: q, k, v side by side in each row (one product when the weights are),
      // q and k turned together, then the row's key and value copied into its sequence's caches.
      rmsNormForward(x, w.rmsAtt[l], xb, rstd, n, dim, c.normEps);
      if (this.fusedQkv) {
        project(n, qkvWidth, dim, w.wq[l], xb, dim, qkv, qkvWidth, false);
      } else {
        project(n, dim, dim, w.wq[l], xb, dim, qkv, qkvWidth, false);
        project(n, kvDim, dim, w.wk[l], xb, dim, qkv + dim * 4, qkvWidth, false);
        project(n, kvDim, dim, w.wv[l], xb, dim, qkv + (dim + kvDim) * 4, qkvWidth, false);
      }
      for (let i = 0; i < n; i++) {
        const pos = states[i].pos, q = qkv + i * qkvWidth * 4, k = q + dim * 4;
        const kc = states[i].kvCache.ptr + l * seqLen * kvDim * 4, vc = kc + cacheFloats * 4;
        ropeRotate(q, this.rope.ptr + pos * 2 * hs * 4, nHeads + nKvHeads, hs);
        copyRows(k, 0, kvDim, kc + pos * kvDim * 4, 0, cacheFloats, 1, 2, kvDim, false);
        attentionDecode(q, kc, vc, r.att.ptr, xb + i * dim * 4, pos + 1, nHeads, nKvHeads, hs, seqLen);
      }
      project(n, dim, dim, w.wo[l], xb, dim, x, dim, true);

      // Feed-forward block: x += W2 . (silu(W1 . xn) * (W3 . xn)).
      rmsNormForward(x, w.rmsFfn[l], xb, rstd, n, dim, c.normEps);
      if (this.fusedFfn) {
        project(n, 2 * hiddenDim, dim, w.w1[l], xb, dim, hb, 2 * hiddenDim, false);
      } else {
        project(n, hiddenDim, dim, w.w1[l], xb, dim, hb, 2 * hiddenDim, false);
        project(n, hiddenDim, dim, w.w3[l], xb, dim, hb + hiddenDim * 4, 2 * hiddenDim, false);
      }
      for (let i = 0; i < n; i++) {
        const h = hb + i * 2 * hiddenDim * 4;
        swiglu(h, h + hiddenDim * 4, h, hiddenDim);
      }
      project(n, dim, hiddenDim, w.w2[l], hb, 2 * hiddenDim, x, dim, true);
    }
    for (const s of states) s.pos++;
  }

  /** states[i].logits = Wcls . rmsnorm(row i of rows.x). */
  private classify(states: readonly LlamaState[]): void {
    const c = this.config, w = this.weights, r = this.rows, n = states.length;
    rmsNormForward(r.x.ptr, w.rmsFinal, r.xb.ptr, r.rstd.ptr, n, c.dim, c.normEps);
    if (n === 1) {
      matvec(c.vocabSize, c.dim, w.wcls, c.dim, r.xb.ptr, states[0].logitsTensor.ptr, false);
      return;
    }
    this.panels.product(n, c.vocabSize, c.dim, w.wcls, r.xb.ptr, c.dim, r.logits.ptr, c.vocabSize, false);
    scatterLogits(r.logits.ptr, states, c.vocabSize);
  }

  dispose(): void {
    this.rope.dispose();
    this.rows.dispose();
    this.panels.dispose();
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
