// FlashLM-MLP: the 1.2M-parameter FlashLM write-up — frozen token embeddings, three ternary
// layers 256 -> 512 -> 512 -> 256 with ReLU after the first two, a two-level softmax head. The
// write-up does not say how its context reaches the MLP; here it is a running average:
//
//   ids -> e_t = E[id_t]                                    frozen (GPT-2's by SVD, or the corpus')
//       -> s_t = f ⊙ s_{t-1} + (1 − f) ⊙ e_t,  f = σ(a)     per-channel decay a, s_{-1} = 0
//       -> x_t = e_t + γ ⊙ s_t                              per-channel context gain γ (dim)
//       -> ReLU(L1 x) -> ReLU(L2 ·) -> L3 ·                  dim -> hidden -> hidden -> dim
//       -> RMSNorm -> head (two-level: class, then word by the frozen embedding rows)
//
// s_t is a causal exponential moving average of the token embeddings up to t, channel i with its
// own memory 1 / (1 − f_i) tokens (initially spread geometrically from 2 to the context length);
// its time loop is one op (ops.gatedRecurrence), and inference carries s as a state of dim
// floats, so there is no context limit. L1..L3 are BitLinears with their input norm (as BitNet's),
// ternary by default; the float twin sets precision to fp32. `layers` counts them (at least 2).
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { BitLinear, Embedding, RMSNorm, type BitLinearOptions, type Precision } from '../nn/layers.js';
import type { PrecisionOverrides } from './precision.js';
import { Module, init } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, tokenEmbedding } from './language-model.js';

export interface FlashLMMlpConfig {
  family: 'flashlm-mlp';
  vocabSize: number;
  /** Embedding width: the input and output of the MLP. */
  dim: number;
  /** Number of BitLinear layers (dim -> hidden, hidden -> hidden ..., hidden -> dim). */
  layers: number;
  /** Width of the MLP's hidden layers. */
  hidden: number;
  /** Precision of every MLP layer. */
  precision: Precision;
  quantizeActivations: boolean;
  /** Precisions of chosen projections over `precision` (src/models/precision.ts). */
  precisionOverrides?: PrecisionOverrides;
  /** Longest training row; the running average has no limit. It also sets the longest initial memory. */
  contextLength: number;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  dropout: number;
}

export const FLASHLM_MLP_DEFAULTS: Omit<FlashLMMlpConfig, 'vocabSize'> = {
  family: 'flashlm-mlp',
  dim: 256,
  layers: 3,
  hidden: 512,
  precision: 'ternary',
  quantizeActivations: true,
  contextLength: 128,
  head: { type: 'two-level' },
  frozenEmbeddings: true,
  dropout: 0,
};

/** (in, out) of each MLP layer. */
export function mlpShapes(c: Pick<FlashLMMlpConfig, 'dim' | 'hidden' | 'layers'>): [number, number][] {
  return Array.from({ length: c.layers }, (_, i) => [i === 0 ? c.dim : c.hidden, i === c.layers - 1 ? c.dim : c.hidden]);
}

/**
 * The running context: s = the per-channel exponential moving average of the embeddings, and
 * x = e + γ ⊙ s. Channel i starts with memory τ_i = 1 / (1 − f_i), geometric from 2 to `longest`.
 */
class RunningContext extends Module {
  /** a (dim): f = σ(a). */
  readonly decay: Tensor;
  /** γ (dim). */
  readonly gain: Tensor;
  constructor(dim: number, longest: number) {
    super();
    const memory = (i: number): number => 2 * Math.pow(Math.max(1, longest / 2), dim > 1 ? i / (dim - 1) : 0);
    // f = 1 - 1/τ, so a = log(f / (1 - f)) = log(τ - 1).
    this.decay = this.param('decay', Tensor.from(Float32Array.from({ length: dim }, (_, i) => Math.log(memory(i) - 1)), [dim]), { decay: false, matrix: false });
    this.gain = this.param('gain', init.constant([dim], 1), { decay: false, matrix: false });
  }
  /** e (B, T, d) -> x (B, T, d) */
  forward(e: Tensor): Tensor {
    const f = ops.sigmoid(ops.add(Tensor.zeros(e.shape), this.decay)); // f broadcast over (B, T)
    return ops.add(e, ops.mul(ops.gatedRecurrence(f, e), this.gain));
  }
}

export class FlashLMMlp extends LanguageModel<FlashLMMlpConfig> {
  readonly embed: Embedding;
  readonly context: RunningContext;
  readonly mlp: BitLinear[] = [];
  readonly normOut: RMSNorm;
  readonly head: Head;

  constructor(config: FlashLMMlpConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    const bit: BitLinearOptions = { precision: c.precision, quantizeActivations: c.quantizeActivations, inputNorm: true };
    this.embed = this.child('embed', tokenEmbedding(c, rng));
    this.context = this.child('context', new RunningContext(c.dim, c.contextLength));
    mlpShapes(c).forEach(([inF, outF], i) => this.mlp.push(this.child(`mlp.${i}`, new BitLinear(inF, outF, bit, rng))));
    this.normOut = this.child('norm_out', new RMSNorm(c.dim));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    const [B, T] = ids.shape;
    const e = section('embedding', () => this.drop(this.embed.forward(ids)));
    let x = section('context', () => this.context.forward(e));
    section('mlp', () => {
      this.mlp.forEach((layer, i) => {
        x = layer.forward(x);
        if (i < this.mlp.length - 1) x = this.drop(ops.relu(x));
      });
    });
    return ops.reshape(this.normOut.forward(x), [B * T, this.config.dim]);
  }
}
