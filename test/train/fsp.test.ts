// Future-set prediction: the sampled positions and their windows, the loss of the objective
// against a float64 re-implementation of the author's (gather, d × d projection, logits against
// the embedding, 0/1 targets by scatter, BCE with pos_weight), its gradients by finite
// differences, and the objective's total = CE + alpha · FSP (CE alone when alpha is 0).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { noGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { createModel } from '../../src/models/index.js';
import { MMFREE_DEFAULTS } from '../../src/models/mmfree.js';
import { FSP_DEFAULTS, FutureSetPrediction, TrainingObjective, futureWindows, type FspConfig } from '../../src/train/fsp.js';
import { assertClose, gradCheck, randn } from '../helpers.js';

/** The author's FSP in float64: rows of h (B*T, d), W (d, d), E (V, d), targets (B*T). */
function referenceFsp(h: Float32Array, W: Float32Array, E: Float32Array, targets: Int32Array, B: number, T: number, d: number, V: number, c: FspConfig): number {
  let total = 0, count = 0;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < T - c.tau; p += c.rate) {
      const row = b * T + p;
      const proj = Float64Array.from({ length: d }, (_, i) => {
        let s = 0;
        for (let j = 0; j < d; j++) s += W[i * d + j] * h[row * d + j];
        return s;
      });
      const y = new Float64Array(V);
      for (let j = 0; j < c.tau; j++) y[targets[row + j]] = 1;
      for (let v = 0; v < V; v++) {
        let z = 0;
        for (let i = 0; i < d; i++) z += proj[i] * E[v * d + i];
        const s = 1 / (1 + Math.exp(-z));
        total += -(c.posWeight * y[v] * Math.log(s) + (1 - y[v]) * Math.log(1 - s));
        count++;
      }
    }
  }
  return total / count;
}

describe('future-set prediction', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('samples p = 0, rate, … < T − tau on every batch row, with the next tau targets', () => {
    const targets = Int32Array.from({ length: 2 * 10 }, (_, i) => 100 + i);
    const { rows, labels } = futureWindows(targets, 2, 10, { tau: 3, rate: 3 });
    assert.deepEqual([...rows], [0, 3, 6, 10, 13, 16]);
    assert.deepEqual([...labels.subarray(0, 6)], [100, 101, 102, 103, 104, 105]);
    assert.deepEqual([...labels.subarray(15)], [116, 117, 118]);
    assert.equal(futureWindows(targets, 2, 10, { tau: 10, rate: 1 }).rows.length, 0);
  });

  it('equals a float64 re-implementation of the author\'s loss (repeated tokens in the windows)', () => {
    const B = 2, T = 20, d = 12, V = 17, c: FspConfig = { alpha: 0.1, tau: 6, rate: 4, posWeight: 50 };
    const rng = new Rng(1);
    const fsp = new FutureSetPrediction(d, c, rng);
    fsp.proj.weight.f32().forEach((v, i, a) => (a[i] = v * 20));
    const h = randn([B * T, d], rng), E = randn([V, d], rng, 0.5);
    // A small alphabet, so that windows repeat tokens.
    const targets = Int32Array.from({ length: B * T }, () => rng.int(5));
    const got = noGrad(() => scope(() => fsp.loss(h, Tensor.from(targets, [B * T], 'i32'), E, B, T)!.item()));
    const want = referenceFsp(h.f32(), fsp.proj.weight.f32(), E.f32(), targets, B, T, d, V, c);
    assertClose([got], [want], 1e-5, 'fsp');
  });

  it('gradients of the hidden states, the projection and the embedding by finite differences', () => {
    const B = 2, T = 9, d = 6, V = 11, c: FspConfig = { alpha: 1, tau: 3, rate: 2, posWeight: 5 };
    const rng = new Rng(2);
    const fsp = new FutureSetPrediction(d, c, rng);
    const targets = Tensor.from(Int32Array.from({ length: B * T }, () => rng.int(V)), [B * T], 'i32');
    fsp.proj.weight.f32().forEach((v, i, a) => (a[i] = v * 25));
    // The projection's own weight is one of the inputs: gradCheck perturbs it in place.
    gradCheck(([h, , E]) => fsp.loss(h, targets, E, B, T)!, [randn([B * T, d], rng), fsp.proj.weight, randn([V, d], rng)], { samples: 30 });
  });

  it('the objective is CE alone at alpha 0, and CE + alpha · FSP otherwise', () => {
    const model = createModel({ ...MMFREE_DEFAULTS, vocabSize: 30, dim: 16, layers: 1, contextLength: 16 }, new Rng(3));
    const ids = Tensor.from(Int32Array.from({ length: 2 * 16 }, (_, i) => (i * 7) % 30), [2, 16], 'i32');
    const targets = Tensor.from(Int32Array.from({ length: 2 * 16 }, (_, i) => (i * 11) % 30), [32], 'i32');
    noGrad(() => scope(() => {
      const off = new TrainingObjective(model, FSP_DEFAULTS, 1).loss(model, ids, targets);
      assert.equal(off.fsp, null);
      assert.equal(off.total.item(), model.loss(ids, targets).item());
      const on = new TrainingObjective(model, { ...FSP_DEFAULTS, alpha: 0.25, tau: 4, rate: 3 }, 1);
      assert.deepEqual(on.namedParameters().map((p) => p.name), ['fsp.proj.weight']);
      const l = on.loss(model, ids, targets);
      assert.ok(l.fsp && l.fsp.item() > 0);
      assertClose([l.total.item()], [l.ce.item() + 0.25 * l.fsp!.item()], 1e-6, 'total');
    }));
  });
});
