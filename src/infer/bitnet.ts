// BitNet b1.58 decoding with a KV cache, on a file from `ternlm export` of a model
// src/models/bitnet.ts trained. Every projection is a BitLinear: its input is RMS-normalized
// (no gain), then multiplied as the export stores the weight — ternary 2-bit packed times 8-bit
// activations (additions and subtractions only), or f32 for int8 / fp32 layers and ternary ones
// with float activations. One forward pass takes `rows` consecutive positions (one for a new
// token, a chunk of a prompt), each row attending over the cache up to its own position:
//
//   x = embedding[token]
//   per layer:  h = norm(rmsnorm(x))                            norm: BitLinear's, no gain
//               x += Wo . norm(attention(rope(Wq . h), cache(rope(Wk . h), Wv . h)))
//               h = norm(rmsnorm(x))
//               x += Wdown . norm(act(Wgate . h) * (Wup . h))    act: SiLU (SwiGLU) or ReLU²
//   logits = head(rmsnorm(x))
import { TernlmError } from '../core/errors.js';
import { binaryForward, embeddingForward, rmsNormForward, unaryForward } from '../core/kernels.js';
import { ropeRotate, swiglu } from '../core/kernels-infer.js';
import { Tensor } from '../core/tensor.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { ffnHidden, type BitNetConfig } from '../models/bitnet.js';
import { ropeTable } from '../ops/index.js';
import { KVCache, PackedWeights, Projector, StateBuffers, feedInChunks, type OutputHead, type Projection } from './engine.js';
import type { InferenceModel, InferenceState } from './model.js';

/** RMSNorm epsilon of src/nn/layers.ts (the gain norms and BitLinear's own). */
const NORM_EPS = 1e-6;
/** Most prompt positions one forward pass takes. */
const PREFILL_ROWS = 32;

/** One block's weights: pointers into the heap (norm gains: dim floats). */
interface Layer {
  attnNorm: number;
  q: Projection; // (dim, dim)
  k: Projection; // (kvDim, dim)
  v: Projection; // (kvDim, dim)
  o: Projection; // (dim, dim)
  ffnNorm: number;
  gate: Projection; // (hidden, dim)
  up: Projection; // (hidden, dim)
  down: Projection; // (dim, hidden)
}

/** Activations of up to `rows` positions and the KV cache of one sequence, allocated once. */
export class BitNetState implements InferenceState {
  pos = 0;
  readonly rows: number;
  readonly ids: Tensor; // (rows) int32
  readonly x: Tensor; // (rows, dim) residual stream
  readonly xb: Tensor; // (rows, dim) normed input of a block, then attention output
  readonly q: Tensor; // (rows, dim)
  readonly hb: Tensor; // (rows, hidden)
  readonly hb2: Tensor; // (rows, hidden)
  readonly rstd: Tensor; // (rows) RMSNorm's saved 1/rms, unused at inference
  readonly h: Tensor; // (dim) the last row's final hidden state
  readonly cache: KVCache;
  readonly projector: Projector;
  readonly logitsTensor: Tensor; // (vocab)
  readonly logits: Float32Array;
  private readonly buffers = new StateBuffers();

  constructor(c: BitNetConfig) {
    const b = this.buffers, d = c.dim, hidden = ffnHidden(c);
    this.rows = Math.min(PREFILL_ROWS, c.contextLength);
    this.ids = b.empty([this.rows], 'i32');
    this.x = b.empty([this.rows, d]);
    this.xb = b.empty([this.rows, d]);
    this.q = b.empty([this.rows, d]);
    this.hb = b.empty([this.rows, hidden]);
    this.hb2 = b.empty([this.rows, hidden]);
    this.rstd = b.empty([this.rows]);
    this.h = b.empty([d]);
    this.cache = new KVCache(b, c.layers, c.contextLength, c.heads, c.kvHeads, d / c.heads);
    this.projector = new Projector(b, this.rows, Math.max(d, hidden));
    this.logitsTensor = b.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

export class BitNetInference implements InferenceModel<BitNetState> {
  readonly family = 'bitnet';
  readonly modelConfig: BitNetConfig;
  readonly config: Readonly<Record<string, number | string | boolean>>;
  readonly vocabSize: number;
  /** The positions a state's KV cache holds. */
  readonly contextLength: number;
  readonly startToken: number;
  readonly tokenizer: Tokenizer;
  private readonly weights: PackedWeights<BitNetConfig>;
  private readonly embedding: Tensor; // (vocab, dim)
  private readonly layers: Layer[] = [];
  private readonly normOut: number;
  private readonly head: OutputHead;
  private readonly headSize: number;
  /** (contextLength, 2 * headSize) RoPE table: per position the cosines then the signed sines (see rope_rotate). */
  private readonly rope: Tensor;

  constructor(path: string) {
    this.weights = PackedWeights.open(path, 'bitnet', 'BitNet');
    const w = this.weights;
    try {
      const c = w.config, d = c.dim, hidden = ffnHidden(c);
      this.modelConfig = c;
      this.config = {
        dim: d, layers: c.layers, heads: c.heads, kvHeads: c.kvHeads, ffn: c.ffn, ffnHidden: hidden, ropeTheta: c.ropeTheta,
        precision: c.precision, quantizeActivations: c.quantizeActivations, contextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize,
      };
      this.vocabSize = c.vocabSize;
      this.contextLength = c.contextLength;
      this.tokenizer = w.tokenizer();
      this.startToken = this.tokenizer.eotId;
      if (d % c.heads !== 0 || c.heads % c.kvHeads !== 0 || (d / c.heads) % 2 !== 0) {
        throw new TernlmError(`${path}: ${c.heads} heads of an even size over ${c.kvHeads} key/value heads do not fit dim ${d}`);
      }
      this.headSize = d / c.heads;
      const kvDim = c.kvHeads * this.headSize;
      this.embedding = w.float('embed.weight', [c.vocabSize, d]);
      for (let l = 0; l < c.layers; l++) {
        const p = `blocks.${l}`;
        this.layers.push({
          attnNorm: w.float(`${p}.attn_norm.weight`, [d]).ptr,
          q: w.projection(`${p}.attn.q`, d, d), k: w.projection(`${p}.attn.k`, kvDim, d),
          v: w.projection(`${p}.attn.v`, kvDim, d), o: w.projection(`${p}.attn.o`, d, d),
          ffnNorm: w.float(`${p}.ffn_norm.weight`, [d]).ptr,
          gate: w.projection(`${p}.ffn.gate`, hidden, d), up: w.projection(`${p}.ffn.up`, hidden, d), down: w.projection(`${p}.ffn.down`, d, hidden),
        });
      }
      this.normOut = w.float('norm_out.weight', [d]).ptr;
      this.head = w.head(this.embedding);
      this.rope = ropeTable(c.contextLength, this.headSize, c.ropeTheta).keep();
    } catch (err) {
      w.dispose();
      throw err;
    } finally {
      w.close();
    }
  }

  newState(): BitNetState {
    return new BitNetState(this.modelConfig);
  }

  reset(s: BitNetState): void {
    s.pos = 0;
  }

  step(s: BitNetState, token: number): Float32Array {
    return this.prefill(s, [token]);
  }

  prefill(s: BitNetState, tokens: ArrayLike<number>): Float32Array {
    const last = feedInChunks(s, tokens, this.vocabSize, this.contextLength, (start, rows) => this.forward(s, tokens, start, rows));
    return this.classify(s, last);
  }

  /** Run (checked) tokens[start .. start + rows) through every layer at positions s.pos.., leaving the residuals in s.x. */
  private forward(s: BitNetState, tokens: ArrayLike<number>, start: number, rows: number): void {
    const c = this.modelConfig, d = c.dim, hidden = ffnHidden(c), hs = this.headSize, kvDim = c.kvHeads * hs, pos = s.pos;
    const ids = s.ids.typed();
    for (let i = 0; i < rows; i++) ids[i] = tokens[start + i];
    const x = s.x.ptr, xb = s.xb.ptr, q = s.q.ptr, hb = s.hb.ptr, hb2 = s.hb2.ptr, project = s.projector;
    const rmsNorm = (from: number, gain: number, to: number, width: number) => rmsNormForward(from, gain, to, s.rstd.ptr, rows, width, NORM_EPS);

    embeddingForward(this.embedding.ptr, s.ids.ptr, x, rows, d);
    for (let l = 0; l < c.layers; l++) {
      const w = this.layers[l];
      // Attention block; these positions' keys and values go straight into the cache. q, k and v
      // share their input, so BitLinear's norm of it runs once.
      const k = s.cache.key(l, pos), v = s.cache.value(l, pos);
      rmsNorm(x, w.attnNorm, xb, d);
      rmsNorm(xb, 0, xb, d);
      project.run(w.q, xb, q, rows, false);
      project.run(w.k, xb, k, rows, false);
      project.run(w.v, xb, v, rows, false);
      for (let i = 0; i < rows; i++) {
        const rope = this.rope.ptr + (pos + i) * 2 * hs * 4;
        ropeRotate(q + i * d * 4, rope, c.heads, hs);
        ropeRotate(k + i * kvDim * 4, rope, c.kvHeads, hs);
      }
      s.cache.attend(l, q, xb, pos, rows);
      rmsNorm(xb, 0, xb, d);
      project.run(w.o, xb, x, rows, true);

      // Feed-forward block: x += Wdown . norm(act(Wgate . h) * (Wup . h)).
      rmsNorm(x, w.ffnNorm, xb, d);
      rmsNorm(xb, 0, xb, d);
      project.run(w.gate, xb, hb, rows, false);
      project.run(w.up, xb, hb2, rows, false);
      if (c.ffn === 'swiglu') {
        swiglu(hb, hb2, hb, rows * hidden);
      } else {
        unaryForward('relu2', hb, hb, rows * hidden);
        binaryForward('mul', hb, hb2, rows * hidden, hb, rows * hidden);
      }
      rmsNorm(hb, 0, hb, hidden);
      project.run(w.down, hb, x, rows, true);
    }
    s.pos = pos + rows;
  }

  /** s.logits = head(rmsnorm(row `row` of s.x)). */
  private classify(s: BitNetState, row: number): Float32Array {
    const d = this.modelConfig.dim;
    rmsNormForward(s.x.ptr + row * d * 4, this.normOut, s.h.ptr, s.rstd.ptr, 1, d, NORM_EPS);
    this.head.logits(s.h, s.logitsTensor);
    return s.logits;
  }

  dispose(): void {
    this.rope.dispose();
    this.weights.dispose();
  }
}
