// The gated linear recurrence against plain float64 loops and finite differences. Widths cover
// one channel, a scalar tail (3), one vector (4), full 16-channel blocks with a tail (37) and
// without (64); lengths 1, 2, 17 and 130.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, param, randn } from '../helpers.js';

/** Forget gates in (0, 1) (as a sigmoid gives them), shape (B, T, C). */
function gates(shape: number[], rng: Rng): Tensor {
  const t = randn(shape, rng);
  const v = t.f32();
  for (let i = 0; i < v.length; i++) v[i] = 1 / (1 + Math.exp(-v[i]));
  return t;
}

/** h, and the gradients of sum(h * g) with respect to f and c, in float64 loops. */
function reference(f: Float32Array, c: Float32Array, g: Float32Array, B: number, T: number, C: number) {
  const h = new Float64Array(B * T * C), df = new Float64Array(B * T * C), dc = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let ch = 0; ch < C; ch++) {
      const at = (t: number) => (b * T + t) * C + ch;
      let s = 0;
      for (let t = 0; t < T; t++) h[at(t)] = s = f[at(t)] * s + (1 - f[at(t)]) * c[at(t)];
      let a = 0;
      for (let t = T - 1; t >= 0; t--) {
        a = g[at(t)] + (t + 1 < T ? f[at(t + 1)] * a : 0);
        dc[at(t)] = (1 - f[at(t)]) * a;
        df[at(t)] = a * ((t > 0 ? h[at(t - 1)] : 0) - c[at(t)]);
      }
    }
  }
  return { h, df, dc };
}

/** The op's h and the gradients of sum(h * g) on random inputs of (B, T, C), against reference(). */
function checkAgainstLoops(B: number, T: number, C: number, rng: Rng): void {
  const f = param(gates([B, T, C], rng)), c = param(randn([B, T, C], rng)), g = randn([B, T, C], rng);
  let h = new Float32Array(0);
  scope(() => {
    const y = ops.gatedRecurrence(f, c);
    h = Float32Array.from(y.f32());
    backward(ops.sum(ops.mul(y, g)));
  });
  const ref = reference(f.f32(), c.f32(), g.f32(), B, T, C);
  assertClose(h, ref.h, 1e-5, 'h');
  assertClose(f.grad!.f32(), ref.df, 1e-4, 'df');
  assertClose(c.grad!.f32(), ref.dc, 1e-4, 'dc');
  for (const t of [f, c, g]) t.dispose();
}

describe('gated recurrence', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const T of [1, 2, 17, 130]) {
    for (const C of [1, 3, 4, 37, 64]) {
      const B = (T + C) % 2 === 0 ? 1 : 3;
      it(`matches float64 loops: B ${B}, T ${T}, C ${C}`, () => checkAgainstLoops(B, T, C, new Rng(T * 100 + C)));
    }
  }

  it('splits one sequence over both threads: B 1, long and wide, matches float64 loops', () => checkAgainstLoops(1, 300, 100, new Rng(5)));

  it('finite differences: f and c (gates outside (0, 1) too)', () => {
    const rng = new Rng(11);
    const f = randn([2, 9, 21], rng, 0.8), c = randn([2, 9, 21], rng), w = randn([2, 9, 21], new Rng(12));
    gradCheck(([a, b]) => ops.sum(ops.mul(ops.gatedRecurrence(a, b), w)), [f, c], { samples: 40 });
  });

  it('finite differences through a full channel block and a tail (C 20, T 6)', () => {
    const rng = new Rng(13);
    const f = gates([1, 6, 20], rng), c = randn([1, 6, 20], rng), w = randn([1, 6, 20], new Rng(14));
    gradCheck(([a, b]) => ops.sum(ops.mul(ops.gatedRecurrence(a, b), w)), [f, c], { samples: 40 });
  });

  it('adds into gradients other ops wrote first', () => {
    const rng = new Rng(22);
    const B = 2, T = 7, C = 19;
    const f = param(gates([B, T, C], rng)), c = param(randn([B, T, C], rng));
    const g = randn([B, T, C], rng), r = randn([B, T, C], rng), s = randn([B, T, C], rng);
    // f and c also feed sums recorded later, so their gradients are written before the recurrence's.
    scope(() => backward(ops.add(ops.sum(ops.mul(ops.gatedRecurrence(f, c), g)), ops.add(ops.sum(ops.mul(f, r)), ops.sum(ops.mul(c, s))))));
    const ref = reference(f.f32(), c.f32(), g.f32(), B, T, C);
    const rv = r.f32(), sv = s.f32();
    assertClose(f.grad!.f32(), ref.df.map((d, i) => d + rv[i]), 1e-4, 'df');
    assertClose(c.grad!.f32(), ref.dc.map((d, i) => d + sv[i]), 1e-4, 'dc');
  });

  it('one tensor as f and c: the two gradients add up', () => {
    const rng = new Rng(23);
    const B = 1, T = 12, C = 22;
    const x = param(gates([B, T, C], rng)), g = randn([B, T, C], rng);
    scope(() => backward(ops.sum(ops.mul(ops.gatedRecurrence(x, x), g))));
    const ref = reference(x.f32(), x.f32(), g.f32(), B, T, C);
    assertClose(x.grad!.f32(), ref.df.map((d, i) => d + ref.dc[i]), 1e-4, 'dx');
  });

  it('only f or only c may need a gradient', () => {
    const rng = new Rng(24);
    const B = 2, T = 15, C = 37;
    const f = gates([B, T, C], rng), c = randn([B, T, C], rng), g = randn([B, T, C], rng);
    const ref = reference(f.f32(), c.f32(), g.f32(), B, T, C);
    for (const mask of [1, 2, 3]) {
      const inputs = [f, c];
      inputs.forEach((t, i) => {
        t.requiresGrad = t.isParam = (mask >> i & 1) === 1;
        t.gradValid = false;
      });
      scope(() => backward(ops.sum(ops.mul(ops.gatedRecurrence(f, c), g))));
      [ref.df, ref.dc].forEach((want, i) => {
        if (inputs[i].requiresGrad) assertClose(inputs[i].grad!.f32(), want, 1e-4, `mask ${mask} input ${i}`);
        else assert.ok(!inputs[i].gradValid, `mask ${mask}: input ${i} got a gradient`);
      });
    }
  });

  it('needs no tape when neither input needs a gradient', () => {
    const rng = new Rng(25);
    const f = gates([1, 3, 5], rng), c = randn([1, 3, 5], rng);
    scope(() => {
      const h = ops.gatedRecurrence(f, c);
      assert.equal(h.requiresGrad, false);
      assertClose(h.f32(), reference(f.f32(), c.f32(), new Float32Array(15), 1, 3, 5).h, 1e-6);
    });
  });

  it('rejects shapes that do not fit', () => {
    const f = Tensor.zeros([1, 4, 6]);
    assert.throws(() => ops.gatedRecurrence(f, Tensor.zeros([1, 4, 5])), /c is \[1, 4, 5\], expected \[1, 4, 6\]/);
    assert.throws(() => ops.gatedRecurrence(Tensor.zeros([4, 6]), Tensor.zeros([4, 6])), /f must be \(B, T, C\)/);
  });
});
