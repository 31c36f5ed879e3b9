// Finite-difference gradient checks of every differentiable op.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, randn } from '../helpers.js';

/** A scalar that depends on every element of y with a fixed random weight. */
function project(y: Tensor, seed: number): Tensor {
  const r = randn([...y.shape], new Rng(seed));
  return ops.sum(ops.mul(y, r));
}

describe('op gradients (finite differences)', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });
  const rng = new Rng(42);

  it('add / sub / mul, same shape and row broadcast', () => {
    const a = randn([3, 5], rng), b = randn([3, 5], rng), c = randn([5], rng);
    gradCheck(([x, y, z]) => project(ops.add(ops.mul(x, y), ops.sub(x, z)), 1), [a, b, c]);
    gradCheck(([x, z]) => project(ops.mul(x, z), 2), [a, c]);
  });

  for (const name of ['relu', 'relu2', 'silu', 'gelu', 'sigmoid', 'tanh', 'exp', 'eluPlusOne'] as const) {
    it(`unary ${name}`, () => {
      const x = randn([4, 7], rng);
      gradCheck(([t]) => project(ops[name](t), 3), [x], { eps: 1e-3, tol: 3e-2 });
    });
  }

  it('dropout: the same seed gives the same mask forward and backward', () => {
    const x = randn([6, 37], rng);
    gradCheck(([t]) => project(ops.dropout(t, 0.3, 12345), 10), [x]);
  });

  it('dropout keeps 1 - p of a large tensor, scaled by 1 / (1 - p), whatever the thread split', () => {
    scope(() => {
      const n = 1 << 17;
      const ones = Tensor.from(new Float32Array(n).fill(1), [n]);
      const y = ops.dropout(ones, 0.25, 7).f32();
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (y[i] !== 0) {
          assert.ok(Math.abs(y[i] - 1 / 0.75) < 1e-6, `kept value ${y[i]}`);
          kept++;
        }
      }
      assert.ok(Math.abs(kept / n - 0.75) < 0.01, `kept ${kept / n}`);
      // Element i's fate depends on (i, seed) only: a slice of the input sees the same mask
      // as if computed alone, so the thread split cannot change it. 103 elements: the last
      // three go through the scalar tail here and through the vector body above.
      const small = Tensor.from(new Float32Array(103).fill(1), [103]);
      assert.deepEqual([...ops.dropout(small, 0.25, 7).f32()], [...y.subarray(0, 103)]);
      const other = ops.dropout(ones, 0.25, 8).f32();
      assert.ok(other.some((v, i) => v !== y[i]), 'another seed draws another mask');
      assert.equal(ops.dropout(ones, 0, 7), ones);
    });
  });

  it('scale, reshape, mean', () => {
    const x = randn([2, 6], rng);
    gradCheck(([t]) => ops.mean(ops.mul(ops.reshape(ops.scale(t, 1.5), [3, 4]), randn([3, 4], new Rng(9)))), [x]);
  });

  it('linear with bias (odd sizes)', () => {
    const x = randn([5, 7], rng), W = randn([3, 7], rng), b = randn([3], rng);
    gradCheck(([a, w, bb]) => project(ops.linear(a, w, bb), 4), [x, W, b]);
  });

  it('matmul with every transpose', () => {
    for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = randn(tA ? [4, 3] : [3, 4], rng), b = randn(tB ? [5, 4] : [4, 5], rng);
      gradCheck(([x, y]) => project(ops.matmul(x, y, tA, tB), 5), [a, b]);
    }
  });

  it('bmm (attention-shaped)', () => {
    const q = randn([2, 3, 4], rng), k = randn([2, 3, 4], rng);
    gradCheck(([x, y]) => project(ops.bmm(x, y, false, true), 6), [q, k]);
  });

  it('rmsNorm with and without gain', () => {
    const x = randn([3, 9], rng), w = randn([9], rng);
    gradCheck(([a, g]) => project(ops.rmsNorm(a, g), 7), [x, w]);
    gradCheck(([a]) => project(ops.rmsNorm(a, null), 8), [x]);
  });

  it('layerNorm', () => {
    const x = randn([3, 6], rng), w = randn([6], rng), b = randn([6], rng);
    gradCheck(([a, g, bb]) => project(ops.layerNorm(a, g, bb), 9), [x, w, b]);
  });

  it('softmax, plain and causal', () => {
    const x = randn([2, 5, 5], rng);
    gradCheck(([a]) => project(ops.softmax(a), 10), [x]);
    gradCheck(([a]) => project(ops.softmax(a, true), 11), [x]);
  });

  it('causal softmax masks the future exactly', () => {
    const y = ops.softmax(randn([1, 3, 3], rng), true).toArray();
    assert.equal(y[1], 0);
    assert.equal(y[2], 0);
    assert.equal(y[5], 0);
    assertClose([y[0], y[3] + y[4], y[6] + y[7] + y[8]], [1, 1, 1], 1e-6);
  });

  it('embedding (repeated ids accumulate)', () => {
    const table = randn([6, 5], rng);
    const ids = Tensor.from([1, 4, 1, 0, 5, 1], [2, 3], 'i32');
    gradCheck(([t]) => project(ops.embedding(t, ids), 12), [table]);
  });

  it('causal dilated depthwise conv1d', () => {
    for (const dil of [1, 2, 4]) {
      const x = randn([2, 7, 5], rng), w = randn([3, 5], rng), b = randn([5], rng);
      gradCheck(([a, ww, bb]) => project(ops.causalConv1d(a, ww, bb, dil), 13), [x, w, b]);
    }
  });

  it('conv1d is causal: the output at t does not depend on inputs after t', () => {
    const x = randn([1, 6, 3], rng), w = randn([3, 3], rng);
    const y1 = ops.causalConv1d(x, w, null, 2).toArray();
    x.f32()[5 * 3 + 1] += 10; // change the last time step only
    const y2 = ops.causalConv1d(x, w, null, 2).toArray();
    assert.deepEqual(y1.slice(0, 15), y2.slice(0, 15));
    assert.notDeepEqual(y1.slice(15), y2.slice(15));
  });

  it('slice and concat along inner and outer axes', () => {
    const x = randn([2, 5, 3], rng), y = randn([2, 2, 3], rng);
    gradCheck(([a]) => project(ops.slice(a, 1, 1, 3), 14), [x]);
    gradCheck(([a, b]) => project(ops.concat([a, b], 1), 15), [x, y]);
    gradCheck(([a]) => project(ops.concat([ops.slice(a, 2, 0, 1), ops.slice(a, 2, 2, 1)], 2), 16), [x]);
  });

  it('swapAxes12', () => {
    const x = randn([2, 3, 4, 2], rng);
    gradCheck(([a]) => project(ops.swapAxes12(a), 17), [x]);
  });

  it('linearCrossEntropy: value matches a plain reference, gradients match differences', () => {
    const M = 7, d = 5, V = 13;
    const h = randn([M, d], rng), W = randn([V, d], rng);
    const targets = Tensor.from([3, 0, 12, -1, 5, 5, 9], [M], 'i32');
    const loss = ops.linearCrossEntropy(h, W, targets).item();
    const hv = h.f32(), wv = W.f32(), tv = targets.typed();
    let ref = 0, n = 0;
    for (let m = 0; m < M; m++) {
      if (tv[m] < 0) continue;
      const logits = Array.from({ length: V }, (_, v) => { let s = 0; for (let k = 0; k < d; k++) s += hv[m * d + k] * wv[v * d + k]; return s; });
      const mx = Math.max(...logits);
      const lse = mx + Math.log(logits.reduce((s, l) => s + Math.exp(l - mx), 0));
      ref += lse - logits[tv[m]];
      n++;
    }
    assertClose([loss], [ref / n], 1e-5);
    // chunking: a budget of 2 rows' logits gives the same loss and gradients
    gradCheck(([a, w]) => ops.linearCrossEntropy(a, w, targets, 2 * V), [h, W]);
  });

  it('ternaryLinear forward equals the float product with ternarized weights (f32 activations)', () => {
    const x = randn([4, 10], rng), W = randn([6, 10], rng);
    const y = ops.ternaryLinear(x, W, { quantizeActivations: false }).toArray();
    const alpha = W.toArray().reduce((s, v) => s + Math.abs(v), 0) / W.size;
    const wt = W.toArray().map((v) => Math.max(-1, Math.min(1, Math.round(v / alpha))) * alpha);
    const ref = ops.matmul(x, Tensor.from(wt, [6, 10]), false, true).toArray();
    assertClose(y, ref, 1e-5);
  });

  it('ternaryLinear with 8-bit activations stays close to the float product', () => {
    const x = randn([5, 64], rng), W = randn([7, 64], rng);
    const q = ops.ternaryLinear(x, W, { quantizeActivations: true }).toArray();
    const f = ops.ternaryLinear(x, W, { quantizeActivations: false }).toArray();
    const scaleRef = Math.max(...f.map(Math.abs));
    for (let i = 0; i < q.length; i++) assert.ok(Math.abs(q[i] - f[i]) < 0.05 * scaleRef, `${q[i]} vs ${f[i]}`);
  });

  it('ternaryLinear straight-through gradients', () => {
    for (const quantizeActivations of [false, true]) {
      const x = randn([3, 8], rng), W = randn([4, 8], rng);
      W.requiresGrad = true; W.isParam = true; W.gradValid = false;
      x.requiresGrad = true; x.isParam = true; x.gradValid = false;
      const r = randn([3, 4], new Rng(5));
      scope(() => backward(ops.sum(ops.mul(ops.ternaryLinear(x, W, { quantizeActivations }), r))));
      // STE: dx = r . (alpha T), dW = r^T . x_seen
      const alpha = W.toArray().reduce((s, v) => s + Math.abs(v), 0) / W.size;
      const wt = Tensor.from(W.toArray().map((v) => Math.max(-1, Math.min(1, Math.round(v / alpha))) * alpha), [4, 8]);
      assertClose(x.grad!.f32(), ops.matmul(r, wt).toArray(), 1e-5, 'dx');
      if (!quantizeActivations) assertClose(W.grad!.f32(), ops.matmul(r, x, true, false).toArray(), 1e-5, 'dW');
      else assertClose(W.grad!.f32(), ops.matmul(r, x, true, false).toArray(), 2e-2, 'dW (quantized x)');
    }
  });
});
