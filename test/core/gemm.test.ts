import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as K from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime, rt } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { assertClose, randArray } from '../helpers.js';

function refMatmul(M: number, N: number, Kd: number, A: Float32Array, tA: boolean, B: Float32Array, tB: boolean): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < Kd; k++) s += (tA ? A[k * M + i] : A[i * Kd + k]) * (tB ? B[j * Kd + k] : B[k * N + j]);
    C[i * N + j] = s;
  }
  return C;
}

describe('f32 GEMM', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  const shapes: [number, number, number][] = [[1, 1, 1], [1, 9, 5], [3, 1, 7], [5, 7, 3], [13, 17, 19], [33, 9, 70], [64, 65, 600], [130, 40, 33], [7, 300, 11]];
  for (const [M, N, Kd] of shapes) {
    for (const tA of [false, true]) for (const tB of [false, true]) for (const acc of [false, true]) {
      it(`M=${M} N=${N} K=${Kd} transA=${tA} transB=${tB} accumulate=${acc}`, () => {
        const rng = new Rng(M * 1000 + N * 10 + Kd);
        const A = randArray(M * Kd, rng), B = randArray(Kd * N, rng), C0 = randArray(M * N, rng);
        const a = Tensor.from(A), b = Tensor.from(B), c = Tensor.from(C0);
        K.matmul(M, N, Kd, a.ptr, tA, b.ptr, tB, c.ptr, acc);
        const ref = refMatmul(M, N, Kd, A, tA, B, tB);
        if (acc) for (let i = 0; i < ref.length; i++) ref[i] += C0[i];
        assertClose(c.f32(), ref, 1e-4);
        a.dispose(); b.dispose(); c.dispose();
      });
    }
  }

  it('matvec matches the reference, with a leading dimension wider than K', () => {
    const rng = new Rng(3);
    const N = 37, Kd = 45, ld = 50;
    const W = randArray(N * ld, rng), x = randArray(Kd, rng);
    const w = Tensor.from(W), xt = Tensor.from(x), y = Tensor.zeros([N]);
    K.matvec(N, Kd, w.ptr, ld, xt.ptr, y.ptr, false);
    const ref = new Float64Array(N);
    for (let n = 0; n < N; n++) for (let k = 0; k < Kd; k++) ref[n] += W[n * ld + k] * x[k];
    assertClose(y.f32(), ref, 1e-5);
    // Accumulating adds the product to what y holds (every row-block and tail path: N = 4 * 9 + 1, K = 8 * 5 + 4 + 1).
    K.matvec(N, Kd, w.ptr, ld, xt.ptr, y.ptr, true);
    assertClose(y.f32(), ref.map((v) => 2 * v), 1e-5);
  });

  it('runs on the pool it was given', () => {
    assert.equal(rt().threads, 2);
    assert.ok(rt().build === 'relaxed' || rt().build === 'baseline');
  });
});
