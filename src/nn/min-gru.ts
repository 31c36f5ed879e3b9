// minGRU (Feng et al., "Were RNNs All We Needed?", arXiv 2410.01201): the gate and the candidate
// read the input only, never h_{t-1}, so the hidden state is an element-wise linear recurrence that
// one kernel (ops.gatedRecurrence) runs over whole sequences, in parallel over batch and channels.
//
//   f_t = σ(F x_t)           keep gate (1 − z_t of the GRU's update gate z)
//   c_t = tanh(C x_t)        candidate, bounded as the GRU's
//   h_t = f_t ⊙ h_{t-1} + (1 − f_t) ⊙ c_t,   h_{-1} = 0
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import * as ops from '../ops/index.js';
import { BitLinear, type BitLinearOptions } from './layers.js';
import { Module } from './module.js';

export class MinGRU extends Module {
  readonly f: BitLinear;
  readonly c: BitLinear;
  constructor(readonly inFeatures: number, readonly width: number, bit: BitLinearOptions, rng: Rng) {
    super();
    this.f = this.child('f', new BitLinear(inFeatures, width, bit, rng));
    this.c = this.child('c', new BitLinear(inFeatures, width, bit, rng));
  }
  /** x (B, T, inFeatures) -> hidden states (B, T, width) */
  forward(x: Tensor): Tensor {
    const h = this.f.normInput(x); // f and c share their input, and so its norm
    return ops.gatedRecurrence(ops.sigmoid(this.f.project(h)), ops.tanh(this.c.project(h)));
  }
}
