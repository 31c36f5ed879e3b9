// The multi-label binary cross-entropy of future-set prediction against a float64 reference that
// builds the 0/1 target matrix, with repeated ids in a window (a set: they count once), padding
// (negative ids), and its logit gradient by finite differences.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import * as ops from '../../src/ops/index.js';
import { assertClose, gradCheck, param, randn } from '../helpers.js';

/** Mean BCE-with-logits (pos_weight on the positive term) and its gradient, in float64. */
function reference(z: ArrayLike<number>, labels: ArrayLike<number>, N: number, V: number, L: number, pw: number) {
  const y = new Float64Array(N * V);
  for (let r = 0; r < N; r++) for (let j = 0; j < L; j++) if (labels[r * L + j] >= 0) y[r * V + labels[r * L + j]] = 1;
  let loss = 0;
  const dz = new Float64Array(N * V);
  for (let i = 0; i < N * V; i++) {
    const s = 1 / (1 + Math.exp(-z[i]));
    loss += -(pw * y[i] * Math.log(s) + (1 - y[i]) * Math.log(1 - s));
    dz[i] = (pw * y[i] * (s - 1) + (1 - y[i]) * s) / (N * V);
  }
  return { loss: loss / (N * V), dz };
}

describe('multilabelBce', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('matches float64 with repeated ids and padding in the windows', () => {
    const N = 5, V = 37, L = 6, pw = 50;
    const rng = new Rng(1);
    const z = param(randn([N, V], rng, 3));
    // Row 0 repeats id 3 four times; row 1 is all padding; row 4 repeats 36 (the last id).
    const ids = [3, 3, 7, 3, 3, 0, -1, -1, -1, -1, -1, -1, 1, 2, 3, 4, 5, 6, 9, 9, 9, 9, 9, 9, 36, 0, 36, -1, 12, 36];
    const labels = Tensor.from(Int32Array.from(ids), [N, L], 'i32');
    let loss = 0;
    scope(() => {
      const l = ops.multilabelBce(z, labels, pw);
      loss = l.item();
      backward(l);
    });
    const ref = reference(z.f32(), ids, N, V, L, pw);
    assertClose([loss], [ref.loss], 1e-5, 'loss');
    assertClose(z.grad!.f32(), ref.dz, 1e-6, 'dz');
  });

  it('a repeated id counts once: [a, a] and [a] give the same loss', () => {
    const z = randn([1, 11], new Rng(2));
    const once = ops.multilabelBce(z, Tensor.from(Int32Array.from([4, -1]), [1, 2], 'i32'), 50).item();
    const twice = ops.multilabelBce(z, Tensor.from(Int32Array.from([4, 4]), [1, 2], 'i32'), 50).item();
    assert.equal(twice, once);
  });

  it('gradient by finite differences', () => {
    const rng = new Rng(3);
    const labels = Tensor.from(Int32Array.from([1, 1, 5, 0, 2, 2, 6, -1, 3]), [3, 3], 'i32');
    gradCheck(([a]) => ops.scale(ops.multilabelBce(a, labels, 7), 20), [randn([3, 8], rng)], { eps: 1e-2 });
  });

  it('rejects labels outside the vocabulary and a wrong label shape', () => {
    const z = Tensor.zeros([2, 4]);
    assert.throws(() => ops.multilabelBce(z, Tensor.from(Int32Array.from([1, 4]), [2, 1], 'i32'), 1), /label 4 is outside the vocabulary \(0\.\.3\)/);
    assert.throws(() => ops.multilabelBce(z, Tensor.from(Int32Array.from([1, 2, 3]), [3, 1], 'i32'), 1), /labels must be int32 \(2, L\)/);
  });
});
