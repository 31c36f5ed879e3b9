// RMSNorm and LayerNorm kernels, forward and backward, against float64 references: row widths
// that are not multiples of any vector width (and 1), one row and many (split over both
// threads), with and without weight and bias, dx and the parameter gradients written and
// accumulated. scripts/test.mjs runs them on every backend and native instruction set.
import { before, describe, it } from 'node:test';
import * as K from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { assertClose, randArray } from '../helpers.js';

const SHAPES: [number, number][] = [[1, 1], [1, 7], [3, 16], [5, 33], [2, 100], [600, 67]];
const EPS = 1e-5;

interface RowRef { y: number[]; dx: number[]; dw: number[]; db: number[]; mean: number[]; rstd: number[] }

/** RMSNorm (bias ignored) or LayerNorm of x (rows x D) and its gradients for upstream dy, in float64. */
function reference(kind: 'rms' | 'layer', x: Float32Array, w: Float32Array | null, b: Float32Array | null, dy: Float32Array, rows: number, D: number): RowRef {
  const out: RowRef = { y: [], dx: [], dw: new Array<number>(D).fill(0), db: new Array<number>(D).fill(0), mean: [], rstd: [] };
  for (let r = 0; r < rows; r++) {
    const xr = Array.from(x.subarray(r * D, r * D + D)), dyr = dy.subarray(r * D, r * D + D);
    const mu = kind === 'layer' ? xr.reduce((s, v) => s + v, 0) / D : 0;
    const rs = 1 / Math.sqrt(xr.reduce((s, v) => s + (v - mu) ** 2, 0) / D + EPS);
    out.mean.push(mu);
    out.rstd.push(rs);
    const xh = xr.map((v) => (v - mu) * rs);
    const g = Array.from(dyr, (v, i) => v * (w ? w[i] : 1));
    const mg = kind === 'layer' ? g.reduce((s, v) => s + v, 0) / D : 0;
    const mgx = g.reduce((s, v, i) => s + v * xh[i], 0) / D;
    for (let i = 0; i < D; i++) {
      out.y.push(xh[i] * (w ? w[i] : 1) + (kind === 'layer' && b ? b[i] : 0));
      out.dx.push(rs * (g[i] - mg - xh[i] * mgx));
      out.dw[i] += dyr[i] * xh[i];
      out.db[i] += dyr[i];
    }
  }
  return out;
}

describe('normalization kernels', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const [rows, D] of SHAPES) {
    for (const affine of [true, false]) {
      it(`rmsnorm ${rows} x ${D}${affine ? ' with weight' : ''}: forward, backward written and accumulated`, () => scope(() => {
        const rng = new Rng(rows * 1000 + D);
        const xv = randArray(rows * D, rng, 2), dyv = randArray(rows * D, rng), wv = affine ? randArray(D, rng) : null;
        const dx0 = randArray(rows * D, rng), dw0 = randArray(D, rng);
        const ref = reference('rms', xv, wv, null, dyv, rows, D);
        const x = Tensor.from(xv), w = wv ? Tensor.from(wv) : null, y = Tensor.zeros([rows * D]), rstd = Tensor.zeros([rows]);
        const dy = Tensor.from(dyv), dx = Tensor.from(dx0), dw = Tensor.from(dw0);
        K.rmsNormForward(x.ptr, w?.ptr ?? 0, y.ptr, rstd.ptr, rows, D, EPS);
        assertClose(y.f32(), ref.y, 1e-5, 'y');
        assertClose(rstd.f32(), ref.rstd, 1e-5, 'rstd');
        K.rmsNormBackward(x.ptr, w?.ptr ?? 0, rstd.ptr, dy.ptr, dx.ptr, w ? dw.ptr : 0, rows, D, true, true);
        assertClose(dx.f32(), ref.dx.map((v, i) => v + dx0[i]), 1e-4, 'dx accumulated');
        if (w) assertClose(dw.f32(), ref.dw.map((v, i) => v + dw0[i]), 1e-4, 'dw accumulated');
        K.rmsNormBackward(x.ptr, w?.ptr ?? 0, rstd.ptr, dy.ptr, dx.ptr, w ? dw.ptr : 0, rows, D, false, false);
        assertClose(dx.f32(), ref.dx, 1e-4, 'dx');
        if (w) assertClose(dw.f32(), ref.dw, 1e-4, 'dw');
      }));

      it(`layernorm ${rows} x ${D}${affine ? ' with weight and bias' : ''}: forward, backward written and accumulated`, () => scope(() => {
        const rng = new Rng(rows * 1000 + D + 1);
        const xv = randArray(rows * D, rng, 2).map((v) => v + 1), dyv = randArray(rows * D, rng);
        const wv = affine ? randArray(D, rng) : null, bv = affine ? randArray(D, rng) : null;
        const dx0 = randArray(rows * D, rng), dwdb0 = randArray(2 * D, rng);
        const ref = reference('layer', xv, wv, bv, dyv, rows, D);
        const x = Tensor.from(xv), w = wv ? Tensor.from(wv) : null, b = bv ? Tensor.from(bv) : null;
        const y = Tensor.zeros([rows * D]), mean = Tensor.zeros([rows]), rstd = Tensor.zeros([rows]);
        const dy = Tensor.from(dyv), dx = Tensor.from(dx0), dwdb = Tensor.from(dwdb0);
        K.layerNormForward(x.ptr, w?.ptr ?? 0, b?.ptr ?? 0, y.ptr, mean.ptr, rstd.ptr, rows, D, EPS);
        assertClose(y.f32(), ref.y, 1e-5, 'y');
        assertClose(mean.f32(), ref.mean, 1e-5, 'mean');
        assertClose(rstd.f32(), ref.rstd, 1e-4, 'rstd');
        // D = 1: xhat is 0 and rstd 1 / sqrt(eps), so dx is rounding noise times 316: compare the rest
        const tolDx = D === 1 ? 1e-2 : 1e-4;
        K.layerNormBackward(x.ptr, w?.ptr ?? 0, mean.ptr, rstd.ptr, dy.ptr, dx.ptr, affine ? dwdb.ptr : 0, rows, D, true, true);
        assertClose(dx.f32(), ref.dx.map((v, i) => v + dx0[i]), tolDx, 'dx accumulated');
        if (affine) assertClose(dwdb.f32(), [...ref.dw, ...ref.db].map((v, i) => v + dwdb0[i]), 1e-4, 'dw, db accumulated');
        K.layerNormBackward(x.ptr, w?.ptr ?? 0, mean.ptr, rstd.ptr, dy.ptr, dx.ptr, affine ? dwdb.ptr : 0, rows, D, false, false);
        assertClose(dx.f32(), ref.dx, tolDx, 'dx');
        if (affine) assertClose(dwdb.f32(), [...ref.dw, ...ref.db], 1e-4, 'dw, db');
      }));
    }
  }
});
