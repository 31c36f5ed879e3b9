// Elementwise kernels (unary forward/backward for every op, binary with and without a broadcast
// row, mul_scaled, scale, dropout, copy_rows) and the AdamW update against float64 references,
// on lengths that are not multiples of any vector width, length 1, and lengths the pool splits
// over both threads. scripts/test.mjs runs them on every backend and native instruction set.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as K from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { assertClose, randArray } from '../helpers.js';

const LENGTHS = [1, 7, 17, 100, 40001];

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const GELU_C = Math.sqrt(2 / Math.PI), GELU_A = 0.044715;

/** f(x) and f'(x) of each unary op in float64. */
const UNARY: Record<K.UnaryOp, [(x: number) => number, (x: number) => number]> = {
  relu: [(x) => Math.max(x, 0), (x) => (x > 0 ? 1 : 0)],
  relu2: [(x) => Math.max(x, 0) ** 2, (x) => 2 * Math.max(x, 0)],
  silu: [(x) => x * sigmoid(x), (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x)))],
  gelu: [
    (x) => 0.5 * x * (1 + Math.tanh(GELU_C * (x + GELU_A * x ** 3))),
    (x) => {
      const t = Math.tanh(GELU_C * (x + GELU_A * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * GELU_A * x * x);
    },
  ],
  sigmoid: [sigmoid, (x) => sigmoid(x) * (1 - sigmoid(x))],
  tanh: [Math.tanh, (x) => 1 - Math.tanh(x) ** 2],
  exp: [Math.exp, Math.exp],
  eluPlusOne: [(x) => (x > 0 ? x + 1 : Math.exp(x)), (x) => (x > 0 ? 1 : Math.exp(x))],
};

/** The dropout hash of assembly/elementwise.ts: element i is kept when mix(i * golden + seed) >= threshold. */
function kept(i: number, seed: number, threshold: number): boolean {
  let h = (Math.imul(i, 0x9e3779b9) + seed) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  return h >= threshold;
}

describe('elementwise kernels', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const op of Object.keys(UNARY) as K.UnaryOp[]) {
    it(`unary ${op}: forward, backward written and accumulated`, () => scope(() => {
      const [f, df] = UNARY[op];
      for (const n of LENGTHS) {
        const rng = new Rng(n + 1);
        const xv = randArray(n, rng, 2), dyv = randArray(n, rng), d0 = randArray(n, rng);
        const x = Tensor.from(xv), y = Tensor.zeros([n]), dy = Tensor.from(dyv), dx = Tensor.from(d0);
        K.unaryForward(op, x.ptr, y.ptr, n);
        assertClose(y.f32(), Array.from(xv, f), 1e-5, `${op} forward, n = ${n}`);
        K.unaryBackward(op, x.ptr, y.ptr, dy.ptr, dx.ptr, n, true);
        assertClose(dx.f32(), Array.from(xv, (v, i) => d0[i] + dyv[i] * df(v)), 1e-5, `${op} backward accumulated, n = ${n}`);
        K.unaryBackward(op, x.ptr, y.ptr, dy.ptr, dx.ptr, n, false);
        assertClose(dx.f32(), Array.from(xv, (v, i) => dyv[i] * df(v)), 1e-5, `${op} backward, n = ${n}`);
      }
    }));
  }

  it('unary ops on large inputs stay finite where the function is (no overflow in sigmoid, tanh, gelu)', () => scope(() => {
    const xv = Float32Array.from([-100, -30, -10, 10, 30, 100, 0]);
    for (const op of ['silu', 'gelu', 'sigmoid', 'tanh'] as const) {
      const x = Tensor.from(xv), y = Tensor.zeros([xv.length]);
      K.unaryForward(op, x.ptr, y.ptr, xv.length);
      assertClose(y.f32(), Array.from(xv, UNARY[op][0]), 1e-5, op);
    }
  }));

  for (const op of Object.keys(K.Binary) as K.BinaryOp[]) {
    it(`binary ${op}: same shape and a broadcast row of every width`, () => scope(() => {
      for (const [rows, bn] of [[1, 1], [1, 37], [3, 5], [7, 16], [9, 33], [2000, 21]]) {
        const n = rows * bn;
        const rng = new Rng(n);
        const av = randArray(n, rng);
        for (const full of [true, false]) {
          const bv = randArray(full ? n : bn, rng).map((v) => v + Math.sign(v) * 0.5);
          const a = Tensor.from(av), b = Tensor.from(bv), y = Tensor.zeros([n]);
          const w = full ? n : bn;
          K.binaryForward(op, a.ptr, b.ptr, w, y.ptr, n);
          const g = { add: (p: number, q: number) => p + q, sub: (p: number, q: number) => p - q, mul: (p: number, q: number) => p * q, div: (p: number, q: number) => p / q }[op];
          assertClose(y.f32(), Array.from(av, (v, i) => g(v, bv[i % w])), 1e-6, `${op} ${rows} x ${bn}, bn = ${w}`);
        }
      }
    }));
  }

  it('mul_scaled: broadcast row, written and accumulated', () => scope(() => {
    for (const [rows, bn] of [[1, 1], [3, 5], [7, 16], [9, 33], [2000, 21]]) {
      const n = rows * bn;
      const rng = new Rng(n + 7);
      const av = randArray(n, rng), bv = randArray(bn, rng), y0 = randArray(n, rng);
      const a = Tensor.from(av), b = Tensor.from(bv), y = Tensor.from(y0);
      K.mulScaled(a.ptr, b.ptr, bn, 0.75, y.ptr, n, true);
      assertClose(y.f32(), Array.from(av, (v, i) => y0[i] + v * bv[i % bn] * 0.75), 1e-6, `accumulated ${rows} x ${bn}`);
      K.mulScaled(a.ptr, b.ptr, bn, -2, y.ptr, n, false);
      assertClose(y.f32(), Array.from(av, (v, i) => v * bv[i % bn] * -2), 1e-6, `written ${rows} x ${bn}`);
    }
  }));

  it('scale: y = s x and y += s x', () => scope(() => {
    for (const n of LENGTHS) {
      const rng = new Rng(n + 3);
      const xv = randArray(n, rng), y0 = randArray(n, rng);
      const x = Tensor.from(xv), y = Tensor.from(y0);
      K.scale(x.ptr, 1.5, y.ptr, n, true);
      assertClose(y.f32(), Array.from(xv, (v, i) => y0[i] + 1.5 * v), 1e-6, `accumulated, n = ${n}`);
      K.scale(x.ptr, -0.25, y.ptr, n, false);
      assertClose(y.f32(), Array.from(xv, (v) => -0.25 * v), 1e-6, `written, n = ${n}`);
    }
  }));

  it('dropout: exactly the mask of the hash, scaled, written and accumulated', () => scope(() => {
    for (const n of LENGTHS) {
      for (const [p, seed] of [[0.3, 12345], [0.9, 0xfedcba98], [0, 1]]) {
        const rng = new Rng(n + seed);
        const xv = randArray(n, rng), y0 = randArray(n, rng);
        const x = Tensor.from(xv), y = Tensor.from(y0);
        const threshold = Math.min(0xffffffff, Math.round(p * 2 ** 32));
        const scale = Math.fround(1 / (1 - p));
        const want = Array.from(xv, (v, i) => (kept(i, seed, threshold) ? Math.fround(v * scale) : 0));
        K.dropout(x.ptr, y.ptr, n, p, seed, true);
        assert.deepEqual([...y.f32()], want.map((v, i) => Math.fround(y0[i] + v)), `accumulated, n = ${n}, p = ${p}`);
        K.dropout(x.ptr, y.ptr, n, p, seed, false);
        assert.deepEqual([...y.f32()], want, `written, n = ${n}, p = ${p}`);
      }
    }
  }));

  it('copy_rows: slices and transposes of the two outer axes, written and accumulated', () => scope(() => {
    for (const [n0, n1, n2] of [[1, 1, 1], [2, 3, 5], [3, 4, 17], [5, 2, 1], [40, 30, 33]]) {
      const rng = new Rng(n0 * n1 * n2);
      const srcv = randArray(n0 * n1 * n2 + 3, rng);
      // src read transposed: row (i0, i1) at i1 * n0 * n2 + i0 * n2 (+ 3 floats offset: a slice)
      const s0 = n2, s1 = n0 * n2, d0 = n1 * n2, d1 = n2;
      const dst0 = randArray(n0 * n1 * n2, rng);
      const src = Tensor.from(srcv), dst = Tensor.from(dst0);
      const ref = (acc: boolean) => {
        const out = Array.from(dst0, (v) => (acc ? v : 0));
        for (let i0 = 0; i0 < n0; i0++) for (let i1 = 0; i1 < n1; i1++) for (let k = 0; k < n2; k++) out[i0 * d0 + i1 * d1 + k] += srcv[3 + i0 * s0 + i1 * s1 + k];
        return out;
      };
      K.copyRows(src.ptr + 12, s0, s1, dst.ptr, d0, d1, n0, n1, n2, true);
      assertClose(dst.f32(), ref(true), 1e-6, `accumulated ${n0} x ${n1} x ${n2}`);
      K.copyRows(src.ptr + 12, s0, s1, dst.ptr, d0, d1, n0, n1, n2, false);
      assert.deepEqual([...dst.f32()], ref(false), `copied ${n0} x ${n1} x ${n2}`);
    }
  }));

  it('adamw_update: several steps against a float64 reference', () => scope(() => {
    for (const n of LENGTHS) {
      const rng = new Rng(n + 11);
      const pv = Array.from(randArray(n, rng)), m = new Array<number>(n).fill(0), v = new Array<number>(n).fill(0);
      const p = Tensor.from(pv), mt = Tensor.zeros([n]), vt = Tensor.zeros([n]);
      const s = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 0 };
      for (let step = 1; step <= 3; step++) {
        const gv = randArray(n, rng);
        const g = Tensor.from(gv);
        K.adamwUpdate(p.ptr, g.ptr, mt.ptr, vt.ptr, n, { ...s, step });
        const bc1 = 1 - s.beta1 ** step, bc2 = 1 - s.beta2 ** step;
        for (let i = 0; i < n; i++) {
          m[i] = s.beta1 * m[i] + (1 - s.beta1) * gv[i];
          v[i] = s.beta2 * v[i] + (1 - s.beta2) * gv[i] ** 2;
          pv[i] -= s.lr * (m[i] / bc1 / (Math.sqrt(v[i] / bc2) + s.eps) + s.weightDecay * pv[i]);
        }
      }
      assertClose(mt.f32(), m, 1e-5, `m, n = ${n}`);
      assertClose(vt.f32(), v, 1e-5, `v, n = ${n}`);
      assertClose(p.f32(), pv, 1e-5, `p, n = ${n}`);
    }
  }));
});
