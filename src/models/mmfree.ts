// MatMul-free LM (Zhu et al., "Scalable MatMul-free Language Modeling", arXiv 2406.02528).
//
//   ids -> token embedding (d)
//       -> for each layer:
//              h = RMSNorm(x)
//              f = σ(F h), c = SiLU(C h), g = σ(G h)        the MLGRU token mixer
//              s_t = f_t ⊙ s_{t-1} + (1 − f_t) ⊙ c_t         element-wise recurrence over time
//              x += O(g ⊙ s)
//              x += down(SiLU(gate(RMSNorm(x))) ⊙ up(RMSNorm(x)))   the GLU channel mixer
//       -> RMSNorm -> head (tied to the embedding by default)
//
// Every projection (F, C, G, O, gate, up, down) is a BitLinear with its own input norm, as in
// BitNet; the recurrence is one op (ops.gatedRecurrence) whose time loop runs in a kernel. The
// float twin sets precision to fp32.
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { BitLinear, Embedding, GLU, RMSNorm, type BitLinearOptions, type Precision } from '../nn/layers.js';
import type { PrecisionOverrides } from './precision.js';
import { Module } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, tokenEmbedding } from './language-model.js';

export interface MmfreeConfig {
  family: 'mmfree';
  vocabSize: number;
  dim: number;
  layers: number;
  /** GLU hidden size as a multiple of dim (rounded up to a multiple of 16). */
  ffnMult: number;
  /** Precision of every projection. */
  precision: Precision;
  quantizeActivations: boolean;
  /** Precisions of chosen projections over `precision` (src/models/precision.ts). */
  precisionOverrides?: PrecisionOverrides;
  /** Longest training row; the recurrence itself has no limit. */
  contextLength: number;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  dropout: number;
}

export const MMFREE_DEFAULTS: Omit<MmfreeConfig, 'vocabSize'> = {
  family: 'mmfree',
  dim: 256,
  layers: 4,
  ffnMult: 2.5,
  precision: 'ternary',
  quantizeActivations: true,
  contextLength: 256,
  head: { type: 'softmax', tied: true },
  frozenEmbeddings: false,
  dropout: 0,
};

export function ffnHidden(c: Pick<MmfreeConfig, 'dim' | 'ffnMult'>): number {
  return Math.ceil((c.ffnMult * c.dim) / 16) * 16;
}

/** The MLGRU: gates and candidate from BitLinears, an element-wise recurrence, a gated output. */
class MLGRU extends Module {
  readonly f: BitLinear;
  readonly c: BitLinear;
  readonly g: BitLinear;
  readonly o: BitLinear;
  constructor(dim: number, bit: BitLinearOptions, rng: Rng, outStd: number) {
    super();
    this.f = this.child('f', new BitLinear(dim, dim, bit, rng));
    this.c = this.child('c', new BitLinear(dim, dim, bit, rng));
    this.g = this.child('g', new BitLinear(dim, dim, bit, rng));
    this.o = this.child('o', new BitLinear(dim, dim, bit, rng, outStd));
  }
  /** x (B, T, d) -> (B, T, d) */
  forward(x: Tensor): Tensor {
    const h = this.f.normInput(x); // f, c and g share their input, and so its norm
    const s = ops.gatedRecurrence(ops.sigmoid(this.f.project(h)), ops.silu(this.c.project(h)));
    return this.o.forward(ops.mul(ops.sigmoid(this.g.project(h)), s));
  }
}

class MmfreeBlock extends Module {
  readonly mixerNorm: RMSNorm;
  readonly mixer: MLGRU;
  readonly ffnNorm: RMSNorm;
  readonly ffn: GLU;
  constructor(c: MmfreeConfig, rng: Rng) {
    super();
    const bit: BitLinearOptions = { precision: c.precision, quantizeActivations: c.quantizeActivations, inputNorm: true };
    const residualStd = 1 / Math.sqrt(2 * c.layers);
    this.mixerNorm = this.child('mixer_norm', new RMSNorm(c.dim));
    this.mixer = this.child('mixer', new MLGRU(c.dim, bit, rng, residualStd / Math.sqrt(c.dim)));
    this.ffnNorm = this.child('ffn_norm', new RMSNorm(c.dim));
    this.ffn = this.child('ffn', new GLU(c.dim, ffnHidden(c), bit, rng, 'silu'));
    this.ffn.down.weight.f32().forEach((v, i, a) => (a[i] = v * residualStd));
  }
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    x = ops.add(x, section('mixer', () => drop(this.mixer.forward(this.mixerNorm.forward(x)))));
    return ops.add(x, section('glu', () => drop(this.ffn.forward(this.ffnNorm.forward(x)))));
  }
}

export class Mmfree extends LanguageModel<MmfreeConfig> {
  readonly embed: Embedding;
  readonly blocks: MmfreeBlock[] = [];
  readonly normOut: RMSNorm;
  readonly head: Head;

  constructor(config: MmfreeConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    this.embed = this.child('embed', tokenEmbedding(c, rng));
    for (let i = 0; i < c.layers; i++) this.blocks.push(this.child(`blocks.${i}`, new MmfreeBlock(c, rng)));
    this.normOut = this.child('norm_out', new RMSNorm(c.dim));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    return this.stack(ids, this.blocks, this.normOut);
  }

}
