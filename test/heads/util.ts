// Shared checks of any Head: its log-probabilities are a distribution, its loss agrees with
// them, and a few optimizer steps on fixed hidden states lower the loss.
import assert from 'node:assert/strict';
import { backward, noGrad, zeroGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import type { Head } from '../../src/heads/head.js';
import { SGD } from '../../src/train/optim.js';

/** Random targets in [0, V), with every `ignoreEvery`-th row ignored (-1). */
export function randomTargets(M: number, V: number, rng: Rng, ignoreEvery = 0): Tensor {
  const t = new Int32Array(M);
  for (let i = 0; i < M; i++) t[i] = ignoreEvery > 0 && i % ignoreEvery === ignoreEvery - 1 ? -1 : rng.int(V);
  return Tensor.from(t, [M], 'i32');
}

/** Targets drawn from a skewed (Zipf-like) distribution, so frequent tokens dominate. */
export function zipfTargets(M: number, V: number, rng: Rng): Int32Array {
  const w = Array.from({ length: V }, (_, i) => 1 / (i + 1));
  const total = w.reduce((a, b) => a + b, 0);
  const out = new Int32Array(M);
  for (let i = 0; i < M; i++) {
    let u = rng.next() * total, k = 0;
    while (k < V - 1 && u >= w[k]) u -= w[k++];
    out[i] = k;
  }
  return out;
}

export function assertRowsSumToOne(head: Head, h: Tensor, V: number): void {
  scope(() => {
    const lp = head.logProbs(h);
    assert.deepEqual([...lp.shape], [h.size / h.shape[h.shape.length - 1], V]);
    const v = lp.f32();
    for (let r = 0; r < lp.shape[0]; r++) {
      let s = 0;
      for (let k = 0; k < V; k++) {
        assert.ok(v[r * V + k] <= 1e-6, `row ${r} token ${k}: log-probability ${v[r * V + k]} > 0`);
        s += Math.exp(v[r * V + k]);
      }
      assert.ok(Math.abs(s - 1) < 1e-4, `row ${r}: probabilities sum to ${s}`);
    }
  });
}

export function assertLossMatchesLogProbs(head: Head, h: Tensor, targets: Tensor, V: number): void {
  scope(() => {
    const loss = noGrad(() => head.loss(h, targets)).item();
    const lp = head.logProbs(h).f32();
    const t = targets.typed();
    let s = 0, n = 0;
    for (let r = 0; r < t.length; r++) {
      if (t[r] < 0) continue;
      s -= lp[r * V + t[r]];
      n++;
    }
    assert.ok(n > 0 && Math.abs(loss - s / n) < 1e-4 * (1 + Math.abs(loss)), `loss ${loss} but mean -logProbs[target] = ${s / n}`);
  });
}

/** Loss before and after `steps` of plain SGD on the head's parameters, with h fixed. */
export function trainHead(head: Head, h: Tensor, targets: Tensor, steps: number, lr: number): [number, number] {
  const params = head.namedParameters();
  const opt = new SGD(params);
  const lossNow = (): number => noGrad(() => scope(() => head.loss(h, targets).item()));
  const first = lossNow();
  for (let s = 0; s < steps; s++) {
    zeroGrad(params.map((p) => p.tensor));
    scope(() => backward(head.loss(h, targets)));
    opt.step(lr);
  }
  return [first, lossNow()];
}
