// The inference kernels against direct formulas, on shapes that take the SIMD body, the scalar
// tails and (for long contexts and wide vectors) several threads.
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { attentionDecode, conv1dStep, ropeRotate, swiglu } from '../../src/core/kernels-infer.js';
import { assertClose, randArray } from '../helpers.js';

before(async () => {
  await initRuntime({ threads: 2 });
});

describe('inference kernels', () => {
  for (const hs of [2, 4, 6, 8, 16, 24, 64]) {
    it(`ropeRotate turns each pair of each head (head size ${hs})`, () => {
      const rng = new Rng(hs);
      const heads = 5;
      const x = randArray(heads * hs, rng);
      const angles = Array.from({ length: hs / 2 }, () => rng.normal() * 3);
      const table = new Float32Array(2 * hs);
      angles.forEach((a, j) => {
        table[2 * j] = table[2 * j + 1] = Math.cos(a);
        table[hs + 2 * j] = -Math.sin(a);
        table[hs + 2 * j + 1] = Math.sin(a);
      });
      const want = Float32Array.from(x);
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < hs / 2; j++) {
          const i = h * hs + 2 * j, c = Math.cos(angles[j]), s = Math.sin(angles[j]);
          want[i] = x[i] * c - x[i + 1] * s;
          want[i + 1] = x[i] * s + x[i + 1] * c;
        }
      }
      const xt = Tensor.from(x), tt = Tensor.from(table);
      ropeRotate(xt.ptr, tt.ptr, heads, hs);
      assertClose(xt.f32(), want, 1e-6);
      xt.dispose();
      tt.dispose();
    });
  }

  const cases: [number, number, number, number][] = [
    // nHeads, nKvHeads, headSize, T
    [4, 4, 8, 1],
    [8, 2, 6, 7],
    [6, 1, 10, 33],
    [4, 2, 16, 9],
    [4, 2, 24, 19],
    [2, 1, 64, 130],
    [16, 4, 8, 700], // long enough to split heads over both threads
  ];
  for (const [nHeads, nKv, hs, T] of cases) {
    it(`attentionDecode: ${nHeads} heads over ${nKv} kv heads, head size ${hs}, ${T} positions`, () => {
      const rng = new Rng(nHeads * 100 + T);
      const kvDim = nKv * hs, attStride = T + 3;
      const q = randArray(nHeads * hs, rng), k = randArray(T * kvDim, rng), v = randArray(T * kvDim, rng);
      const want = new Float64Array(nHeads * hs);
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / (nHeads / nKv));
        const s = Array.from({ length: T }, (_, t) => {
          let d = 0;
          for (let i = 0; i < hs; i++) d += q[h * hs + i] * k[t * kvDim + kvh * hs + i];
          return d / Math.sqrt(hs);
        });
        const mx = Math.max(...s);
        const e = s.map((x) => Math.exp(x - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t < T; t++) for (let i = 0; i < hs; i++) want[h * hs + i] += (e[t] / z) * v[t * kvDim + kvh * hs + i];
      }
      const qt = Tensor.from(q), kt = Tensor.from(k), vt = Tensor.from(v);
      const att = Tensor.empty([nHeads, attStride]), out = Tensor.from(randArray(nHeads * hs, rng));
      attentionDecode(qt.ptr, kt.ptr, vt.ptr, att.ptr, out.ptr, T, nHeads, nKv, hs, attStride);
      assertClose(out.f32(), want, 1e-5);
      for (const t of [qt, kt, vt, att, out]) t.dispose();
    });
  }

  const convCases: [number, number, number, boolean][] = [
    // channels, kernel width, dilation, bias
    [5, 4, 1, true],
    [37, 3, 2, false],
    [40000, 4, 1, true], // enough channels to split over both threads
  ];
  for (const [C, Kw, dil, withBias] of convCases) {
    it(`conv1dStep: ${C} channels, width ${Kw}, dilation ${dil}${withBias ? ', bias' : ''}`, () => {
      const rng = new Rng(C + Kw);
      const rows = (Kw - 1) * dil + 1;
      const window = randArray(rows * C, rng), w = randArray(Kw * C, rng), bias = randArray(C, rng);
      const want = Float64Array.from({ length: C }, (_, c) => {
        let acc = withBias ? bias[c] : 0;
        for (let i = 0; i < Kw; i++) acc += w[i * C + c] * window[(rows - 1 - (Kw - 1 - i) * dil) * C + c];
        return acc;
      });
      const wt = Tensor.from(window), kt = Tensor.from(w), bt = Tensor.from(bias), yt = Tensor.from(randArray(C, rng));
      conv1dStep(wt.ptr, kt.ptr, withBias ? bt.ptr : 0, yt.ptr, C, Kw, dil);
      assertClose(yt.f32(), want, 1e-6);
      for (const t of [wt, kt, bt, yt]) t.dispose();
    });
  }

  for (const n of [3, 172, 40001]) {
    it(`swiglu: silu(a) * b over ${n} elements, in place`, () => {
      const rng = new Rng(n);
      const a = randArray(n, rng, 4), b = randArray(n, rng);
      const want = Float64Array.from(a, (x, i) => (x / (1 + Math.exp(-x))) * b[i]);
      const at = Tensor.from(a), bt = Tensor.from(b);
      swiglu(at.ptr, bt.ptr, at.ptr, n);
      assertClose(at.f32(), want, 1e-6);
      at.dispose();
      bt.dispose();
    });
  }
});
