// Causal prefix sums over time against plain float64 loops and finite differences, with channel
// counts on and off the 4-float SIMD grid and the 16-channel task blocks, B = 1 (tasks split over
// channel blocks only) and several batch rows, and T up to 256 (f32 accumulation).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, param, randn } from '../helpers.js';

/** Running sums of x (B, T, C) along T in float64, forward or from the end (reverse). */
function scanReference(x: ArrayLike<number>, B: number, T: number, C: number, reverse: boolean): Float64Array {
  const y = new Float64Array(B * T * C);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = 0; i < T; i++) {
        const t = reverse ? T - 1 - i : i, at = (b * T + t) * C + c;
        s += x[at];
        y[at] = s;
      }
    }
  }
  return y;
}

/**
 * Tolerance for running sums of T unit normals accumulated in f32: each step rounds by up to
 * 2^-24 of a partial sum of size ~sqrt(T), so the error grows with T (and cancellation can
 * leave it large next to a final sum near 0). T 256 -> 1e-4; T 17 -> 8e-6.
 */
const tolFor = (T: number): number => 1e-6 + 4e-7 * T;
const TOL = tolFor(21);

describe('cumsum', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const T of [1, 2, 17, 256]) {
    for (const C of [1, 3, 4, 37, 64]) {
      for (const B of [1, 3]) {
        it(`forward and backward match float64 loops: B ${B}, T ${T}, C ${C}`, () => {
          const rng = new Rng(T * 1000 + C * 10 + B);
          const x = param(randn([B, T, C], rng)), dy = randn([B, T, C], rng);
          let y: number[] = [];
          scope(() => {
            const out = ops.cumsum(x);
            y = out.toArray();
            backward(ops.sum(ops.mul(out, dy)));
          });
          assertClose(y, scanReference(x.f32(), B, T, C, false), tolFor(T), 'y');
          assertClose(x.grad!.f32(), scanReference(dy.f32(), B, T, C, true), tolFor(T), 'dx');
          x.dispose();
          dy.dispose();
        });
      }
    }
  }

  it('B 1 splits over channel blocks on both threads: T 256, C 203', () => {
    const rng = new Rng(9);
    const B = 1, T = 256, C = 203;
    const x = param(randn([B, T, C], rng)), dy = randn([B, T, C], rng);
    scope(() => {
      const out = ops.cumsum(x);
      assertClose(out.toArray(), scanReference(x.f32(), B, T, C, false), tolFor(T), 'y');
      backward(ops.sum(ops.mul(out, dy)));
    });
    assertClose(x.grad!.f32(), scanReference(dy.f32(), B, T, C, true), tolFor(T), 'dx');
  });

  it('batch rows are independent: B 1 and B 3 agree row for row', () => {
    const x = randn([3, 17, 37], new Rng(2));
    scope(() => {
      const all = ops.cumsum(x).toArray();
      const one = ops.cumsum(x.rows(1, 1)).toArray();
      assert.deepEqual(one, all.slice(17 * 37, 2 * 17 * 37));
    });
  });

  it('finite differences (channels off the SIMD grid and across task blocks)', () => {
    const rng = new Rng(3);
    const x = randn([2, 9, 19], rng), w = randn([2, 9, 19], new Rng(4));
    gradCheck(([a]) => ops.sum(ops.mul(ops.cumsum(a), w)), [x], { samples: 60 });
  });

  it('adds into a gradient another op wrote first', () => {
    const rng = new Rng(5);
    const B = 2, T = 21, C = 21;
    const x = param(randn([B, T, C], rng)), dy = randn([B, T, C], rng), r = randn([B, T, C], rng);
    // x also feeds sum(x * r), recorded later, so its gradient is written before cumsum's.
    scope(() => backward(ops.add(ops.sum(ops.mul(ops.cumsum(x), dy)), ops.sum(ops.mul(x, r)))));
    const rv = r.f32();
    assertClose(x.grad!.f32(), scanReference(dy.f32(), B, T, C, true).map((d, i) => d + rv[i]), TOL, 'dx');
    // the same tensor summed twice: both gradients add up
    x.gradValid = false;
    scope(() => backward(ops.sum(ops.mul(ops.add(ops.cumsum(x), ops.cumsum(x)), dy))));
    assertClose(x.grad!.f32(), scanReference(dy.f32(), B, T, C, true).map((d) => 2 * d), TOL, 'dx twice');
  });

  it('CPUFlow-style q * cumsum(k * v): gradients by finite differences', () => {
    const rng = new Rng(6);
    const shape = [2, 7, 6];
    const q = randn(shape, rng), k = randn(shape, rng), v = randn(shape, rng), w = randn(shape, new Rng(8));
    gradCheck(([a, b, c]) => ops.sum(ops.mul(ops.mul(a, ops.cumsum(ops.mul(b, c))), w)), [q, k, v]);
  });

  it('rejects inputs that are not (B, T, C)', () => {
    assert.throws(() => ops.cumsum(Tensor.zeros([4, 5])), /cumsum: x must be \(B, T, C\), got \[4, 5\]/);
  });
});
