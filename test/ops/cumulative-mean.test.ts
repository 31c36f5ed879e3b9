// The weighted running mean cumsum(w * v) / (cumsum(w) + eps) against plain float64 loops (the
// gradients by the direct double sum over (s, t), not the kernel's reverse scans) and finite
// differences, with channel counts on and off the 4-float SIMD grid and the 16-channel task
// blocks, B = 1 and several batch rows.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, param, randn } from '../helpers.js';

const EPS = 1e-3;

/** m, and the gradients dw, dv of sum(m * g), in float64 (O(T^2) per channel). */
function reference(w: ArrayLike<number>, v: ArrayLike<number>, g: ArrayLike<number>, B: number, T: number, C: number) {
  const m = new Float64Array(B * T * C), den = new Float64Array(B * T * C);
  const dw = new Float64Array(B * T * C), dv = new Float64Array(B * T * C);
  const at = (b: number, t: number, c: number): number => (b * T + t) * C + c;
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      let num = 0, sw = 0;
      for (let t = 0; t < T; t++) {
        num += w[at(b, t, c)] * v[at(b, t, c)];
        sw += w[at(b, t, c)];
        den[at(b, t, c)] = sw + EPS;
        m[at(b, t, c)] = num / den[at(b, t, c)];
      }
      // d m_t / d v_s = w_s / D_t and d m_t / d w_s = (v_s - m_t) / D_t for s <= t.
      for (let s = 0; s < T; s++) {
        for (let t = s; t < T; t++) {
          const gd = g[at(b, t, c)] / den[at(b, t, c)];
          dv[at(b, s, c)] += gd * w[at(b, s, c)];
          dw[at(b, s, c)] += gd * (v[at(b, s, c)] - m[at(b, t, c)]);
        }
      }
    }
  }
  return { m, dw, dv };
}

/** Positive weights, as sigmoid gates give. */
function weights(shape: number[], rng: Rng): Tensor {
  const t = randn(shape, rng);
  t.f32().forEach((x, i, a) => (a[i] = 1 / (1 + Math.exp(-x))));
  return t;
}

describe('cumulativeMean', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const [B, T, C] of [[1, 1, 1], [1, 17, 3], [3, 9, 4], [2, 33, 37], [1, 64, 64]]) {
    it(`forward and backward match float64 loops: B ${B}, T ${T}, C ${C}`, () => {
      const rng = new Rng(B * 1000 + T * 10 + C);
      const w = param(weights([B, T, C], rng)), v = param(randn([B, T, C], rng)), g = randn([B, T, C], rng);
      let m: number[] = [];
      scope(() => {
        const out = ops.cumulativeMean(w, v, EPS);
        m = out.toArray();
        backward(ops.sum(ops.mul(out, g)));
      });
      const ref = reference(w.f32(), v.f32(), g.f32(), B, T, C);
      assertClose(m, ref.m, 2e-5, 'm');
      assertClose(w.grad!.f32(), ref.dw, 1e-4, 'dw');
      assertClose(v.grad!.f32(), ref.dv, 1e-4, 'dv');
    });
  }

  it('finite differences (channels off the SIMD grid and across task blocks)', () => {
    const rng = new Rng(3);
    const w = weights([2, 7, 19], rng), v = randn([2, 7, 19], rng), g = randn([2, 7, 19], new Rng(4));
    gradCheck(([a, b]) => ops.sum(ops.mul(ops.cumulativeMean(a, b, EPS), g)), [w, v], { samples: 80, eps: 1e-2 });
  });

  it('CPUFlow-style q * cumulativeMean(sigmoid(k), tanh(v)): gradients by finite differences', () => {
    const rng = new Rng(6);
    const shape = [2, 6, 5];
    const q = randn(shape, rng), k = randn(shape, rng), v = randn(shape, rng), g = randn(shape, new Rng(8));
    gradCheck(([a, b, c]) => ops.sum(ops.mul(ops.mul(a, ops.cumulativeMean(ops.sigmoid(b), ops.tanh(c), EPS)), g)), [q, k, v]);
  });

  it('one tensor as both weights and values: both gradients add up', () => {
    const rng = new Rng(5);
    const x = weights([2, 11, 6], rng), g = randn([2, 11, 6], rng);
    gradCheck(([a]) => ops.sum(ops.mul(ops.cumulativeMean(a, a, EPS), g)), [x], { samples: 40 });
  });

  it('adds into a gradient another op wrote first', () => {
    const rng = new Rng(7);
    const B = 2, T = 13, C = 21;
    const w = param(weights([B, T, C], rng)), v = param(randn([B, T, C], rng)), g = randn([B, T, C], rng), r = randn([B, T, C], rng);
    // w and v also feed sum(x * r), recorded later, so their gradients are written before the mean's.
    scope(() => backward(ops.add(ops.sum(ops.mul(ops.cumulativeMean(w, v, EPS), g)), ops.sum(ops.mul(ops.add(w, v), r)))));
    const ref = reference(w.f32(), v.f32(), g.f32(), B, T, C);
    const rv = r.f32();
    assertClose(w.grad!.f32(), ref.dw.map((d, i) => d + rv[i]), 1e-4, 'dw');
    assertClose(v.grad!.f32(), ref.dv.map((d, i) => d + rv[i]), 1e-4, 'dv');
  });

  it('rejects mismatched shapes', () => {
    assert.throws(() => ops.cumulativeMean(Tensor.zeros([4, 5]), Tensor.zeros([4, 5]), EPS), /w must be \(B, T, C\)/);
    assert.throws(() => ops.cumulativeMean(Tensor.zeros([1, 4, 5]), Tensor.zeros([1, 4, 6]), EPS), /expected \[1, 4, 5\]/);
  });
});
