// The softmax, log-softmax and cross-entropy kernels against plain float64 loops, on row widths
// that take the vector body and the tails (1, 7, 16, 33, 1000), rows split over both threads,
// the causal mask, rows with -inf and huge logits, and ignored targets.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { crossEntropyForward, logSoftmaxForward, softmaxBackward, softmaxForward } from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { assertClose, randArray } from '../helpers.js';

before(async () => {
  await initRuntime({ threads: 2 });
});

/** Logits with the awkward values: row 0 has a huge logit (column 1) and a -inf (column 2), row 1 (when there) is constant. */
function logitsOf(rows: number, D: number, rng: Rng): Float32Array {
  const x = randArray(rows * D, rng, 5);
  if (D > 2) {
    x[1] = 1e30;
    x[2] = -Infinity;
  }
  if (rows > 1) x.fill(3, D, 2 * D);
  return x;
}

/** Row r's log-sum-exp over its first n values, in float64. */
function logSumExp(x: ArrayLike<number>, off: number, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, x[off + i]);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[off + i] - m);
  return m + Math.log(s);
}

const SHAPES: [number, number][] = [
  // rows, width
  [3, 1],
  [5, 7],
  [4, 16],
  [9, 33],
  [70, 1000], // enough to split rows over both threads
];

describe('softmax and cross-entropy kernels', () => {
  for (const [rows, D] of SHAPES) {
    for (const causalT of [0, 3]) {
      if (causalT > D) continue;
      it(`softmax forward ${rows} x ${D}${causalT ? `, causal over ${causalT} positions` : ''}`, () => {
        const x = logitsOf(rows, D, new Rng(rows * D + causalT));
        const want = new Float64Array(rows * D);
        for (let r = 0; r < rows; r++) {
          const n = causalT > 0 ? (r % causalT) + 1 : D;
          const lse = logSumExp(x, r * D, n);
          for (let i = 0; i < n; i++) want[r * D + i] = Math.exp(x[r * D + i] - lse);
        }
        const xt = Tensor.from(x), yt = Tensor.from(randArray(rows * D, new Rng(1)));
        softmaxForward(xt.ptr, yt.ptr, rows, D, causalT);
        assertClose(yt.f32(), want, 1e-5); // float32 sums of up to 1000 terms
        xt.dispose();
        yt.dispose();
      });
    }

    for (const accumulate of [false, true]) {
      it(`softmax backward ${rows} x ${D}${accumulate ? ', accumulating' : ''}`, () => {
        const rng = new Rng(rows + D);
        const y = randArray(rows * D, rng), dy = randArray(rows * D, rng), dx0 = randArray(rows * D, rng);
        const want = new Float64Array(rows * D);
        for (let r = 0; r < rows; r++) {
          let s = 0;
          for (let i = 0; i < D; i++) s += y[r * D + i] * dy[r * D + i];
          for (let i = 0; i < D; i++) want[r * D + i] = y[r * D + i] * (dy[r * D + i] - s) + (accumulate ? dx0[r * D + i] : 0);
        }
        const yt = Tensor.from(y), dyt = Tensor.from(dy), dxt = Tensor.from(dx0);
        softmaxBackward(yt.ptr, dyt.ptr, dxt.ptr, rows, D, accumulate);
        assertClose(dxt.f32(), want, 1e-4); // float32 sums of up to 1000 products
        for (const t of [yt, dyt, dxt]) t.dispose();
      });
    }

    it(`log-softmax ${rows} x ${D}, in place`, () => {
      const x = logitsOf(rows, D, new Rng(7 * rows + D));
      const want = Float64Array.from(x, (v, i) => v - logSumExp(x, Math.floor(i / D) * D, D));
      const xt = Tensor.from(x);
      logSoftmaxForward(xt.ptr, xt.ptr, rows, D);
      const got = xt.f32();
      for (let i = 0; i < got.length; i++) {
        if (want[i] === -Infinity) assert.equal(got[i], -Infinity);
        else assertClose([got[i] / Math.max(1, Math.abs(want[i]))], [want[i] / Math.max(1, Math.abs(want[i]))], 1e-5, `element ${i}`);
      }
      xt.dispose();
    });

    for (const gradScale of [0, 0.25]) {
      it(`cross-entropy ${rows} x ${D}, ignored targets${gradScale ? ', with the gradient' : ''}`, () => {
        const rng = new Rng(11 * rows + D);
        const x = logitsOf(rows, D, rng);
        // Every third row is ignored; row 0 aims at its huge logit.
        const targets = Int32Array.from({ length: rows }, (_, r) => (r % 3 === 2 ? -1 : (r * 5 + 1) % D));
        const wantLoss = new Float64Array(rows), wantGrad = new Float64Array(rows * D);
        for (let r = 0; r < rows; r++) {
          const t = targets[r];
          if (t < 0) continue;
          const lse = logSumExp(x, r * D, D);
          wantLoss[r] = lse - x[r * D + t];
          for (let i = 0; i < D; i++) wantGrad[r * D + i] = (Math.exp(x[r * D + i] - lse) - (i === t ? 1 : 0)) * gradScale;
        }
        const xt = Tensor.from(x), tt = Tensor.from(targets, [rows], 'i32'), lt = Tensor.from(randArray(rows, rng));
        crossEntropyForward(xt.ptr, rows, D, tt.ptr, lt.ptr, gradScale);
        assertClose(lt.f32(), wantLoss, 1e-5, 'losses');
        if (gradScale !== 0) assertClose(xt.f32(), wantGrad, 1e-6, 'gradient');
        for (const t of [xt, tt, lt]) t.dispose();
      });
    }
  }
});
