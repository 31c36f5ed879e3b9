// BitNet b1.58: a ternary Llama-style decoder (Ma et al., "The Era of 1-bit LLMs", 2024).
//
//   ids -> token embedding (d, full precision)
//       -> for each layer:
//              x += o(attention(rope(q(h)), rope(k(h)), v(h)))    h = RMSNorm(x); kvHeads shared K/V heads
//              x += down(act(gate(h)) * up(h))                    h = RMSNorm(x); act = SiLU (SwiGLU) or ReLU²
//       -> RMSNorm -> head (full precision)
//
// Every projection (q, k, v, o, gate, up, down) is a BitLinear: AbsMean ternary weights, 8-bit
// per-token absmax activations, and its own RMSNorm of the input before quantizing (the extra norm
// of BitNet's BitLinear). No biases. The float twin sets precision to fp32.
//
// With inputNorm false, an explicit ffnHidden and normEps 1e-5 the family is exactly llama2.c's
// Llama (src/models/llama2c.ts imports its checkpoints so).
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { GroupedQueryAttention } from '../nn/attention.js';
import { Embedding, GLU, RMSNorm, type BitLinearOptions, type Precision } from '../nn/layers.js';
import type { PrecisionOverrides } from './precision.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, tokenEmbedding } from './language-model.js';

export interface BitNetConfig {
  family: 'bitnet';
  vocabSize: number;
  dim: number;
  layers: number;
  heads: number;
  /** Key/value heads (grouped-query attention); divides heads. */
  kvHeads: number;
  /** Feed-forward hidden size as a multiple of dim (rounded up to a multiple of 16). */
  ffnMult: number;
  /** Feed-forward hidden size itself, when given (instead of ffnMult; an imported Llama's). */
  ffnHidden?: number;
  /** Gate activation of the feed-forward GLU: SiLU (SwiGLU) or ReLU². */
  ffn: 'swiglu' | 'relu2';
  ropeTheta: number;
  /** Precision of every projection. */
  precision: Precision;
  quantizeActivations: boolean;
  /** Precisions of chosen projections over `precision` (src/models/precision.ts). */
  precisionOverrides?: PrecisionOverrides;
  /** BitLinear's RMSNorm of each projection's input (absent: true); false is a plain Llama. */
  inputNorm?: boolean;
  /** Epsilon of the RMSNorms of the blocks and the output (absent: 1e-6; llama2.c's: 1e-5). */
  normEps?: number;
  contextLength: number;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  dropout: number;
}

export const BITNET_DEFAULTS: Omit<BitNetConfig, 'vocabSize'> = {
  family: 'bitnet',
  dim: 256,
  layers: 4,
  heads: 4,
  kvHeads: 2,
  ffnMult: 2.75,
  ffn: 'swiglu',
  ropeTheta: 10000,
  precision: 'ternary',
  quantizeActivations: true,
  contextLength: 256,
  head: { type: 'softmax', tied: true },
  frozenEmbeddings: false,
  dropout: 0,
};

/** The feed-forward hidden size: ffnHidden when given, else ffnMult × dim rounded up to a multiple of 16. */
export function ffnHidden(c: Pick<BitNetConfig, 'dim' | 'ffnMult' | 'ffnHidden'>): number {
  return c.ffnHidden ?? Math.ceil((c.ffnMult * c.dim) / 16) * 16;
}

/** The gain norms' epsilon of a config (see normEps). */
export const normEpsOf = (c: Pick<BitNetConfig, 'normEps'>): number => c.normEps ?? 1e-6;

class BitNetBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly attn: GroupedQueryAttention;
  readonly ffnNorm: RMSNorm;
  readonly ffn: GLU;
  constructor(c: BitNetConfig, rng: Rng) {
    super();
    const bit: BitLinearOptions = { precision: c.precision, quantizeActivations: c.quantizeActivations, inputNorm: c.inputNorm ?? true };
    const residualStd = 1 / Math.sqrt(2 * c.layers);
    this.attnNorm = this.child('attn_norm', new RMSNorm(c.dim, normEpsOf(c)));
    this.attn = this.child('attn', new GroupedQueryAttention(c.dim, c.heads, c.kvHeads, c.ropeTheta, bit, rng, residualStd / Math.sqrt(c.dim)));
    this.ffnNorm = this.child('ffn_norm', new RMSNorm(c.dim, normEpsOf(c)));
    this.ffn = this.child('ffn', new GLU(c.dim, ffnHidden(c), bit, rng, c.ffn === 'swiglu' ? 'silu' : 'relu2'));
    this.ffn.down.weight.f32().forEach((v, i, a) => (a[i] = v * residualStd));
  }
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    x = ops.add(x, section('attention', () => drop(this.attn.forward(this.attnNorm.forward(x)))));
    return ops.add(x, section('ffn', () => drop(this.ffn.forward(this.ffnNorm.forward(x)))));
  }
}

export class BitNet extends LanguageModel<BitNetConfig> {
  readonly embed: Embedding;
  readonly blocks: BitNetBlock[] = [];
  readonly normOut: RMSNorm;
  readonly head: Head;

  constructor(config: BitNetConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    this.embed = this.child('embed', tokenEmbedding(c, rng));
    for (let i = 0; i < c.layers; i++) this.blocks.push(this.child(`blocks.${i}`, new BitNetBlock(c, rng)));
    this.normOut = this.child('norm_out', new RMSNorm(c.dim, normEpsOf(c)));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    return this.stack(ids, this.blocks, this.normOut);
  }

}
