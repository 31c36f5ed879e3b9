// Reduction kernels against plain-TS references on odd sizes.
import { before, describe, it } from 'node:test';
import * as K from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { assertClose, randArray } from '../helpers.js';

describe('reductions', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const n of [1, 3, 17, 1023, 70001]) {
    it(`sum, sum of squares, sum |x|, max |x| over ${n} floats`, () => {
      const v = randArray(n, new Rng(n));
      const x = Tensor.from(v);
      let sum = 0, sq = 0, abs = 0, mx = 0;
      for (const a of v) {
        sum += a;
        sq += a * a;
        abs += Math.abs(a);
        mx = Math.max(mx, Math.abs(a));
      }
      assertClose([K.reduce('sum', x.ptr, n), K.reduce('sumsq', x.ptr, n), K.reduce('sumabs', x.ptr, n), K.reduce('maxabs', x.ptr, n)], [sum, sq, abs, mx], 1e-5);
    });
  }

  for (const [rows, cols] of [[1, 1], [5, 3], [33, 17], [300, 70], [7, 133], [40, 260]]) {
    it(`column and row sums of ${rows} x ${cols}, scaled and accumulating`, () => {
      const rng = new Rng(rows * 100 + cols);
      const v = randArray(rows * cols, rng), c0 = randArray(cols, rng), r0 = randArray(rows, rng);
      const x = Tensor.from(v), cs = Tensor.from(c0), rs = Tensor.from(r0);
      K.colSum(x.ptr, rows, cols, 0.5, cs.ptr, true);
      K.rowSum(x.ptr, rows, cols, 2, rs.ptr, true);
      const colRef = Array.from(c0, (c, j) => { let s = 0; for (let r = 0; r < rows; r++) s += v[r * cols + j]; return c + 0.5 * s; });
      const rowRef = Array.from(r0, (c, r) => { let s = 0; for (let j = 0; j < cols; j++) s += v[r * cols + j]; return c + 2 * s; });
      assertClose(cs.f32(), colRef, 1e-5, 'column sums');
      assertClose(rs.f32(), rowRef, 1e-5, 'row sums');
      K.colSum(x.ptr, rows, cols, -1, cs.ptr, false);
      assertClose(cs.f32(), colRef.map((c, j) => -(c - c0[j]) / 0.5), 1e-5, 'column sums written');
    });
  }
});
