import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as K from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime, rt, type RuntimeOptions } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { assertClose, randArray } from '../helpers.js';

/** Round half to even, as the kernels do (f32x4.nearest). */
function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function refTernarize(W: Float32Array, alpha: number): Int8Array {
  const t = new Int8Array(W.length);
  for (let i = 0; i < W.length; i++) t[i] = Math.max(-1, Math.min(1, roundEven(Math.fround(W[i] * Math.fround(1 / alpha)))));
  return t;
}

function refQuantize(x: Float32Array, M: number, Kd: number): { q: Int16Array; s: Float32Array } {
  const q = new Int16Array(M * Kd), s = new Float32Array(M);
  for (let m = 0; m < M; m++) {
    let mx = 0;
    for (let k = 0; k < Kd; k++) mx = Math.max(mx, Math.abs(x[m * Kd + k]));
    s[m] = mx > 0 ? Math.fround(mx / 127) : 1;
    const inv = Math.fround(1 / s[m]);
    for (let k = 0; k < Kd; k++) q[m * Kd + k] = roundEven(Math.fround(x[m * Kd + k] * inv));
  }
  return { q, s };
}

/**
 * Every ternary kernel against a plain reference (exact integer sums) on a runtime started with
 * `opts`: ternary.test.ts runs them on the default backend (native, or wasm relaxed SIMD), and
 * ternary-baseline.test.ts on the wasm baseline build, whose product is a different kernel.
 */
export function ternaryCases(opts: RuntimeOptions): void {
  describe(`ternary kernels (${JSON.stringify(opts)})`, () => {
    before(async () => {
      await initRuntime(opts);
      if (opts.build) assert.equal(rt().build, opts.build);
    });

    for (const [N, Kd] of [[1, 1], [3, 17], [5, 64], [9, 130], [33, 256]]) {
      it(`pack -> unpack round trip N=${N} K=${Kd}`, () => {
        const rng = new Rng(N + Kd);
        const W = randArray(N * Kd, rng);
        const alpha = 0.8;
        const Kp = K.ternaryPaddedK(Kd);
        const w = Tensor.from(W);
        const packed = Tensor.empty([N * Kp / 4], 'u8');
        K.ternaryPack(w.ptr, alpha, packed.ptr, N, Kd);
        const t = refTernarize(W, alpha);
        const f = Tensor.empty([N, Kd]);
        K.ternaryUnpackF32(packed.ptr, alpha, f.ptr, N, Kd);
        assert.deepEqual(Array.from(f.f32()), Array.from(t, (v) => Math.fround(v * alpha)));
        const codes = Tensor.empty([K.ternaryCodesBytes(N, Kp)], 'u8');
        codes.typed().fill(99);
        K.ternaryUnpackCodes(packed.ptr, codes.ptr, N, Kp);
        const got = codes.typed();
        // panels of 4 columns, each k-quad 16 bytes; codes t + 1, weight 0 past N and past K
        const Np = Math.ceil(N / 4) * 4;
        for (let n = 0; n < Np; n++) for (let k = 0; k < Kp; k++) {
          const i = (n >> 2) * 4 * Kp + (k >> 2) * 16 + (n & 3) * 4 + (k & 3);
          assert.equal(got[i], (n < N && k < Kd ? t[n * Kd + k] : 0) + 1, `n=${n} k=${k}`);
        }
        // 2 bits per weight: the packed size is exactly N * Kp / 4 bytes.
        assert.equal(packed.size, (N * Kp) / 4);
        const ternF = Tensor.empty([N, Kd]);
        K.ternarizeF32(w.ptr, alpha, ternF.ptr, N * Kd);
        assertClose(ternF.f32(), f.f32(), 0, "ternarize_f32 == unpack_f32");
        const counts = K.ternaryCounts(w.ptr, alpha, N * Kd);
        assert.deepEqual(counts, [t.filter((v) => v === -1).length, t.filter((v) => v === 0).length, t.filter((v) => v === 1).length]);
      });
    }

    // M, N not multiples of the register blocks, K not a multiple of 64, 1 row, enough rows or
    // columns to split over both threads; ldy > N with the columns past N left untouched.
    for (const [M, N, Kd] of [[1, 1, 1], [1, 7, 100], [5, 3, 64], [6, 9, 130], [37, 21, 256], [13, 70, 200], [50, 13, 320], [1, 1100, 128], [70, 65, 64]]) {
      it(`int8 x ternary matmul M=${M} N=${N} K=${Kd}`, () => {
        const rng = new Rng(M * 7 + N + Kd);
        const X = randArray(M * Kd, rng), W = randArray(N * Kd, rng);
        const alpha = Math.fround(0.7);
        const Kp = K.ternaryPaddedK(Kd);
        const x = Tensor.from(X), w = Tensor.from(W);
        const q = Tensor.empty([M, Kp], 'i16'), s = Tensor.empty([M]);
        K.quantizeRowsI8(x.ptr, M, Kd, q.ptr, Kp, s.ptr);
        const ref = refQuantize(X, M, Kd);
        assertClose(s.f32(), ref.s, 1e-7, 'scales');
        const qv = q.typed();
        for (let m = 0; m < M; m++) for (let k = 0; k < Kp; k++) assert.equal(qv[m * Kp + k], k < Kd ? ref.q[m * Kd + k] : 0);
        const packed = Tensor.empty([N * Kp / 4], 'u8');
        K.ternaryPack(w.ptr, alpha, packed.ptr, N, Kd);
        const codes = Tensor.empty([K.ternaryCodesBytes(N, Kp)], 'u8');
        K.ternaryUnpackCodes(packed.ptr, codes.ptr, N, Kp);
        const t = refTernarize(W, alpha);
        // exact integer sums; the output is f32(sum) * f32(scale * alpha), (+ y) with accumulate
        const sums = new Float64Array(M * N);
        for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let k = 0; k < Kd; k++) acc += ref.q[m * Kd + k] * t[n * Kd + k];
          sums[m * N + n] = acc;
        }
        const ldy = N + 3;
        const y0 = randArray(M * ldy, rng);
        const expect = (accumulate: boolean) => Array.from(y0, (v, i) => {
          const m = Math.floor(i / ldy), n = i % ldy;
          if (n >= N) return v;
          const p = Math.fround(Math.fround(sums[m * N + n]) * Math.fround(s.f32()[m] * alpha));
          return accumulate ? Math.fround(p + v) : p;
        });
        for (const accumulate of [false, true]) {
          const y = Tensor.from(y0);
          K.ternaryMatmulI16(q.ptr, s.ptr, codes.ptr, alpha, y.ptr, ldy, M, N, Kp, accumulate);
          assert.deepEqual(Array.from(y.f32()), expect(accumulate), `matmul accumulate=${accumulate}`);
          const y2 = Tensor.from(y0);
          K.ternaryMatvecPacked(q.ptr, s.ptr, packed.ptr, alpha, y2.ptr, ldy, M, N, Kp, accumulate);
          assert.deepEqual(Array.from(y2.f32()), expect(accumulate), `matvec from packed accumulate=${accumulate}`);
        }
        const dq = Tensor.empty([M, Kd]);
        K.dequantizeRowsI8(q.ptr, Kp, s.ptr, dq.ptr, M, Kd);
        assertClose(dq.f32(), Array.from(ref.q, (v, i) => v * ref.s[Math.floor(i / Kd)]), 1e-6, 'dequantize');
      });
    }

    // quantize_rows_i8 with a row length that is not a multiple of 64 (int8Linear, packed exports)
    for (const [M, Kd, Kp] of [[3, 13, 16], [9, 100, 100], [2, 7, 7]]) {
      it(`quantize rows M=${M} K=${Kd} Kp=${Kp}`, () => {
        const X = randArray(M * Kd, new Rng(Kd), 3);
        const x = Tensor.from(X);
        const q = Tensor.empty([M, Kp], 'i16'), s = Tensor.empty([M]);
        K.quantizeRowsI8(x.ptr, M, Kd, q.ptr, Kp, s.ptr);
        const ref = refQuantize(X, M, Kd);
        assertClose(s.f32(), ref.s, 0, 'scales');
        const qv = q.typed();
        for (let m = 0; m < M; m++) for (let k = 0; k < Kp; k++) assert.equal(qv[m * Kp + k], k < Kd ? ref.q[m * Kd + k] : 0);
      });
    }
  });
}
