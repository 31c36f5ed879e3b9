// Causal linear attention, its row normalisation, the causal mean and the elu + 1 feature map
// against float64 loops and finite differences; row lengths on and off the 4-float SIMD grid.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, param, randn } from '../helpers.js';

const eluPlusOne = (x: number): number => (x > 0 ? x + 1 : Math.exp(x));

/** out_i = φ(q_i)ᵀ S_i / φ(q_i)ᵀ z_i with running S and z, per (batch, head), float64; q, k already φ'd. */
function linearAttentionReference(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, BH: number, T: number, hd: number): Float64Array {
  const out = new Float64Array(BH * T * hd);
  for (let b = 0; b < BH; b++) {
    const S = new Float64Array(hd * hd), z = new Float64Array(hd);
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * hd;
      for (let i = 0; i < hd; i++) {
        z[i] += k[row + i];
        for (let j = 0; j < hd; j++) S[i * hd + j] += k[row + i] * v[row + j];
      }
      let den = 0;
      for (let i = 0; i < hd; i++) den += q[row + i] * z[i];
      for (let j = 0; j < hd; j++) {
        let num = 0;
        for (let i = 0; i < hd; i++) num += q[row + i] * S[i * hd + j];
        out[row + j] = num / den;
      }
    }
  }
  return out;
}

/** Positive features: elu + 1 of normals. */
function features(shape: number[], rng: Rng): Tensor {
  const t = randn(shape, rng);
  const v = t.f32();
  for (let i = 0; i < v.length; i++) v[i] = eluPlusOne(v[i]);
  return t;
}

describe('linear attention ops', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('eluPlusOne matches x + 1 above 0 and e^x below', () => {
    const x = randn([3, 11], new Rng(1), 2);
    scope(() => assertClose(ops.eluPlusOne(x).toArray(), Array.from(x.f32(), eluPlusOne), 1e-6, 'y'));
  });

  for (const [T, hd] of [[1, 4], [7, 5], [13, 8], [33, 16]]) {
    it(`causal linear attention matches running sums S and z in float64: T ${T}, head size ${hd}`, () => {
      const rng = new Rng(T * 100 + hd);
      const shape = [2, 3, T, hd];
      const q = features(shape, rng), k = features(shape, rng), v = randn(shape, rng);
      scope(() => {
        const out = ops.causalLinearAttention(q, k, v).toArray();
        assertClose(out, linearAttentionReference(q.f32(), k.f32(), v.f32(), 6, T, hd), 1e-5, 'out');
      });
    });
  }

  it('causalNormalize: rows sum to 1 up to the diagonal, 0 above', () => {
    const a = features([2, 9, 9], new Rng(3));
    scope(() => {
      const y = ops.causalNormalize(a).toArray();
      for (let r = 0; r < 18; r++) {
        const i = r % 9;
        const row = y.slice(r * 9, r * 9 + 9);
        assert.ok(Math.abs(row.slice(0, i + 1).reduce((s, x) => s + x, 0) - 1) < 1e-6, `row ${r} sums to 1`);
        assert.deepEqual(row.slice(i + 1), new Array(8 - i).fill(0), `row ${r} is 0 above the diagonal`);
      }
    });
  });

  it('finite differences through causalNormalize (T 6 and 9)', () => {
    for (const T of [6, 9]) {
      const a = features([2, T, T], new Rng(T)), w = randn([2, T, T], new Rng(T + 1));
      gradCheck(([x]) => ops.sum(ops.mul(ops.causalNormalize(x), w)), [a], { eps: 1e-3, samples: 40 });
    }
  });

  it('finite differences through causal linear attention from raw queries and keys (elu + 1 inside)', () => {
    const rng = new Rng(21);
    const shape = [1, 2, 7, 5];
    const q = randn(shape, rng), k = randn(shape, rng), v = randn(shape, rng), w = randn(shape, new Rng(22));
    gradCheck(([a, b, c]) => ops.sum(ops.mul(ops.causalLinearAttention(ops.eluPlusOne(a), ops.eluPlusOne(b), c), w)), [q, k, v], { eps: 1e-3, samples: 30 });
  });

  it('backward adds into a gradient written first (the scores used twice)', () => {
    const values = features([1, 5, 5], new Rng(8)), w = randn([1, 5, 5], new Rng(9));
    const once = param(Tensor.from(values.f32(), [1, 5, 5])), twice = param(Tensor.from(values.f32(), [1, 5, 5]));
    scope(() => backward(ops.sum(ops.mul(ops.causalNormalize(once), w))));
    scope(() => backward(ops.sum(ops.add(ops.mul(ops.causalNormalize(twice), w), ops.mul(ops.causalNormalize(twice), w)))));
    assertClose(twice.grad!.f32(), Array.from(once.grad!.f32(), (g) => 2 * g), 1e-6, 'twice');
  });

  it('causalMean is the running mean along T, and its gradient checks out', () => {
    const x = randn([2, 6, 5], new Rng(4));
    scope(() => {
      const y = ops.causalMean(x).toArray(), xs = x.f32();
      const expected = new Float64Array(60);
      for (let b = 0; b < 2; b++) for (let c = 0; c < 5; c++) {
        let s = 0;
        for (let t = 0; t < 6; t++) {
          s += xs[(b * 6 + t) * 5 + c];
          expected[(b * 6 + t) * 5 + c] = s / (t + 1);
        }
      }
      assertClose(y, expected, 1e-6, 'mean');
    });
    const w = randn([2, 6, 5], new Rng(5));
    gradCheck(([t]) => ops.sum(ops.mul(ops.causalMean(t), w)), [x]);
  });
});
