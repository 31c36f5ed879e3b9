// GPT-2, as llm.c trains it: a float transformer.
//
//   ids -> token embedding + learned position embedding (d)
//       -> for each layer:
//              x += proj(attention(qkv(LayerNorm(x))))      fused q|k|v, causal, `heads` heads
//              x += proj(GELU(fc(LayerNorm(x))))            hidden = 4 d
//       -> LayerNorm -> head (tied to the token embedding by default)
//
// Parameter names and shapes map one to one onto llm.c's checkpoint (src/io/llmc.ts).
//
// The four projections of a block (attn.qkv, attn.proj, mlp.fc, mlp.proj) are BitLinear layers
// with a float bias added after the product and no input norm: at fp32, the default, each is
// exactly a float Linear. `precisionOverrides` (src/models/precision.ts) make chosen ones ternary
// (AbsMean weights, 8-bit per-token activations) or int8, as `ternlm ternarize` does to a float
// GPT-2. BitNet's extra RMSNorm before each projection is left out, so that a ternarized GPT-2
// stays as close as it can to its float one.
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { FusedQKVAttention } from '../nn/attention.js';
import { Embedding, LayerNorm, MLP, type BitLinearOptions } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, positionIds } from './language-model.js';
import type { PrecisionOverrides } from './precision.js';

export interface GPT2Config {
  family: 'gpt2';
  vocabSize: number;
  dim: number;
  layers: number;
  heads: number;
  /** Positions the learned position embedding holds (llm.c's max_seq_len). */
  contextLength: number;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  dropout: number;
  /** Precisions of chosen projections (src/models/precision.ts); the others are fp32. */
  precisionOverrides?: PrecisionOverrides;
}

export const GPT2_DEFAULTS: Omit<GPT2Config, 'vocabSize'> = {
  family: 'gpt2',
  dim: 256,
  layers: 4,
  heads: 4,
  contextLength: 256,
  head: { type: 'softmax', tied: true },
  frozenEmbeddings: false,
  dropout: 0,
};

/** GPT-2's initialisation: N(0, 0.02), the residual projections scaled by 1/sqrt(2 * layers). */
const INIT_STD = 0.02;

class GPT2Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: FusedQKVAttention;
  readonly ln2: LayerNorm;
  readonly mlp: MLP;
  constructor(c: GPT2Config, rng: Rng) {
    super();
    const std = { std: INIT_STD, projStd: INIT_STD / Math.sqrt(2 * c.layers) };
    const bit: BitLinearOptions = { precision: 'fp32', quantizeActivations: true, inputNorm: false, bias: true };
    this.ln1 = this.child('ln1', new LayerNorm(c.dim));
    this.attn = this.child('attn', new FusedQKVAttention(c.dim, c.heads, bit, rng, std));
    this.ln2 = this.child('ln2', new LayerNorm(c.dim));
    this.mlp = this.child('mlp', new MLP(c.dim, 4 * c.dim, bit, rng, std));
  }
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    x = ops.add(x, section('attention', () => drop(this.attn.forward(this.ln1.forward(x)))));
    return ops.add(x, section('mlp', () => drop(this.mlp.forward(this.ln2.forward(x)))));
  }
}

export class GPT2 extends LanguageModel<GPT2Config> {
  readonly embed: Embedding;
  readonly posEmbed: Embedding;
  readonly blocks: GPT2Block[] = [];
  readonly normOut: LayerNorm;
  readonly head: Head;

  constructor(config: GPT2Config, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    // llm.c's AdamW decays every matrix, the two embeddings included (not norms or biases).
    this.embed = this.child('embed', new Embedding(c.vocabSize, c.dim, rng, { frozen: c.frozenEmbeddings, std: INIT_STD, decay: true }));
    this.posEmbed = this.child('pos_embed', new Embedding(c.contextLength, c.dim, rng, { std: INIT_STD, decay: true }));
    for (let i = 0; i < c.layers; i++) this.blocks.push(this.child(`blocks.${i}`, new GPT2Block(c, rng)));
    this.normOut = this.child('norm_out', new LayerNorm(c.dim));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    const [B, T] = ids.shape;
    if (T > this.config.contextLength) throw new Error(`gpt2: ${T} positions exceed the context length ${this.config.contextLength}`);
    let x = section('embedding', () => this.drop(ops.add(this.embed.forward(ids), this.posEmbed.forward(positionIds(B, T)))));
    for (const b of this.blocks) x = b.forward(x, this.drop);
    return ops.reshape(this.normOut.forward(x), [B * T, this.config.dim]);
  }
}
