// Shared test helpers: random tensors, closeness checks and finite-difference gradient checks.
import assert from 'node:assert/strict';
import { backward, noGrad } from '../src/core/autograd.js';
import { Rng } from '../src/core/rng.js';
import { Tensor, scope } from '../src/core/tensor.js';

export function randn(shape: number[], rng: Rng, s = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * s;
  return Tensor.from(v, shape);
}

export function randArray(n: number, rng: Rng, s = 1): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * s;
  return v;
}

export function param(t: Tensor): Tensor {
  t.requiresGrad = true;
  t.isParam = true;
  return t;
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (error ${worst} > ${tol})`);
}

/**
 * Check the analytic gradients of loss = f(inputs) against central differences for every
 * input (or a sample of `samples` elements of each). f must build a scalar tensor.
 */
export function gradCheck(f: (inputs: Tensor[]) => Tensor, inputs: Tensor[], opts: { eps?: number; tol?: number; samples?: number; seed?: number } = {}): void {
  const eps = opts.eps ?? 1e-2;
  const tol = opts.tol ?? 2e-2;
  const rng = new Rng(opts.seed ?? 7);
  for (const t of inputs) {
    t.requiresGrad = true;
    t.isParam = true;
    t.gradValid = false;
  }
  scope(() => {
    const loss = f(inputs);
    backward(loss);
  });
  for (const [idx, t] of inputs.entries()) {
    const analytic = t.grad && t.gradValid ? Float32Array.from(t.grad.f32()) : new Float32Array(t.size);
    const n = t.size;
    const picks = opts.samples && opts.samples < n ? Array.from({ length: opts.samples }, () => rng.int(n)) : Array.from({ length: n }, (_, i) => i);
    for (const i of picks) {
      const v = t.f32();
      const orig = v[i];
      const evalAt = (x: number): number => {
        t.f32()[i] = x;
        return noGrad(() => scope(() => f(inputs).item()));
      };
      const up = evalAt(orig + eps);
      const down = evalAt(orig - eps);
      t.f32()[i] = orig;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric), Math.abs(analytic[i]));
      assert.ok(err <= tol, `input ${idx} element ${i}: analytic ${analytic[i]}, numeric ${numeric} (error ${err.toFixed(4)})`);
    }
  }
}
