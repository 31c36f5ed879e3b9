// Mixture of frameworks (MoF), after Xiaothink T6: two experts of different kinds, a GRU and a
// linear-attention transformer, mixed at every position by a router (ternlm issue #16).
//
//   ids -> e = token embedding (d)
//       -> x = e; for each layer:
//              x = x + β e                                      only with embeddingMix (β learned, starts at 0)
//              GRU expert          g = x + O(minGRU(LN(x)))     wide: minGRU width gruWidth
//              transformer expert  n = LN(x)
//                                  a = x + A(n + PE_t) + α Θ(mean(n_0..n_t))   linear attention, thought vector
//                                  a = a + GLU(LN(a))
//              router              p = softmax(R minGRU(LN(x)))                 (2) per position
//              x = p_0 g + p_1 a
//       -> LN -> head (tied to the embedding by default)
//
// minGRU (src/nn/min-gru.ts): gates and candidate from the input only, so training runs the time
// loop in one kernel (ops.gatedRecurrence); Keras's GRU, which Xiaothink uses, feeds h_{t-1}
// through matrices and cannot be trained in parallel. A is causal linear attention with
// φ = elu + 1 (src/nn/linear-attention.ts), PE the sinusoidal position encoding, Θ the projection
// of the running mean of the context (the "thought vector"), α a learned scalar. Every projection
// is a BitLinear with its own input norm (BitNet); the float twin sets precision to fp32.
// frozenLayers > 0 freezes the first frozenLayers blocks (those nearest the embedding) for
// fine-tuning: their parameters get no gradient and the optimizer skips them.
import { section } from '../core/autograd.js';
import { cachedConstant } from '../core/constants.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { BitLinear, Embedding, GLU, LayerNorm, type BitLinearOptions, type Precision } from '../nn/layers.js';
import type { PrecisionOverrides } from './precision.js';
import { CausalLinearAttention, sinusoidalTable } from '../nn/linear-attention.js';
import { MinGRU } from '../nn/min-gru.js';
import { Module, init } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, tokenEmbedding } from './language-model.js';

export interface MofConfig {
  family: 'mof';
  vocabSize: number;
  dim: number;
  layers: number;
  /** Heads of the linear attention (dim must be a multiple). */
  heads: number;
  /** Width of the GRU expert's minGRU as a multiple of dim (rounded up to a multiple of 16). */
  gruMult: number;
  /** GLU hidden size of the transformer expert as a multiple of dim (rounded up to a multiple of 16). */
  ffnMult: number;
  /** Width of the router's minGRU. */
  routerDim: number;
  /** Precision of every projection. */
  precision: Precision;
  quantizeActivations: boolean;
  /** Precisions of chosen projections over `precision` (src/models/precision.ts). */
  precisionOverrides?: PrecisionOverrides;
  /** Longest training row; neither expert has a length limit at inference. */
  contextLength: number;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  /** Freeze the first frozenLayers blocks (the ones nearest the embedding) for fine-tuning. */
  frozenLayers: number;
  /** Add the token embedding, times a learned weight per layer, to every layer's input. */
  embeddingMix: boolean;
  dropout: number;
}

export const MOF_DEFAULTS: Omit<MofConfig, 'vocabSize'> = {
  family: 'mof',
  dim: 256,
  layers: 3,
  heads: 4,
  gruMult: 2,
  ffnMult: 1.5,
  routerDim: 64,
  precision: 'ternary',
  quantizeActivations: true,
  contextLength: 256,
  head: { type: 'softmax', tied: true },
  frozenEmbeddings: false,
  frozenLayers: 0,
  embeddingMix: true,
  dropout: 0,
};

const roundUp16 = (x: number): number => Math.ceil(x / 16) * 16;

export function gruWidth(c: Pick<MofConfig, 'dim' | 'gruMult'>): number {
  return roundUp16(c.gruMult * c.dim);
}

export function ffnHidden(c: Pick<MofConfig, 'dim' | 'ffnMult'>): number {
  return roundUp16(c.ffnMult * c.dim);
}

/** Initial α of the thought vector: small, so the running mean starts as a hint beside attention. */
const THOUGHT_WEIGHT_INIT = 0.1;

/** A learned scalar (no weight decay). */
function scalarParam(value: number): Tensor {
  return init.constant([1], value);
}

/** s x for a learned scalar s (1): x viewed as one column, so ops.mul broadcasts s over it. */
function scaleBy(x: Tensor, s: Tensor): Tensor {
  return ops.reshape(ops.mul(ops.reshape(x, [x.size, 1]), s), x.shape);
}

/** x (N, d) times a weight per row w (N, 1): w is spread over d columns by a product with ones (1, d). */
function scaleRows(x: Tensor, w: Tensor): Tensor {
  const d = x.shape[x.shape.length - 1];
  const ones = cachedConstant(`ones 1,${d}`, () => Tensor.from(new Float32Array(d).fill(1), [1, d]));
  return ops.mul(x, ops.matmul(w, ones));
}

/**
 * LN, a minGRU, a projection: out(minGRU(LN(x))), (B, T, d) -> (B, T, outFeatures). The GRU
 * expert's branch (wide, back to d) and the router's logits (narrow, to 2).
 */
class MinGRUBranch extends Module {
  readonly norm: LayerNorm;
  readonly gru: MinGRU;
  readonly out: BitLinear;
  constructor(dim: number, width: number, outFeatures: number, bit: BitLinearOptions, rng: Rng, outStd?: number) {
    super();
    this.norm = this.child('norm', new LayerNorm(dim));
    this.gru = this.child('gru', new MinGRU(dim, width, bit, rng));
    this.out = this.child('out', new BitLinear(width, outFeatures, bit, rng, outStd));
  }
  forward(x: Tensor): Tensor {
    return this.out.forward(this.gru.forward(this.norm.forward(x)));
  }
}

/** The transformer expert: linear attention with positions and the thought vector, then a GLU. */
class TransformerExpert extends Module {
  readonly norm: LayerNorm;
  readonly attention: CausalLinearAttention;
  readonly thought: BitLinear;
  readonly thoughtWeight: Tensor;
  readonly ffnNorm: LayerNorm;
  readonly ffn: GLU;
  constructor(c: MofConfig, bit: BitLinearOptions, rng: Rng, outStd: number) {
    super();
    this.norm = this.child('norm', new LayerNorm(c.dim));
    this.attention = this.child('attention', new CausalLinearAttention(c.dim, c.heads, bit, rng, outStd));
    this.thought = this.child('thought', new BitLinear(c.dim, c.dim, bit, rng, outStd));
    this.thoughtWeight = this.param('thought_weight', scalarParam(THOUGHT_WEIGHT_INIT), { decay: false, matrix: false });
    this.ffnNorm = this.child('ffn_norm', new LayerNorm(c.dim));
    this.ffn = this.child('ffn', new GLU(c.dim, ffnHidden(c), bit, rng, 'silu'));
  }
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    const [B, T, d] = x.shape;
    const n = this.norm.forward(x);
    const positioned = ops.reshape(ops.add(ops.reshape(n, [B, T * d]), sinusoidalTable(T, d)), [B, T, d]);
    const mixed = ops.add(
      section('attention', () => this.attention.forward(positioned)),
      section('thought', () => scaleBy(this.thought.forward(ops.causalMean(n)), this.thoughtWeight)),
    );
    const a = ops.add(x, drop(mixed));
    return ops.add(a, section('glu', () => drop(this.ffn.forward(this.ffnNorm.forward(a)))));
  }
}

class MofBlock extends Module {
  readonly embeddingWeight: Tensor | null;
  readonly gru: MinGRUBranch;
  readonly transformer: TransformerExpert;
  readonly router: MinGRUBranch;
  constructor(c: MofConfig, rng: Rng) {
    super();
    const bit: BitLinearOptions = { precision: c.precision, quantizeActivations: c.quantizeActivations, inputNorm: true };
    const residualStd = 1 / Math.sqrt(2 * c.layers);
    this.embeddingWeight = c.embeddingMix ? this.param('embedding_weight', scalarParam(0), { decay: false, matrix: false }) : null;
    this.gru = this.child('gru', new MinGRUBranch(c.dim, gruWidth(c), c.dim, bit, rng, residualStd / Math.sqrt(gruWidth(c))));
    this.transformer = this.child('transformer', new TransformerExpert(c, bit, rng, residualStd / Math.sqrt(c.dim)));
    this.transformer.ffn.down.weight.f32().forEach((v, i, a) => (a[i] = v * residualStd));
    this.router = this.child('router', new MinGRUBranch(c.dim, c.routerDim, 2, bit, rng));
  }
  /** x, e (B, T, d) -> (B, T, d); e is the token embedding. */
  forward(x: Tensor, e: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    const [B, T, d] = x.shape;
    if (this.embeddingWeight) x = ops.add(x, scaleBy(e, this.embeddingWeight));
    const g = ops.add(x, section('gru', () => drop(this.gru.forward(x))));
    const a = this.transformer.forward(x, drop);
    const p = section('router', () => ops.softmax(ops.reshape(this.router.forward(x), [B * T, 2]))); // (B*T, 2)
    const rows = (t: Tensor): Tensor => ops.reshape(t, [B * T, d]);
    const mixed = ops.add(scaleRows(rows(g), ops.slice(p, 1, 0, 1)), scaleRows(rows(a), ops.slice(p, 1, 1, 1)));
    return ops.reshape(mixed, [B, T, d]);
  }
  /** Stop training this block: its parameters get no gradient, and the optimizer skips them. */
  freeze(): void {
    for (const p of this.parameters()) p.requiresGrad = false;
  }
}

export class Mof extends LanguageModel<MofConfig> {
  readonly embed: Embedding;
  readonly blocks: MofBlock[] = [];
  readonly normOut: LayerNorm;
  readonly head: Head;

  constructor(config: MofConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    this.embed = this.child('embed', tokenEmbedding(c, rng));
    for (let i = 0; i < c.layers; i++) this.blocks.push(this.child(`blocks.${i}`, new MofBlock(c, rng)));
    this.normOut = this.child('norm_out', new LayerNorm(c.dim));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
    this.blocks.slice(0, c.frozenLayers).forEach((b) => b.freeze());
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    const [B, T] = ids.shape;
    const e = section('embedding', () => this.drop(this.embed.forward(ids)));
    let x = e;
    for (const b of this.blocks) x = b.forward(x, e, this.drop);
    return ops.reshape(this.normOut.forward(x), [B * T, this.config.dim]);
  }
}
