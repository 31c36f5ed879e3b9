// GPT-2 decoding with a KV cache, on a file from `ternlm export` of a model src/models/gpt2.ts
// trained. Weights are f32 in the heap (f16 in the file is widened). One forward pass takes
// `rows` consecutive positions (one for a new token, a chunk of a prompt), each row attending
// over the cache up to its own position:
//
//   x = wte[token] + wpe[pos]
//   per layer:  q | k | v = Wqkv . layernorm(x) + bqkv          k, v go into the cache at pos
//               x += Wproj . attention(q, cache) + bproj
//               x += Wfc2 . gelu(Wfc . layernorm(x) + bfc) + bfc2
//   logits = head(layernorm(x))                                the tied embedding by default
import { TernlmError } from '../core/errors.js';
import { binaryForward, embeddingForward, layerNormForward, unaryForward } from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { GPT2Config } from '../models/gpt2.js';
import {
  KVCache, PackedWeights, Projector, StateBuffers, addBias, feedInChunks, projectionRows,
  type OutputHead, type Projection,
} from './engine.js';
import type { InferenceModel, InferenceState } from './model.js';

/** LayerNorm epsilon of src/nn/layers.ts. */
const NORM_EPS = 1e-5;
/** Most prompt positions one forward pass takes. */
const PREFILL_ROWS = 32;

/** One block's weights: pointers into the heap (norms and biases: dim or hidden floats). */
interface Layer {
  ln1: { w: number; b: number };
  q: Projection; k: Projection; v: Projection; // rows of the fused qkv weight
  qBias: number; kBias: number; vBias: number;
  proj: Projection; projBias: number;
  ln2: { w: number; b: number };
  fc: Projection; fcBias: number; // (4 dim, dim)
  fcProj: Projection; fcProjBias: number; // (dim, 4 dim)
}

/** Activations of up to `rows` positions and the KV cache of one sequence, allocated once. */
export class GPT2State implements InferenceState {
  pos = 0;
  readonly rows: number;
  readonly ids: Tensor; // (rows) int32
  readonly x: Tensor; // (rows, dim) residual stream
  readonly xb: Tensor; // (rows, dim) normed input of a block, then attention output
  readonly q: Tensor; // (rows, dim)
  readonly hb: Tensor; // (rows, 4 dim)
  readonly mean: Tensor; // (rows) LayerNorm's saved statistics, unused at inference
  readonly rstd: Tensor; // (rows)
  readonly h: Tensor; // (dim) the last row's final hidden state
  readonly cache: KVCache;
  readonly projector: Projector;
  readonly logitsTensor: Tensor; // (vocab)
  readonly logits: Float32Array;
  private readonly buffers = new StateBuffers();

  constructor(c: GPT2Config) {
    const b = this.buffers, d = c.dim;
    this.rows = Math.min(PREFILL_ROWS, c.contextLength);
    this.ids = b.empty([this.rows], 'i32');
    this.x = b.empty([this.rows, d]);
    this.xb = b.empty([this.rows, d]);
    this.q = b.empty([this.rows, d]);
    this.hb = b.empty([this.rows, 4 * d]);
    this.mean = b.empty([this.rows]);
    this.rstd = b.empty([this.rows]);
    this.h = b.empty([d]);
    this.cache = new KVCache(b, c.layers, c.contextLength, c.heads, c.heads, d / c.heads);
    this.projector = new Projector(b, this.rows, 4 * d);
    this.logitsTensor = b.zeros([c.vocabSize]);
    this.logits = this.logitsTensor.f32();
  }

  dispose(): void {
    this.buffers.dispose();
  }
}

export class GPT2Inference implements InferenceModel<GPT2State> {
  readonly family = 'gpt2';
  readonly modelConfig: GPT2Config;
  readonly config: Readonly<Record<string, number | string | boolean>>;
  readonly vocabSize: number;
  /** The positions the learned position embedding holds. */
  readonly contextLength: number;
  readonly startToken: number;
  readonly tokenizer: Tokenizer;
  private readonly weights: PackedWeights<GPT2Config>;
  private readonly wte: Tensor; // (vocab, dim)
  private readonly wpe: Tensor; // (contextLength, dim)
  private readonly layers: Layer[] = [];
  private readonly lnOut: { w: number; b: number };
  private readonly head: OutputHead;

  constructor(path: string) {
    this.weights = PackedWeights.open(path, 'gpt2', 'GPT-2');
    const w = this.weights;
    try {
      const c = w.config, d = c.dim;
      if (d % c.heads !== 0) throw new TernlmError(`${path}: dim ${d} is not a multiple of heads ${c.heads}`);
      this.modelConfig = c;
      this.config = { dim: d, layers: c.layers, heads: c.heads, contextLength: c.contextLength, head: c.head.type, vocabSize: c.vocabSize };
      this.vocabSize = c.vocabSize;
      this.contextLength = c.contextLength;
      this.tokenizer = w.tokenizer();
      this.startToken = this.tokenizer.eotId;
      const norm = (name: string) => ({ w: w.float(`${name}.weight`, [d]).ptr, b: w.float(`${name}.bias`, [d]).ptr });
      this.wte = w.float('embed.weight', [c.vocabSize, d]);
      this.wpe = w.float('pos_embed.weight', [c.contextLength, d]);
      for (let l = 0; l < c.layers; l++) {
        const p = `blocks.${l}`;
        const qkv = w.projection(`${p}.attn.qkv`, 3 * d, d), qkvBias = w.float(`${p}.attn.qkv.bias`, [3 * d]).ptr;
        this.layers.push({
          ln1: norm(`${p}.ln1`),
          q: projectionRows(qkv, 0, d), k: projectionRows(qkv, d, d), v: projectionRows(qkv, 2 * d, d),
          qBias: qkvBias, kBias: qkvBias + d * 4, vBias: qkvBias + 2 * d * 4,
          proj: w.projection(`${p}.attn.proj`, d, d), projBias: w.float(`${p}.attn.proj.bias`, [d]).ptr,
          ln2: norm(`${p}.ln2`),
          fc: w.projection(`${p}.mlp.fc`, 4 * d, d), fcBias: w.float(`${p}.mlp.fc.bias`, [4 * d]).ptr,
          fcProj: w.projection(`${p}.mlp.proj`, d, 4 * d), fcProjBias: w.float(`${p}.mlp.proj.bias`, [d]).ptr,
        });
      }
      this.lnOut = norm('norm_out');
      this.head = w.head(this.wte);
    } catch (err) {
      w.dispose();
      throw err;
    } finally {
      w.close();
    }
  }

  newState(): GPT2State {
    return new GPT2State(this.modelConfig);
  }

  reset(s: GPT2State): void {
    s.pos = 0;
  }

  step(s: GPT2State, token: number): Float32Array {
    return this.prefill(s, [token]);
  }

  prefill(s: GPT2State, tokens: ArrayLike<number>): Float32Array {
    const last = feedInChunks(s, tokens, this.vocabSize, this.contextLength, (start, rows) => this.forward(s, tokens, start, rows));
    return this.classify(s, last);
  }

  /** Run (checked) tokens[start .. start + rows) through every layer at positions s.pos.., leaving the residuals in s.x. */
  private forward(s: GPT2State, tokens: ArrayLike<number>, start: number, rows: number): void {
    const c = this.modelConfig, d = c.dim, pos = s.pos;
    const ids = s.ids.typed();
    for (let i = 0; i < rows; i++) ids[i] = tokens[start + i];
    const x = s.x.ptr, xb = s.xb.ptr, q = s.q.ptr, hb = s.hb.ptr, project = s.projector;
    const layerNorm = (n: { w: number; b: number }) => layerNormForward(x, n.w, n.b, xb, s.mean.ptr, s.rstd.ptr, rows, d, NORM_EPS);

    embeddingForward(this.wte.ptr, s.ids.ptr, x, rows, d);
    binaryForward('add', x, this.wpe.ptr + pos * d * 4, rows * d, x, rows * d);
    for (let l = 0; l < c.layers; l++) {
      const w = this.layers[l];
      // Attention block; these positions' keys and values go straight into the cache.
      const k = s.cache.key(l, pos), v = s.cache.value(l, pos);
      layerNorm(w.ln1);
      project.run(w.q, xb, q, rows, false);
      addBias(q, w.qBias, d, rows);
      project.run(w.k, xb, k, rows, false);
      addBias(k, w.kBias, d, rows);
      project.run(w.v, xb, v, rows, false);
      addBias(v, w.vBias, d, rows);
      s.cache.attend(l, q, xb, pos, rows);
      project.run(w.proj, xb, x, rows, true);
      addBias(x, w.projBias, d, rows);

      // Feed-forward block: x += Wfc2 . gelu(Wfc . xn + bfc) + bfc2.
      layerNorm(w.ln2);
      project.run(w.fc, xb, hb, rows, false);
      addBias(hb, w.fcBias, 4 * d, rows);
      unaryForward('gelu', hb, hb, rows * 4 * d);
      project.run(w.fcProj, hb, x, rows, true);
      addBias(x, w.fcProjBias, d, rows);
    }
    s.pos = pos + rows;
  }

  /** s.logits = head(layernorm(row `row` of s.x)). */
  private classify(s: GPT2State, row: number): Float32Array {
    const d = this.modelConfig.dim;
    layerNormForward(s.x.ptr + row * d * 4, this.lnOut.w, this.lnOut.b, s.h.ptr, s.mean.ptr, s.rstd.ptr, 1, d, NORM_EPS);
    this.head.logits(s.h, s.logitsTensor);
    return s.logits;
  }

  dispose(): void {
    this.weights.dispose();
  }
}
