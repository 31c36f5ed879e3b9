// WeightPanels: x . W^T for one row (matrix-vector) and for several (a GEMM on W packed once)
// equals a float64 reference; the panels are made once and reused; a weight used with another
// shape is refused.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime, rt } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { WeightPanels } from '../../src/infer/weight-panels.js';

before(async () => {
  await initRuntime({ threads: 2 });
});

describe('WeightPanels', () => {
  it('gives x . W^T for 1, 3 and 37 rows, accumulating or not, with row strides', () => {
    const rng = new Rng(4);
    const N = 45, K = 70, ldx = 75, ldy = 50;
    const W = Float32Array.from({ length: N * K }, () => rng.normal());
    const w = Tensor.from(W, [N, K]);
    const panels = new WeightPanels();
    try {
      for (const rows of [1, 3, 37]) {
        for (const accumulate of [false, true]) {
          const X = Float32Array.from({ length: rows * ldx }, () => rng.normal());
          const Y0 = Float32Array.from({ length: rows * ldy }, () => rng.normal());
          const x = Tensor.from(X, [rows * ldx]), y = Tensor.from(Y0, [rows * ldy]);
          // One row is a matrix-vector product on contiguous rows; more rows take the strides.
          const xs = rows === 1 ? K : ldx, ys = rows === 1 ? N : ldy;
          panels.product(rows, N, K, w.ptr, x.ptr, xs, y.ptr, ys, accumulate);
          const got = y.f32();
          for (let i = 0; i < rows; i++) {
            for (let j = 0; j < N; j++) {
              let s = accumulate ? Y0[i * ys + j] : 0;
              for (let k = 0; k < K; k++) s += X[i * xs + k] * W[j * K + k];
              assert.ok(Math.abs(got[i * ys + j] - s) < 1e-3, `rows ${rows}, (${i}, ${j}): ${got[i * ys + j]} vs ${s}`);
            }
          }
          x.dispose();
          y.dispose();
        }
      }
      const x = Tensor.zeros([4 * K]), y = Tensor.zeros([4 * N]);
      const inUse = rt().heap.stats().inUse;
      panels.product(4, N, K, w.ptr, x.ptr, K, y.ptr, N, false);
      assert.equal(rt().heap.stats().inUse, inUse, 'the panels were made once');
      assert.throws(() => panels.product(4, N - 1, K, w.ptr, x.ptr, K, y.ptr, N, false), /packed as 45x70, now used as 44x70/);
      x.dispose();
      y.dispose();
    } finally {
      panels.dispose();
      w.dispose();
    }
  });
});
