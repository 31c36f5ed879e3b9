// FlashLM: a matmul-free language model for CPUs.
//
//   ids -> Embedding (d)
//       -> recurrence x [ for each layer i:
//              x += Mix_i(CausalConv1d_i(RMSNorm(x)))      dilation = dilations[i % n]
//              x += GLU_i(RMSNorm(x))                      ReLU², hidden = glu * d  ]
//       -> RMSNorm -> head (softmax | hierarchical | adaptive)
//
// The layer stack is applied `recurrence` times with the same weights. Mix and GLU are
// BitLinear layers (ternary by default); the float twin sets precision to fp32.
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import { BitLinear, CausalConv1d, Embedding, GLU, RMSNorm, type BitLinearOptions, type Precision } from '../nn/layers.js';
import type { PrecisionOverrides } from './precision.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, tokenEmbedding } from './language-model.js';

export interface FlashLMConfig {
  family: 'flashlm';
  vocabSize: number;
  dim: number;
  layers: number;
  /** Passes over the shared layer stack. */
  recurrence: number;
  kernelSize: number;
  dilations: number[];
  /** GLU hidden size as a multiple of dim (rounded up to a multiple of 16). */
  gluMult: number;
  /** Precision of the mixer and GLU projections. */
  precision: Precision;
  quantizeActivations: boolean;
  /** Precisions of chosen projections over `precision` (src/models/precision.ts). */
  precisionOverrides?: PrecisionOverrides;
  frozenEmbeddings: boolean;
  contextLength: number;
  head: HeadConfig;
  /** Dropout probability on the embedding output and on each residual branch (training only). */
  dropout: number;
}

export const FLASHLM_DEFAULTS: Omit<FlashLMConfig, 'vocabSize'> = {
  family: 'flashlm',
  dim: 256,
  layers: 3,
  recurrence: 2,
  kernelSize: 4,
  dilations: [1, 4, 64],
  gluMult: 2.67,
  precision: 'ternary',
  quantizeActivations: true,
  frozenEmbeddings: false,
  contextLength: 256,
  head: { type: 'softmax', tied: true },
  dropout: 0,
};

export function gluHidden(c: Pick<FlashLMConfig, 'dim' | 'gluMult'>): number {
  return Math.ceil((c.gluMult * c.dim) / 16) * 16;
}

class FlashBlock extends Module {
  readonly norm1: RMSNorm;
  readonly conv: CausalConv1d;
  readonly mix: BitLinear;
  readonly norm2: RMSNorm;
  readonly glu: GLU;
  constructor(c: FlashLMConfig, dilation: number, rng: Rng) {
    super();
    const bit: BitLinearOptions = { precision: c.precision, quantizeActivations: c.quantizeActivations, inputNorm: false };
    const residualStd = 1 / Math.sqrt(2 * c.layers * c.recurrence);
    this.norm1 = this.child('norm1', new RMSNorm(c.dim));
    this.conv = this.child('conv', new CausalConv1d(c.dim, c.kernelSize, dilation, rng));
    this.mix = this.child('mix', new BitLinear(c.dim, c.dim, bit, rng, residualStd / Math.sqrt(c.dim)));
    this.norm2 = this.child('norm2', new RMSNorm(c.dim));
    this.glu = this.child('glu', new GLU(c.dim, gluHidden(c), bit, rng));
    this.glu.down.weight.f32().forEach((v, i, a) => (a[i] = v * residualStd));
  }
  /** x (B, T, d) -> (B, T, d); `drop` applies the model's dropout to a residual branch. */
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    const mixed = section('mixer', () => drop(this.mix.forward(this.conv.forward(this.norm1.forward(x)))));
    x = ops.add(x, mixed);
    const ff = section('glu', () => drop(this.glu.forward(this.norm2.forward(x))));
    return ops.add(x, ff);
  }
}

export class FlashLM extends LanguageModel<FlashLMConfig> {
  readonly embed: Embedding;
  readonly blocks: FlashBlock[] = [];
  readonly normOut: RMSNorm;
  readonly head: Head;

  /**
   * `tokenCounts` (the training tokens' frequencies) build a hierarchical or adaptive head;
   * `headStructure` rebuilds one saved in an exported model instead.
   */
  constructor(config: FlashLMConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    this.embed = this.child('embed', tokenEmbedding(c, rng));
    for (let i = 0; i < c.layers; i++) this.blocks.push(this.child(`blocks.${i}`, new FlashBlock(c, c.dilations[i % c.dilations.length], rng)));
    this.normOut = this.child('norm_out', new RMSNorm(c.dim));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    // The same layer stack, `recurrence` times over.
    return this.stack(ids, Array.from({ length: this.config.recurrence }, () => this.blocks).flat(), this.normOut);
  }
}
