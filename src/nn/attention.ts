// Causal self-attention modules: the projections around the fused attention op
// (ops.causalAttention: online softmax, O(T * headDim) memory per head).
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import * as ops from '../ops/index.js';
import { BitLinear, type BitLinearOptions } from './layers.js';
import { Module } from './module.js';

/**
 * GPT-2's attention: one fused projection to q, k and v (each dim wide, heads contiguous), causal
 * attention per head, an output projection. Positions come from the model's learned embedding.
 * Both projections are BitLinear layers of options `bit` (GPT-2's: with biases, fp32 unless its
 * config says otherwise).
 */
export class FusedQKVAttention extends Module {
  readonly qkv: BitLinear;
  readonly proj: BitLinear;
  constructor(readonly dim: number, readonly heads: number, bit: BitLinearOptions, rng: Rng, opts: { std: number; projStd: number }) {
    super();
    if (dim % heads !== 0) throw new Error(`attention: dim ${dim} is not a multiple of heads ${heads}`);
    this.qkv = this.child('qkv', new BitLinear(dim, 3 * dim, bit, rng, opts.std));
    this.proj = this.child('proj', new BitLinear(dim, dim, bit, rng, opts.projStd));
  }
  /** x (B, T, dim) -> (B, T, dim) */
  forward(x: Tensor): Tensor {
    const d = this.dim;
    const qkv = this.qkv.forward(x);
    const q = ops.slice(qkv, 2, 0, d), k = ops.slice(qkv, 2, d, d), v = ops.slice(qkv, 2, 2 * d, d);
    return this.proj.forward(ops.causalAttention(q, k, v, this.heads, this.heads));
  }
}

/**
 * Llama/BitNet attention: separate q, k, v projections (k and v for `kvHeads` shared heads), rotary
 * positions on q and k, causal attention where each group of heads / kvHeads query heads reads one
 * key/value head, and an output projection. Every projection is a BitLinear.
 */
export class GroupedQueryAttention extends Module {
  readonly q: BitLinear;
  readonly k: BitLinear;
  readonly v: BitLinear;
  readonly o: BitLinear;
  readonly headDim: number;
  constructor(
    readonly dim: number, readonly heads: number, readonly kvHeads: number, readonly ropeTheta: number,
    bit: BitLinearOptions, rng: Rng, outStd?: number,
  ) {
    super();
    if (dim % heads !== 0) throw new Error(`attention: dim ${dim} is not a multiple of heads ${heads}`);
    if (heads % kvHeads !== 0) throw new Error(`attention: heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
    this.headDim = dim / heads;
    const kvDim = kvHeads * this.headDim;
    this.q = this.child('q', new BitLinear(dim, dim, bit, rng));
    this.k = this.child('k', new BitLinear(dim, kvDim, bit, rng));
    this.v = this.child('v', new BitLinear(dim, kvDim, bit, rng));
    this.o = this.child('o', new BitLinear(dim, dim, bit, rng, outStd));
  }
  /** x (B, T, dim) -> (B, T, dim) */
  forward(x: Tensor): Tensor {
    const h = this.q.normInput(x); // q, k and v share their input, and so its norm
    const q = ops.rope(this.q.project(h), this.heads, this.ropeTheta);
    const k = ops.rope(this.k.project(h), this.kvHeads, this.ropeTheta);
    return this.o.forward(ops.causalAttention(q, k, this.v.project(h), this.heads, this.kvHeads));
  }
}
