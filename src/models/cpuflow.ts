// CPUFlow (FlashLM's CPU-first line, v10 "cpuflow v5-LN"): a linear-attention scan whose state is
// a running weighted mean, and a position signal that is itself a running sum.
//
//   ids -> token embedding (d) + CumStepPos: p_t = steps_0 + … + steps_t    (steps: contextLength × d)
//       -> for each layer:
//              h = LayerNorm(x)
//              q = Q h, k = σ(K h), v = tanh(V h)                        (stateDim each)
//              s_t = q_t ⊙ (Σ_{u≤t} k_u ⊙ v_u) / (Σ_{u≤t} k_u + ε)        the scan, ε = scanEps
//              x += Out(Mix(s))                                          (stateDim → stateDim → d)
//              x += Down(relu(Up(LayerNorm(x))))                         (d → ffnHidden → d)
//       -> LayerNorm -> head (tied to the embedding by default)
//
// The author's W_proj (d → 3·stateDim, split into q, k, v) is the three projections Q, K, V here:
// the same product in float; ternary layers get a scale each. Every projection is a BitLinear of
// the config's precision; fp32 is the author's float original (plain linear layers, no input
// norm), ternary and int8 layers norm their input (RMSNorm without gain) as BitNet does. The scan
// is one op (ops.cumulativeMean) whose time loop runs in a kernel. Init as the author's: every
// projection, the embedding and the steps N(0, 0.02), Out and Down scaled by 1/√(2·layers).
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { Head } from '../heads/head.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { BitLinear, Embedding, LayerNorm, type BitLinearOptions, type Precision } from '../nn/layers.js';
import type { PrecisionOverrides } from './precision.js';
import { Module, init } from '../nn/module.js';
import * as ops from '../ops/index.js';
import { createHead, type HeadConfig } from './heads.js';
import { LanguageModel, positionIds } from './language-model.js';

export interface CpuflowConfig {
  family: 'cpuflow';
  vocabSize: number;
  dim: number;
  /** Width of the scan's q, k, v and state (the author's k). */
  stateDim: number;
  /** Hidden width of the relu feed-forward (the author's d_ff). */
  ffnHidden: number;
  layers: number;
  /** Rows of the CumStepPos table: the longest sequence the model can read, in training and decoding. */
  contextLength: number;
  /** ε of the scan's denominator Σ k + ε. */
  scanEps: number;
  /** Precision of every projection (fp32: the author's float model). */
  precision: Precision;
  quantizeActivations: boolean;
  /** Precisions of chosen projections over `precision` (src/models/precision.ts). */
  precisionOverrides?: PrecisionOverrides;
  head: HeadConfig;
  frozenEmbeddings: boolean;
  dropout: number;
}

export const CPUFLOW_DEFAULTS: Omit<CpuflowConfig, 'vocabSize'> = {
  family: 'cpuflow',
  dim: 256,
  stateDim: 64,
  ffnHidden: 128,
  layers: 6,
  precision: 'ternary',
  quantizeActivations: true,
  contextLength: 256,
  scanEps: 1e-3,
  head: { type: 'softmax', tied: true },
  frozenEmbeddings: false,
  dropout: 0,
};

/** Std of every weight at init (the author's). */
const INIT_STD = 0.02;

/** The projections' options: fp32 layers are plain linear layers, the others norm their input. */
export function cpuflowBitOptions(c: Pick<CpuflowConfig, 'precision' | 'quantizeActivations'>): BitLinearOptions {
  return { precision: c.precision, quantizeActivations: c.quantizeActivations, inputNorm: c.precision !== 'fp32' };
}

/** The token mixer: q ⊙ the running mean of tanh(V h) weighted by σ(K h), then Mix and Out. */
class Scan extends Module {
  readonly query: BitLinear;
  readonly key: BitLinear;
  readonly value: BitLinear;
  readonly mix: BitLinear;
  readonly out: BitLinear;
  constructor(c: CpuflowConfig, rng: Rng, residualStd: number) {
    super();
    const bit = cpuflowBitOptions(c), k = c.stateDim;
    this.query = this.child('query', new BitLinear(c.dim, k, bit, rng, INIT_STD));
    this.key = this.child('key', new BitLinear(c.dim, k, bit, rng, INIT_STD));
    this.value = this.child('value', new BitLinear(c.dim, k, bit, rng, INIT_STD));
    this.mix = this.child('mix', new BitLinear(k, k, bit, rng, INIT_STD));
    this.out = this.child('out', new BitLinear(k, c.dim, bit, rng, residualStd));
  }
  /** h (B, T, d) -> (B, T, d) */
  forward(h: Tensor, eps: number): Tensor {
    const x = this.query.normInput(h); // q, k and v share their input, and so its norm
    const q = this.query.project(x), k = ops.sigmoid(this.key.project(x)), v = ops.tanh(this.value.project(x));
    const s = ops.mul(q, ops.cumulativeMean(k, v, eps));
    return this.out.forward(this.mix.forward(s));
  }
}

/** The channel mixer: Down(relu(Up h)). */
class ReluFeedForward extends Module {
  readonly up: BitLinear;
  readonly down: BitLinear;
  constructor(c: CpuflowConfig, rng: Rng, residualStd: number) {
    super();
    const bit = cpuflowBitOptions(c);
    this.up = this.child('up', new BitLinear(c.dim, c.ffnHidden, bit, rng, INIT_STD));
    this.down = this.child('down', new BitLinear(c.ffnHidden, c.dim, bit, rng, residualStd));
  }
  forward(h: Tensor): Tensor {
    return this.down.forward(ops.relu(this.up.forward(h)));
  }
}

class CpuflowBlock extends Module {
  readonly mixerNorm: LayerNorm;
  readonly mixer: Scan;
  readonly ffnNorm: LayerNorm;
  readonly ffn: ReluFeedForward;
  constructor(readonly c: CpuflowConfig, rng: Rng) {
    super();
    const residualStd = INIT_STD / Math.sqrt(2 * c.layers);
    this.mixerNorm = this.child('mixer_norm', new LayerNorm(c.dim));
    this.mixer = this.child('mixer', new Scan(c, rng, residualStd));
    this.ffnNorm = this.child('ffn_norm', new LayerNorm(c.dim));
    this.ffn = this.child('ffn', new ReluFeedForward(c, rng, residualStd));
  }
  forward(x: Tensor, drop: (t: Tensor) => Tensor): Tensor {
    x = ops.add(x, section('mixer', () => drop(this.mixer.forward(this.mixerNorm.forward(x), this.c.scanEps))));
    return ops.add(x, section('ffn', () => drop(this.ffn.forward(this.ffnNorm.forward(x)))));
  }
}

/** CumStepPos: learned per-position steps whose running sum is the position vector. */
class CumStepPositions extends Module {
  readonly steps: Tensor;
  constructor(contextLength: number, dim: number, rng: Rng) {
    super();
    this.steps = this.param('steps', init.normal([contextLength, dim], INIT_STD, rng), { decay: false, matrix: false });
  }
  /** (B, T, d): row t of every batch row is steps_0 + … + steps_t. */
  forward(B: number, T: number): Tensor {
    const [rows, d] = this.steps.shape;
    const table = ops.reshape(ops.cumsum(ops.reshape(this.steps, [1, rows, d])), [rows, d]);
    return ops.embedding(table, positionIds(B, T));
  }
}

export class Cpuflow extends LanguageModel<CpuflowConfig> {
  readonly embed: Embedding;
  readonly positions: CumStepPositions;
  readonly blocks: CpuflowBlock[] = [];
  readonly normOut: LayerNorm;
  readonly head: Head;

  constructor(config: CpuflowConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure) {
    super(config);
    const c = config;
    this.embed = this.child('embed', new Embedding(c.vocabSize, c.dim, rng, { frozen: c.frozenEmbeddings, std: INIT_STD }));
    this.positions = this.child('pos', new CumStepPositions(c.contextLength, c.dim, rng));
    for (let i = 0; i < c.layers; i++) this.blocks.push(this.child(`blocks.${i}`, new CpuflowBlock(c, rng)));
    this.normOut = this.child('norm_out', new LayerNorm(c.dim));
    this.head = this.child('head', createHead(c.head, c.vocabSize, c.dim, rng, this.embed.weight, tokenCounts, headStructure));
  }

  /** ids int32 (B, T) -> final hidden states (B*T, d) */
  hidden(ids: Tensor): Tensor {
    const [B, T] = ids.shape;
    if (T > this.config.contextLength) throw new Error(`cpuflow: ${T} positions, but the CumStepPos table has ${this.config.contextLength} (model.contextLength)`);
    let x = section('embedding', () => this.drop(ops.add(this.embed.forward(ids), this.positions.forward(B, T))));
    for (const b of this.blocks) x = b.forward(x, this.drop);
    return ops.reshape(this.normOut.forward(x), [B * T, this.config.dim]);
  }
}
