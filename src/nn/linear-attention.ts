// Multi-head causal linear attention (Katharopoulos et al., arXiv 2006.16236) with the feature map
// φ(x) = elu(x) + 1, and the sinusoidal position encoding (Vaswani et al.) that goes with it:
//
//   q, k, v = Q h, K h, V h                 per head of size hd = dim / heads
//   out_t   = φ(q_t)ᵀ S_t / φ(q_t)ᵀ z_t,    S_t = Σ_{i<=t} φ(k_i) v_iᵀ,  z_t = Σ_{i<=t} φ(k_i)
//   y       = O out
import { cachedConstant } from '../core/constants.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import * as ops from '../ops/index.js';
import { BitLinear, type BitLinearOptions } from './layers.js';
import { Module } from './module.js';

export class CausalLinearAttention extends Module {
  readonly q: BitLinear;
  readonly k: BitLinear;
  readonly v: BitLinear;
  readonly o: BitLinear;
  constructor(readonly dim: number, readonly heads: number, bit: BitLinearOptions, rng: Rng, outStd?: number) {
    super();
    this.q = this.child('q', new BitLinear(dim, dim, bit, rng));
    this.k = this.child('k', new BitLinear(dim, dim, bit, rng));
    this.v = this.child('v', new BitLinear(dim, dim, bit, rng));
    this.o = this.child('o', new BitLinear(dim, dim, bit, rng, outStd));
  }
  /** x (B, T, dim) -> (B, T, dim) */
  forward(x: Tensor): Tensor {
    const [B, T, d] = x.shape, H = this.heads, hd = d / H;
    const h = this.q.normInput(x); // q, k and v share their input, and so its norm
    const perHead = (t: Tensor): Tensor => ops.swapAxes12(ops.reshape(t, [B, T, H, hd])); // (B, H, T, hd)
    const q = ops.eluPlusOne(perHead(this.q.project(h)));
    const k = ops.eluPlusOne(perHead(this.k.project(h)));
    const out = ops.causalLinearAttention(q, k, perHead(this.v.project(h)));
    return this.o.forward(ops.reshape(ops.swapAxes12(out), [B, T, d]));
  }
}

/**
 * The sinusoidal encoding of position `pos` into out[0..dim): out[2i] = sin(pos / 10000^(2i/dim)),
 * out[2i+1] = cos(same). Any position has one, so an engine runs past the trained context; training
 * and the engine both build their values here, so they agree to the bit.
 */
export function sinusoidalEncoding(pos: number, dim: number, out: Float32Array, offset = 0): void {
  for (let i = 0; i < dim; i += 2) {
    const angle = pos * Math.pow(10000, -i / dim);
    out[offset + i] = Math.sin(angle);
    if (i + 1 < dim) out[offset + i + 1] = Math.cos(angle);
  }
}

/**
 * The encodings of positions 0..T-1, (1, T * dim): a row that ops.add broadcasts over a batch
 * viewed as (B, T * dim). Built once per (T, dim) and runtime.
 */
export function sinusoidalTable(T: number, dim: number): Tensor {
  return cachedConstant(`sinusoidal ${T},${dim}`, () => {
    const table = new Float32Array(T * dim);
    for (let t = 0; t < T; t++) sinusoidalEncoding(t, dim, table, t * dim);
    return Tensor.from(table, [1, T * dim]);
  });
}
