// Fused causal attention and RoPE against plain float64 loops, finite differences, and the
// inference engine's rope_rotate. Shapes cover one and several key blocks (T up to 130 > 64),
// padded query tiles (T not a multiple of 4), head sizes off the 8-float grid, and KV groups.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { ropeRotate } from '../../src/core/kernels-infer.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, param, randArray, randn } from '../helpers.js';

interface Shape {
  B: number; T: number; heads: number; kvHeads: number; hd: number;
}

/**
 * Causal attention in float64 loops: o, and the gradients of sum(o * dout) with respect to q, k
 * and v, from the softmax weights of every row written out in full.
 */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, dout: Float32Array, s: Shape) {
  const { B, T, heads, kvHeads, hd } = s;
  const C = heads * hd, KC = kvHeads * hd, group = heads / kvHeads, scale = 1 / Math.sqrt(hd);
  const o = new Float64Array(B * T * C), dq = new Float64Array(B * T * C);
  const dk = new Float64Array(B * T * KC), dv = new Float64Array(B * T * KC);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / group);
      const qAt = (t: number) => (b * T + t) * C + h * hd, kvAt = (t: number) => (b * T + t) * KC + g * hd;
      for (let i = 0; i < T; i++) {
        const sc = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) {
          let d = 0;
          for (let c = 0; c < hd; c++) d += q[qAt(i) + c] * k[kvAt(j) + c];
          sc[j] = d * scale;
        }
        const mx = Math.max(...sc);
        const p = sc.map((x) => Math.exp(x - mx));
        const sum = p.reduce((a, x) => a + x, 0);
        for (let j = 0; j <= i; j++) p[j] /= sum;
        for (let j = 0; j <= i; j++) for (let c = 0; c < hd; c++) o[qAt(i) + c] += p[j] * v[kvAt(j) + c];
        // dP_j = dO . v_j, dS_j = P_j (dP_j - sum_l P_l dP_l)
        const dp = new Float64Array(i + 1);
        for (let j = 0; j <= i; j++) for (let c = 0; c < hd; c++) dp[j] += dout[qAt(i) + c] * v[kvAt(j) + c];
        let D = 0;
        for (let j = 0; j <= i; j++) D += p[j] * dp[j];
        for (let j = 0; j <= i; j++) {
          const ds = p[j] * (dp[j] - D) * scale;
          for (let c = 0; c < hd; c++) {
            dq[qAt(i) + c] += ds * k[kvAt(j) + c];
            dk[kvAt(j) + c] += ds * q[qAt(i) + c];
            dv[kvAt(j) + c] += p[j] * dout[qAt(i) + c];
          }
        }
      }
    }
  }
  return { o, dq, dk, dv };
}

/** Fresh gradient-requiring inputs, the op's output and gradients of sum(o * dout). */
function runFused(s: Shape, rng: Rng) {
  const { B, T, heads, kvHeads, hd } = s;
  const q = param(randn([B, T, heads * hd], rng)), k = param(randn([B, T, kvHeads * hd], rng));
  const v = param(randn([B, T, kvHeads * hd], rng)), dout = randn([B, T, heads * hd], rng);
  let o: Float32Array = new Float32Array(0);
  scope(() => {
    const y = ops.causalAttention(q, k, v, heads, kvHeads);
    o = Float32Array.from(y.f32());
    backward(ops.sum(ops.mul(y, dout)));
  });
  return { q, k, v, dout, o };
}

/** Pair (i, i+1) of each head of each row of x (rows, heads*hd) turned by sign * t / theta^(i/hd), t = row % T. */
function rotateReference(x: ArrayLike<number>, rows: number, T: number, hd: number, theta: number, sign: number): Float64Array {
  const out = new Float64Array(x.length), C = x.length / rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c += 2) {
      const i = c % hd, angle = sign * (r % T) / Math.pow(theta, i / hd);
      const a = x[r * C + c], b = x[r * C + c + 1];
      out[r * C + c] = a * Math.cos(angle) - b * Math.sin(angle);
      out[r * C + c + 1] = a * Math.sin(angle) + b * Math.cos(angle);
    }
  }
  return out;
}

describe('causal attention (fused)', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const T of [1, 2, 7, 64, 130]) {
    for (const hd of [4, 6, 16, 24, 32, 64]) {
      for (const group of [1, 2, 4]) {
        const kvHeads = group === 4 ? 1 : 2, heads = group * kvHeads, B = (T + hd + group) % 2 === 0 ? 1 : 3;
        const s = { B, T, heads, kvHeads, hd };
        it(`matches float64 loops: B ${B}, T ${T}, hd ${hd}, ${heads} heads over ${kvHeads} kv heads`, () => {
          const rng = new Rng(T * 1000 + hd * 10 + group);
          const { q, k, v, dout, o } = runFused(s, rng);
          const ref = reference(q.f32(), k.f32(), v.f32(), dout.f32(), s);
          assertClose(o, ref.o, 2e-5, 'o');
          assertClose(q.grad!.f32(), ref.dq, 2e-5, 'dq');
          assertClose(k.grad!.f32(), ref.dk, 2e-5, 'dk');
          assertClose(v.grad!.f32(), ref.dv, 2e-5, 'dv');
          for (const t of [q, k, v, dout]) t.dispose();
        });
      }
    }
  }

  it('both batch sizes: B 1 and B 3 agree row for row', () => {
    const s = { B: 3, T: 9, heads: 4, kvHeads: 2, hd: 8 };
    const rng = new Rng(3);
    const q = randn([3, 9, 32], rng), k = randn([3, 9, 16], rng), v = randn([3, 9, 16], rng);
    scope(() => {
      const all = ops.causalAttention(q, k, v, s.heads, s.kvHeads).toArray();
      const one = ops.causalAttention(q.rows(1, 1), k.rows(1, 1), v.rows(1, 1), s.heads, s.kvHeads).toArray();
      assert.deepEqual(one, all.slice(9 * 32, 18 * 32));
    });
  });

  it('finite differences: q, k and v (grouped heads, head size off the SIMD grid)', () => {
    const rng = new Rng(11);
    const q = randn([2, 5, 4 * 6], rng), k = randn([2, 5, 2 * 6], rng), v = randn([2, 5, 2 * 6], rng);
    const w = randn([2, 5, 24], new Rng(12));
    gradCheck(([a, b, c]) => ops.sum(ops.mul(ops.causalAttention(a, b, c, 4, 2), w)), [q, k, v], { eps: 1e-2, tol: 1e-2 });
  });

  it('finite differences across key blocks (T 70, one kv head for 2 query heads)', () => {
    const rng = new Rng(13);
    const q = randn([1, 70, 2 * 4], rng), k = randn([1, 70, 4], rng), v = randn([1, 70, 4], rng);
    const w = randn([1, 70, 8], new Rng(14));
    gradCheck(([a, b, c]) => ops.sum(ops.mul(ops.causalAttention(a, b, c, 2, 1), w)), [q, k, v], { samples: 40 });
  });

  it('one tensor as q, k and v: the three gradients add up', () => {
    const s = { B: 2, T: 11, heads: 2, kvHeads: 2, hd: 8 };
    const rng = new Rng(21);
    const x = param(randn([2, 11, 16], rng)), dout = randn([2, 11, 16], rng);
    scope(() => backward(ops.sum(ops.mul(ops.causalAttention(x, x, x, 2, 2), dout))));
    const ref = reference(x.f32(), x.f32(), x.f32(), dout.f32(), s);
    assertClose(x.grad!.f32(), ref.dq.map((d, i) => d + ref.dk[i] + ref.dv[i]), 2e-5, 'dx');
  });

  it('adds into gradients other ops wrote first, and skips inputs that need none', () => {
    const s = { B: 1, T: 6, heads: 4, kvHeads: 1, hd: 4 };
    const rng = new Rng(22);
    const q = param(randn([1, 6, 16], rng)), k = param(randn([1, 6, 4], rng)), v = randn([1, 6, 4], rng);
    const dout = randn([1, 6, 16], rng), r = randn([1, 6, 16], rng);
    // q also feeds sum(q * r), recorded later, so its gradient is written before attention's.
    scope(() => backward(ops.add(ops.sum(ops.mul(ops.causalAttention(q, k, v, 4, 1), dout)), ops.sum(ops.mul(q, r)))));
    const ref = reference(q.f32(), k.f32(), v.f32(), dout.f32(), s);
    const rv = r.f32();
    assertClose(q.grad!.f32(), ref.dq.map((d, i) => d + rv[i]), 2e-5, 'dq');
    assertClose(k.grad!.f32(), ref.dk, 2e-5, 'dk');
    assert.equal(v.grad, null);
  });

  it('any subset of q, k, v may need a gradient', () => {
    const s = { B: 2, T: 13, heads: 2, kvHeads: 1, hd: 8 };
    const rng = new Rng(23);
    const [q, k, v] = [16, 8, 8].map((w) => randn([2, 13, w], rng));
    const dout = randn([2, 13, 16], rng);
    const ref = reference(q.f32(), k.f32(), v.f32(), dout.f32(), s);
    for (let mask = 1; mask < 8; mask++) {
      const inputs = [q, k, v];
      inputs.forEach((t, i) => {
        t.requiresGrad = t.isParam = (mask >> i & 1) === 1;
        t.gradValid = false;
      });
      scope(() => backward(ops.sum(ops.mul(ops.causalAttention(q, k, v, 2, 1), dout))));
      [ref.dq, ref.dk, ref.dv].forEach((want, i) => {
        if (inputs[i].requiresGrad) assertClose(inputs[i].grad!.f32(), want, 2e-5, `mask ${mask} input ${i}`);
        else assert.ok(!inputs[i].gradValid, `mask ${mask}: input ${i} got a gradient`);
      });
    }
  });

  it('rejects shapes that do not fit', () => {
    const q = Tensor.zeros([1, 4, 12]), kv = Tensor.zeros([1, 4, 6]);
    assert.throws(() => ops.causalAttention(q, kv, kv, 4, 3), /kvHeads \(3\) must divide heads \(4\)/);
    assert.throws(() => ops.causalAttention(q, kv, kv, 4, 1), /k is \[1, 4, 6\], expected \[1, 4, 3\]/);
    assert.throws(() => ops.causalAttention(q, kv, kv, 5, 1), /5 heads do not divide width 12/);
  });
});

describe('rope', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const hd of [2, 6, 8, 64]) {
    it(`equals the inference engine's rope_rotate at each position (head size ${hd})`, () => {
      const rng = new Rng(hd);
      const B = 2, T = 9, heads = 3, C = heads * hd, theta = 500;
      const x = randn([B, T, C], rng);
      scope(() => {
        const y = ops.rope(x, heads, theta).toArray();
        const table = ops.ropeTable(T, hd, theta);
        const want = Tensor.from(x.f32());
        for (let r = 0; r < B * T; r++) ropeRotate(want.ptr + r * C * 4, table.ptr + (r % T) * 2 * hd * 4, heads, hd);
        assertClose(y, want.f32(), 1e-6);
        assertClose(y, rotateReference(x.f32(), B * T, T, hd, theta, 1), 1e-5, 'angles');
      });
    });
  }

  it('backward is the inverse rotation', () => {
    const rng = new Rng(5);
    const x = param(randn([2, 13, 2 * 10], rng)), g = randn([2, 13, 20], rng);
    scope(() => backward(ops.sum(ops.mul(ops.rope(x, 2), g))));
    assertClose(x.grad!.f32(), rotateReference(g.f32(), 26, 13, 10, 10000, -1), 1e-5);
    // turning the output back recovers the input: d/dx sum(rope(x) * rope(x)_fixed) = x
    const y = ops.rope(x, 2);
    const fixed = Tensor.from(y.f32(), y.shape);
    x.gradValid = false;
    scope(() => backward(ops.sum(ops.mul(ops.rope(x, 2), fixed))));
    assertClose(x.grad!.f32(), x.f32(), 1e-5);
  });

  it('finite differences', () => {
    const rng = new Rng(6);
    const x = randn([2, 5, 3 * 6], rng), w = randn([2, 5, 18], new Rng(7));
    gradCheck(([a]) => ops.sum(ops.mul(ops.rope(a, 3, 100), w)), [x]);
  });

  it('rejects odd head sizes', () => {
    assert.throws(() => ops.rope(Tensor.from(randArray(2 * 9, new Rng(1)), [1, 2, 9]), 3), /not 3 heads of an even size/);
  });
});
