import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward, gradOf, zeroGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import type { NamedParam } from '../../src/nn/module.js';
import * as ops from '../../src/ops/index.js';
import { AdamW, Muon, MuonWithAdamW, NewtonSchulzScratch, SGD, clipGradNorm, newtonSchulz, type Optimizer } from '../../src/train/optim.js';
import { assertClose, param, randArray } from '../helpers.js';

function named(name: string, values: Float32Array, shape: number[], decay: boolean, matrix = shape.length === 2): NamedParam {
  const t = param(Tensor.from(values, shape));
  return { name, tensor: t, info: { decay, matrix } };
}

function setGrad(p: NamedParam, g: ArrayLike<number>): void {
  const t = p.tensor;
  if (!t.grad) t.grad = Tensor.empty(t.shape).keep();
  t.grad.f32().set(g);
  t.gradValid = true;
}

/** A A^T of a (rows x cols) row-major array. */
function gram(a: Float32Array, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < rows; j++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += a[i * cols + k] * a[j * cols + k];
    out.push(s);
  }
  return out;
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/** The quintic iteration in float64 on X (rows <= cols) or on X^T, transposed back. */
function referenceNewtonSchulz(x: Float32Array, rows: number, cols: number, steps: number): Float64Array {
  const tall = rows > cols;
  const [m, n] = tall ? [cols, rows] : [rows, cols];
  let X = Float64Array.from(tall ? transpose(x, rows, cols) : x);
  const norm = Math.hypot(...X);
  X = X.map((v) => v / (norm + 1e-7));
  for (let it = 0; it < steps; it++) {
    const A = gram(Float32Array.from(X), m, n); // m x m (in f32, like the kernels' inputs)
    const B = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += A[i * m + k] * A[k * m + j];
      B[i * m + j] = -4.775 * A[i * m + j] + 2.0315 * s;
    }
    const Y = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += B[i * m + k] * X[k * n + j];
      Y[i * n + j] = 3.4445 * X[i * n + j] + s;
    }
    X = Y;
  }
  return tall ? Float64Array.from(transpose(Float32Array.from(X), m, n)) : X;
}

/** Eigenvalues of a symmetric n x n matrix by cyclic Jacobi rotations. */
function symmetricEigenvalues(a: number[], n: number): number[] {
  const A = [...a];
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) {
      if (Math.abs(A[p * n + q]) < 1e-30) continue;
      const theta = (A[q * n + q] - A[p * n + p]) / (2 * A[p * n + q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < n; k++) { // rotate columns p, q
        const akp = A[k * n + p], akq = A[k * n + q];
        A[k * n + p] = c * akp - s * akq;
        A[k * n + q] = s * akp + c * akq;
      }
      for (let k = 0; k < n; k++) { // rotate rows p, q
        const apk = A[p * n + k], aqk = A[q * n + k];
        A[p * n + k] = c * apk - s * aqk;
        A[q * n + k] = s * apk + c * aqk;
      }
    }
  }
  return Array.from({ length: n }, (_, i) => A[i * n + i]);
}

describe('optimizers', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('AdamW matches a float64 reference for several steps (decay only where info.decay)', () => {
    const rng = new Rng(1);
    const ps = [named('w', randArray(37, rng), [37], true, false), named('b', randArray(5, rng), [5], false)];
    const opts = { beta1: 0.8, beta2: 0.9, eps: 1e-6, weightDecay: 0.3 };
    const opt = new AdamW(ps, opts);
    const ref = ps.map((p) => ({ p: Array.from(p.tensor.f32()), m: new Array(p.tensor.size).fill(0), v: new Array(p.tensor.size).fill(0) }));
    for (let step = 1; step <= 4; step++) {
      const lr = 0.01 * step;
      ps.forEach((p, i) => {
        const g = randArray(p.tensor.size, rng);
        setGrad(p, g);
        const r = ref[i], wd = p.info.decay ? opts.weightDecay : 0;
        for (let k = 0; k < g.length; k++) {
          r.m[k] = opts.beta1 * r.m[k] + (1 - opts.beta1) * g[k];
          r.v[k] = opts.beta2 * r.v[k] + (1 - opts.beta2) * g[k] * g[k];
          const mh = r.m[k] / (1 - opts.beta1 ** step), vh = r.v[k] / (1 - opts.beta2 ** step);
          r.p[k] -= lr * (mh / (Math.sqrt(vh) + opts.eps) + wd * r.p[k]);
        }
      });
      opt.step(lr);
      ps.forEach((p, i) => assertClose(p.tensor.f32(), ref[i].p, 1e-6, `${p.name} after step ${step}`));
    }
    assert.equal(opt.stepCount, 4);
  });

  it('AdamW leaves parameters without a gradient this step untouched', () => {
    const rng = new Rng(2);
    const a = named('a', randArray(8, rng), [8], true), b = named('b', randArray(8, rng), [8], true);
    const opt = new AdamW([a, b]);
    setGrad(a, randArray(8, rng));
    const before = Array.from(b.tensor.f32());
    opt.step(0.1);
    assert.deepEqual(Array.from(b.tensor.f32()), before);
    assert.deepEqual(Array.from(opt.stateTensors()[3].tensor.f32()), new Array(8).fill(0));
  });

  it('SGD is p -= lr g, and with momentum buf = mu buf + g', () => {
    const rng = new Rng(3);
    const p = named('p', randArray(9, rng), [9], false);
    const p0 = Array.from(p.tensor.f32()), g = randArray(9, rng);
    setGrad(p, g);
    new SGD([p]).step(0.5);
    assertClose(p.tensor.f32(), p0.map((x, i) => x - 0.5 * g[i]), 1e-7);
    const q = named('q', Float32Array.from(p0), [9], false);
    const opt = new SGD([q], { momentum: 0.9 });
    setGrad(q, g);
    opt.step(0.5);
    opt.step(0.5); // buf = 1.9 g after the second step
    assertClose(q.tensor.f32(), p0.map((x, i) => x - 0.5 * g[i] - 0.5 * 1.9 * g[i]), 1e-6);
  });

  it('Newton-Schulz brings every singular value near 1 (wide and tall matrices)', () => {
    const rng = new Rng(4);
    for (const [rows, cols] of [[16, 24], [24, 16], [8, 8]]) {
      const s = new NewtonSchulzScratch(rows * cols, Math.min(rows, cols));
      const x = randArray(rows * cols, rng);
      s.x[0].f32().set(x);
      const u = Float32Array.from(newtonSchulz(s, rows, cols, 5).f32().subarray(0, rows * cols));
      assertClose(u, referenceNewtonSchulz(x, rows, cols, 5), 1e-4, `${rows}x${cols} vs float64 reference`);
      // U U^T (wide) or U^T U (tall) near the identity; its eigenvalues are the squared singular values
      const side = Math.min(rows, cols);
      const g = rows <= cols ? gram(u, rows, cols) : gram(transpose(u, rows, cols), cols, rows);
      const eye = Array.from({ length: side * side }, (_, i) => (i % (side + 1) === 0 ? 1 : 0));
      const worst = Math.max(...g.map((v, i) => Math.abs(v - eye[i])));
      assert.ok(worst < 0.5, `${rows}x${cols}: max |U U^T - I| = ${worst}`);
      const sv = symmetricEigenvalues(g, side).map(Math.sqrt);
      assert.ok(Math.min(...sv) > 0.6 && Math.max(...sv) < 1.25, `${rows}x${cols}: singular values ${Math.min(...sv)}..${Math.max(...sv)}`);
      // the input itself is far from orthogonal (so the test could fail)
      const sx = symmetricEigenvalues(rows <= cols ? gram(x, rows, cols) : gram(transpose(x, rows, cols), cols, rows), side);
      assert.ok(Math.max(...sx) / Math.min(...sx) > 10);
      s.dispose();
    }
  });

  for (const normuon of [false, true]) {
    it(`${normuon ? 'NorMuon' : 'Muon'} minimises a least-squares regression`, () => {
      const rng = new Rng(normuon ? 6 : 5);
      const [N, Kd, M] = [6, 10, 64];
      const X = Tensor.from(randArray(M * Kd, rng), [M, Kd]);
      const Wtrue = randArray(N * Kd, rng);
      const Y = scope(() => ops.linear(X, Tensor.from(Wtrue, [N, Kd]))).keep();
      const W = named('W', new Float32Array(N * Kd), [N, Kd], true);
      const opt = new Muon([W], { normuon });
      const lossAt = (): number => scope(() => {
        const r = ops.sub(ops.linear(X, W.tensor), Y);
        const l = ops.mean(ops.mul(r, r));
        zeroGrad([W.tensor]);
        backward(l);
        return l.item();
      });
      const first = lossAt();
      let last = first;
      for (let s = 0; s < 150; s++) {
        opt.step(0.2 * (1 - s / 150));
        last = lossAt();
      }
      assert.ok(last < 0.01 * first, `loss ${first} -> ${last}`);
      const names = opt.stateTensors().map((t) => t.name);
      assert.deepEqual(names, normuon ? ['W.muon_momentum', 'W.normuon_v'] : ['W.muon_momentum']);
    });
  }

  it('NorMuon gives every row of its first update the same RMS, and keeps Muon\'s overall norm', () => {
    const rng = new Rng(10);
    const [rows, cols] = [12, 20];
    const g = randArray(rows * cols, rng);
    // scale some rows up so that plain Muon's update rows differ in size
    for (let c = 0; c < cols; c++) g[c] *= 30;
    const rowRms = (w: Float32Array): number[] =>
      Array.from({ length: rows }, (_, r) => Math.sqrt(w.subarray(r * cols, (r + 1) * cols).reduce((a, v) => a + v * v, 0) / cols));
    const updates = [false, true].map((normuon) => {
      const p = named('w', new Float32Array(rows * cols), [rows, cols], false);
      setGrad(p, g);
      new Muon([p], { normuon }).step(1);
      return Float32Array.from(p.tensor.f32());
    });
    const [muon, nor] = updates.map(rowRms);
    assert.ok(Math.max(...muon) / Math.min(...muon) > 1.2, `Muon rows ${Math.min(...muon)}..${Math.max(...muon)}`);
    assert.ok(Math.max(...nor) / Math.min(...nor) < 1.001, `NorMuon rows ${Math.min(...nor)}..${Math.max(...nor)}`);
    const fro = (w: Float32Array): number => Math.hypot(...w);
    assert.ok(Math.abs(fro(updates[1]) / fro(updates[0]) - 1) < 1e-4);
  });

  it('Muon refuses non-matrices; MuonWithAdamW routes matrices to Muon and the rest to AdamW', () => {
    const rng = new Rng(7);
    assert.throws(() => new Muon([named('g', randArray(4, rng), [4], false)]), /route it to AdamW/);
    const w = named('layer.w', randArray(12, rng), [3, 4], true);
    const e = named('emb', randArray(12, rng), [3, 4], false, false);
    const g = named('norm.g', randArray(4, rng), [4], false);
    const opt = new MuonWithAdamW([w, e, g], { muon: { normuon: true }, muonLrScale: 10 });
    assert.deepEqual(opt.stateTensors().map((t) => t.name), [
      'layer.w.muon_momentum', 'layer.w.normuon_v', 'emb.adam_m', 'emb.adam_v', 'norm.g.adam_m', 'norm.g.adam_v',
    ]);
    for (const p of [w, e, g]) setGrad(p, randArray(p.tensor.size, rng));
    const e0 = Array.from(e.tensor.f32()), eg = Array.from(e.tensor.grad!.f32());
    opt.step(0.01);
    // first AdamW step moves each element by lr * sign(g) (m_hat / sqrt(v_hat) = g / |g|)
    assertClose(e.tensor.f32(), e0.map((x, i) => x - 0.01 * Math.sign(eg[i])), 1e-5, 'emb');
    opt.stepCount = 7;
    assert.equal(opt.muon.stepCount, 7);
    assert.equal(opt.adamw.stepCount, 7);
  });

  for (const kind of ['adamw', 'normuon'] as const) {
    it(`${kind}: restoring stateTensors and stepCount resumes bit-exactly`, () => {
      const rng = new Rng(8);
      const init = randArray(20, rng), grads = [0, 1, 2, 3].map(() => randArray(20, rng));
      const make = (): [NamedParam, Optimizer] => {
        const p = named('w', Float32Array.from(init), [4, 5], true);
        return [p, kind === 'adamw' ? new AdamW([p]) : new Muon([p], { normuon: true, weightDecay: 0.1 })];
      };
      const [pa, a] = make();
      for (const g of grads) {
        setGrad(pa, g);
        a.step(0.02);
      }
      const [pb, b] = make();
      for (const g of grads.slice(0, 2)) {
        setGrad(pb, g);
        b.step(0.02);
      }
      const saved = b.stateTensors().map((s) => Float32Array.from(s.tensor.f32()));
      const savedP = Float32Array.from(pb.tensor.f32());
      const [pc, c] = make();
      pc.tensor.f32().set(savedP);
      c.stateTensors().forEach((s, i) => s.tensor.f32().set(saved[i]));
      c.stepCount = b.stepCount;
      for (const g of grads.slice(2)) {
        setGrad(pc, g);
        c.step(0.02);
      }
      assert.deepEqual(Array.from(pc.tensor.f32()), Array.from(pa.tensor.f32()));
    });
  }

  it('clipGradNorm returns the pre-clip norm and scales gradients to maxNorm', () => {
    const rng = new Rng(9);
    const a = named('a', randArray(30, rng), [30], true), b = named('b', randArray(7, rng), [7], true);
    const none = named('c', randArray(3, rng), [3], true);
    const ga = randArray(30, rng, 2), gb = randArray(7, rng, 2);
    setGrad(a, ga);
    setGrad(b, gb);
    const norm = Math.hypot(...ga, ...gb);
    assert.ok(Math.abs(clipGradNorm([a, b, none], 1) - norm) < 1e-4 * norm);
    assert.equal(gradOf(none.tensor), null);
    const after = Math.hypot(...a.tensor.grad!.f32(), ...b.tensor.grad!.f32());
    assert.ok(Math.abs(after - 1) < 1e-4, `norm after clipping ${after}`);
    assertClose(a.tensor.grad!.f32(), Array.from(ga, (x) => x / norm), 1e-5);
    // below the limit nothing changes
    const before = Array.from(a.tensor.grad!.f32());
    assert.ok(Math.abs(clipGradNorm([a.tensor, b.tensor], 5) - 1) < 1e-4);
    assert.deepEqual(Array.from(a.tensor.grad!.f32()), before);
  });
});
