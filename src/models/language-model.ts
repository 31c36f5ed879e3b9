// What every model family shares: token ids in, final hidden states out, a head that turns them
// into next-token losses, dropout driven by a per-step seed, and the list of BitLinear layers
// (for the -1/0/+1 log, the ternary warm-up and the packed export). The trainer, the evaluator
// and the exporter see only this class; each family (flashlm.ts, gpt2.ts, bitnet.ts) builds its
// own layers between `embed` and `head`.
import { section } from '../core/autograd.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import { Rng } from '../core/rng.js';
import { BitLinear, Embedding } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import type { HeadConfig } from './heads.js';

/** Config fields every family has. */
export interface BaseModelConfig {
  family: string;
  vocabSize: number;
  dim: number;
  layers: number;
  contextLength: number;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  /** Dropout probability on the embedding output and on each residual branch (training only). */
  dropout: number;
}

export abstract class LanguageModel<C extends BaseModelConfig = BaseModelConfig> extends Module {
  abstract readonly embed: Embedding;
  abstract readonly head: Head;
  /** Seed of this training step's dropout masks; null (evaluation, sampling) turns dropout off. */
  private dropoutSeed: number | null = null;
  private dropoutCalls = 0;

  constructor(readonly config: C) {
    super();
  }

  /** ids int32 (B, T) -> final hidden states (B*T, dim), the head's input. */
  abstract hidden(ids: Tensor): Tensor;

  /** Mean next-token cross-entropy: ids (B, T), targets int32 (B*T). */
  loss(ids: Tensor, targets: Tensor): Tensor {
    const h = this.hidden(ids);
    return section('head', () => this.head.loss(h, targets));
  }

  /**
   * Turn dropout on for the next forward pass with masks derived from `seed` (a function of the
   * step, so a resumed run draws the same masks), or off with null.
   */
  setDropoutSeed(seed: number | null): void {
    this.dropoutSeed = seed;
    this.dropoutCalls = 0;
  }

  /** The model's dropout on one tensor (the identity when dropout is off). */
  protected readonly drop = (x: Tensor): Tensor => {
    if (this.dropoutSeed === null || !(this.config.dropout > 0)) return x;
    const seed = Math.imul(this.dropoutSeed ^ Math.imul(++this.dropoutCalls, 0x27d4eb2d), 0x165667b1) >>> 0;
    return ops.dropout(x, this.config.dropout, seed);
  };

  /**
   * The usual trunk: token embedding (with dropout), each block in order (a residual stack), the
   * final norm; -> (B*T, dim). A block takes the model's dropout for its residual branches.
   */
  protected stack(ids: Tensor, blocks: readonly ResidualBlock[], normOut: { forward(x: Tensor): Tensor }): Tensor {
    const [B, T] = ids.shape;
    let x = section('embedding', () => this.drop(this.embed.forward(ids)));
    for (const b of blocks) x = b.forward(x, this.drop);
    return ops.reshape(normOut.forward(x), [B * T, this.config.dim]);
  }

  /** Every BitLinear layer, named (for the -1/0/+1 log and the ternary warm-up switch). */
  bitLayers(): { name: string; layer: BitLinear }[] {
    return this.modules().filter((m) => m.module instanceof BitLinear).map((m) => ({ name: m.name, layer: m.module as BitLinear }));
  }
}

/** A block of a residual stack: x (B, T, d) -> (B, T, d), `drop` applied to its branches. */
export interface ResidualBlock {
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor;
}

/**
 * The token embedding of a config: a tied softmax head reads logits off it, so it starts at std
 * 1/sqrt(d) (unit-scale initial logits); otherwise at std 1.
 */
export function tokenEmbedding(c: BaseModelConfig, rng: Rng): Embedding {
  const std = c.head.type === 'softmax' && c.head.tied ? 1 / Math.sqrt(c.dim) : 1;
  return new Embedding(c.vocabSize, c.dim, rng, { frozen: c.frozenEmbeddings, std });
}

/** Int32 (B, T) position ids 0..T-1 on every row (for learned position embeddings). */
export function positionIds(B: number, T: number): Tensor {
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = i % T;
  return Tensor.from(ids, [B, T], 'i32');
}
