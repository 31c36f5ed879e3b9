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

  // Edges of every backend's blocking (wasm: 4 x 8 blocks, depth 512, 64 rows; native: 12 or 6 or
  // 4 rows x 32 columns, depth 512, 240 rows): 1 row or column, sizes not multiples of a block,
  // depth past one block (600, 530), more rows per thread than one row block (517 rows split over
  // 2 threads), and products split over panels on both threads (40 x 1000; native also 300 x 100,
  // more rows than a row block) or on one (7 x 300).
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 9, 5], [3, 1, 7], [5, 7, 3], [13, 17, 19], [33, 9, 70], [64, 65, 600], [130, 40, 33], [7, 300, 11],
    [517, 45, 530], [40, 1000, 300], [300, 100, 50], [25, 33, 16],
  ];
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

  it('gemmStrided reads any element strides and writes only N columns of each C row', () => {
    // A(i,k) at i*(2K+1) + 2k, B(k,j) at 3k + j*(3K+2): no unit stride, so every packing path
    // takes its general case; C rows are ldc = N + 3 apart and the 3 extra columns stay as they
    // were (N = 57 and 20: a last native panel wider and narrower than 16 columns).
    for (const [M, N, Kd] of [[1, 1, 1], [19, 57, 23], [70, 130, 45], [30, 20, 9]]) {
      const sai = 2 * Kd + 1, sak = 2, sbk = 3, sbj = 3 * Kd + 2, ldc = N + 3;
      const rng = new Rng(M + N + Kd);
      const A = randArray(M * sai, rng), B = randArray(N * sbj, rng), C0 = randArray(M * ldc, rng);
      for (const acc of [false, true]) {
        const a = Tensor.from(A), b = Tensor.from(B), c = Tensor.from(C0);
        K.gemmStrided(M, N, Kd, a.ptr, sai, sak, b.ptr, sbk, sbj, c.ptr, ldc, acc);
        const ref = Float64Array.from(C0);
        for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
          let s = acc ? C0[i * ldc + j] : 0;
          for (let k = 0; k < Kd; k++) s += A[i * sai + k * sak] * B[k * sbk + j * sbj];
          ref[i * ldc + j] = s;
        }
        assertClose(c.f32(), ref, 1e-4, `M=${M} N=${N} K=${Kd} accumulate=${acc}`);
        a.dispose(); b.dispose(); c.dispose();
      }
    }
  });

  // Rows not a multiple of the 4-row blocks, K with a tail past every vector width (and 4001 rows,
  // enough to split over both threads), a leading dimension wider than K.
  for (const [N, Kd, ld] of [[37, 45, 50], [5, 3, 3], [1, 1, 2], [9, 300, 301], [4001, 77, 80]]) {
    it(`matvec N=${N} K=${Kd} ldw=${ld} matches the reference, then accumulates`, () => {
      const rng = new Rng(N + Kd);
      const W = randArray(N * ld, rng), x = randArray(Kd, rng);
      const w = Tensor.from(W), xt = Tensor.from(x), y = Tensor.zeros([N]);
      K.matvec(N, Kd, w.ptr, ld, xt.ptr, y.ptr, false);
      const ref = new Float64Array(N);
      for (let n = 0; n < N; n++) for (let k = 0; k < Kd; k++) ref[n] += W[n * ld + k] * x[k];
      assertClose(y.f32(), ref, 1e-5);
      K.matvec(N, Kd, w.ptr, ld, xt.ptr, y.ptr, true);
      assertClose(y.f32(), ref.map((v) => 2 * v), 1e-5);
      w.dispose(); xt.dispose(); y.dispose();
    });
  }

  it('runs on the pool it was given', () => {
    assert.equal(rt().threads, 2);
    assert.ok(rt().build === 'relaxed' || rt().build === 'baseline');
  });
});
