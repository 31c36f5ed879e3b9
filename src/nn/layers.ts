// Building blocks of the models: each a Module with its parameters and a forward function.
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import * as ops from '../ops/index.js';
import { Module, init } from './module.js';

/** y = x W^T (+ b), float. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Rng, opts: { bias?: boolean; std?: number } = {}) {
    super();
    this.weight = this.param('weight', init.normal([outFeatures, inFeatures], opts.std ?? 1 / Math.sqrt(inFeatures), rng));
    this.bias = opts.bias ? this.param('bias', init.constant([outFeatures], 0), { decay: false }) : null;
  }
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

/** How a BitLinear layer stores and multiplies its weights. */
export type Precision = 'ternary' | 'int8' | 'fp32';

export interface BitLinearOptions {
  precision: Precision;
  /** 8-bit per-token absmax activations (ternary layers). */
  quantizeActivations: boolean;
  /** RMSNorm (no gain) of the input inside the layer, as in BitNet's BitLinear. */
  inputNorm: boolean;
  /** A float bias (out features) added after the product, at every precision (GPT-2's projections; absent: none). */
  bias?: boolean;
}

/**
 * BitNet b1.58 linear layer: fp32 master weights, AbsMean ternarization with a straight-through
 * estimator, optional 8-bit activations, input RMSNorm and float bias. `precision` keeps sensitive
 * layers at int8 or fp32 (hybrid models); `ternaryActive = false` runs it in float (warm-up phase).
 * At fp32 with a bias and no input norm it is exactly `Linear` (same parameters, same product).
 */
export class BitLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  ternaryActive = true;
  private options: BitLinearOptions;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: BitLinearOptions, rng: Rng, std?: number) {
    super();
    this.options = opts;
    this.weight = this.param('weight', init.normal([outFeatures, inFeatures], std ?? 1 / Math.sqrt(inFeatures), rng));
    this.bias = opts.bias ? this.param('bias', init.constant([outFeatures], 0), { decay: false }) : null;
  }
  get opts(): Readonly<BitLinearOptions> {
    return this.options;
  }
  /** This layer's precision instead of the one its model gave every projection (a hybrid model's override). */
  setPrecision(precision: Precision): void {
    this.options = { ...this.options, precision };
  }
  forward(x: Tensor): Tensor {
    return this.project(this.normInput(x));
  }
  /** The layer's input norm (RMSNorm without gain) when it has one, else x itself. */
  normInput(x: Tensor): Tensor {
    return this.opts.inputNorm ? ops.rmsNorm(x, null) : x;
  }
  /**
   * The product alone, on an input already through `normInput`: layers that read the same input
   * (q, k, v; gate and up) norm it once. Equal to forward(x) for h = normInput(x). The bias, when
   * there is one, is added to the product in float.
   */
  project(h: Tensor): Tensor {
    if (this.opts.precision === 'fp32' || (this.opts.precision === 'ternary' && !this.ternaryActive)) return ops.linear(h, this.weight, this.bias);
    const y = this.opts.precision === 'int8'
      ? ops.int8Linear(h, this.weight)
      : ops.ternaryLinear(h, this.weight, { quantizeActivations: this.opts.quantizeActivations });
    return this.bias ? ops.add(y, this.bias) : y;
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.param('weight', init.constant([dim], 1), { decay: false, matrix: false });
  }
  forward(x: Tensor): Tensor {
    return ops.rmsNorm(x, this.weight, this.eps);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', init.constant([dim], 1), { decay: false, matrix: false });
    this.bias = this.param('bias', init.constant([dim], 0), { decay: false, matrix: false });
  }
  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  /** `decay`: apply weight decay to the table (llm.c's GPT-2 does; the default does not). */
  constructor(readonly vocabSize: number, readonly dim: number, rng: Rng, opts: { frozen?: boolean; std?: number; decay?: boolean } = {}) {
    super();
    this.weight = this.param('weight', init.normal([vocabSize, dim], opts.std ?? 1, rng), { decay: opts.decay ?? false, matrix: false });
    if (opts.frozen) this.weight.requiresGrad = false;
  }
  /** ids int32 (B, T) -> (B, T, dim) */
  forward(ids: Tensor): Tensor {
    return ops.embedding(this.weight, ids);
  }
}

/** Causal depthwise dilated convolution over time, channels last: (B, T, C) -> (B, T, C). */
export class CausalConv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly channels: number, readonly kernelSize: number, readonly dilation: number, rng: Rng) {
    super();
    this.weight = this.param('weight', init.normal([kernelSize, channels], 1 / Math.sqrt(kernelSize), rng), { decay: false, matrix: false });
    this.bias = this.param('bias', init.constant([channels], 0), { decay: false, matrix: false });
  }
  forward(x: Tensor): Tensor {
    return ops.causalConv1d(x, this.weight, this.bias, this.dilation);
  }
  /** How many past steps the output at t reads (the inference ring buffer length). */
  get receptiveField(): number {
    return (this.kernelSize - 1) * this.dilation + 1;
  }
}

/** Gated linear unit of BitLinear layers: down(act(gate x) * up x), act = ReLU² by default. */
export class GLU extends Module {
  readonly gate: BitLinear;
  readonly up: BitLinear;
  readonly down: BitLinear;
  constructor(dim: number, hidden: number, opts: BitLinearOptions, rng: Rng, readonly activation: 'relu2' | 'silu' | 'gelu' = 'relu2') {
    super();
    this.gate = this.child('gate', new BitLinear(dim, hidden, opts, rng));
    this.up = this.child('up', new BitLinear(dim, hidden, opts, rng));
    this.down = this.child('down', new BitLinear(hidden, dim, opts, rng));
  }
  forward(x: Tensor): Tensor {
    const h = this.gate.normInput(x); // gate and up share their input, and so its norm
    const act = ops[this.activation](this.gate.project(h));
    return this.down.forward(ops.mul(act, this.up.project(h)));
  }
}

/**
 * Two linear layers with an activation between: proj(act(fc x)), GPT-2's feed-forward (GELU,
 * hidden 4 dim). Both are BitLinear layers of options `bit` (GPT-2's: with biases, fp32 unless its
 * config says otherwise).
 */
export class MLP extends Module {
  readonly fc: BitLinear;
  readonly proj: BitLinear;
  constructor(dim: number, hidden: number, bit: BitLinearOptions, rng: Rng, opts: { std: number; projStd: number }, readonly activation: 'gelu' | 'relu' = 'gelu') {
    super();
    this.fc = this.child('fc', new BitLinear(dim, hidden, bit, rng, opts.std));
    this.proj = this.child('proj', new BitLinear(hidden, dim, bit, rng, opts.projStd));
  }
  forward(x: Tensor): Tensor {
    return this.proj.forward(ops[this.activation](this.fc.forward(x)));
  }
}
