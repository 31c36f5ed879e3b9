// The last good state of a run, kept in memory: after a non-finite loss the trainer puts the
// parameters and optimizer moments back to it (the step before may already have broken them).
import type { Tensor } from '../core/tensor.js';

export class StateSnapshot {
  private values: Float32Array[];
  step: number;

  constructor(private readonly tensors: Tensor[], step: number) {
    this.values = tensors.map((t) => Float32Array.from(t.f32()));
    this.step = step;
  }

  take(step: number): void {
    this.tensors.forEach((t, i) => this.values[i].set(t.f32()));
    this.step = step;
  }

  restore(): void {
    this.tensors.forEach((t, i) => t.f32().set(this.values[i]));
  }
}
