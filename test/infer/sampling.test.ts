import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Sampler } from '../../src/heads/sampling.js';

function randomLogits(n: number, rng: Rng, scale = 3): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Logits whose softmax is exactly `probs` (up to rounding). */
const logitsOf = (probs: number[]): Float32Array => Float32Array.from(probs, Math.log);

describe('Sampler', () => {
  it('temperature 0 is argmax, the lower id winning ties', () => {
    const s = new Sampler(5, { temperature: 0 });
    assert.equal(s.sample([0, 3, 1, 3, 2]), 1);
    assert.equal(s.sample([-5, -4, -4.5, -9, -4]), 1);
    assert.deepEqual(s.distribution([0, 1, 9, 2, 3]), { ids: [2], probs: [1] });
  });

  it('top-k = 1 picks exactly the greedy token at any temperature', () => {
    const rng = new Rng(3);
    const topk1 = new Sampler(300, { temperature: 1.7, topK: 1, seed: 5 });
    for (let trial = 0; trial < 200; trial++) {
      const logits = randomLogits(300, rng);
      if (trial % 10 === 0) logits[rng.int(300)] = logits[argmax(logits)]; // a tie now and then
      assert.equal(topk1.sample(logits), argmax(logits));
    }
  });

  it('top-k keeps the k most likely tokens, renormalised', () => {
    const s = new Sampler(6, { topK: 3, seed: 1 });
    const d = s.distribution(logitsOf([0.1, 0.3, 0.05, 0.25, 0.2, 0.1]));
    assert.deepEqual(d.ids, [1, 3, 4]);
    const total = 0.3 + 0.25 + 0.2;
    d.probs.forEach((p, i) => assert.ok(Math.abs(p - [0.3, 0.25, 0.2][i] / total) < 1e-6));
  });

  it('top-p keeps the smallest set whose probability reaches p', () => {
    const logits = logitsOf([0.15, 0.5, 0.05, 0.3]);
    const kept = (p: number): number[] => new Sampler(4, { topP: p }).distribution(logits).ids;
    assert.deepEqual(kept(0.4), [1]);
    assert.deepEqual(kept(0.7), [1, 3]);
    assert.deepEqual(kept(0.85), [1, 3, 0]);
    assert.deepEqual(kept(0.97), [1, 3, 0, 2]);
    assert.deepEqual(kept(1), [1, 3, 0, 2]);
    // p below 1/n: the pre-filter must still keep the most likely token.
    assert.deepEqual(new Sampler(2, { topP: 0.3 }).distribution([0, 0.1]).ids, [1]);
  });

  it('top-p over a large vocabulary matches a brute-force nucleus (the pre-filter loses nothing)', () => {
    const rng = new Rng(11);
    for (const p of [0.5, 0.9, 0.99]) {
      const logits = randomLogits(2000, rng, 2.5);
      const mx = Math.max(...logits);
      const e = Array.from(logits, (v) => Math.exp(v - mx));
      const z = e.reduce((a, b) => a + b, 0);
      const order = e.map((_, i) => i).sort((a, b) => e[b] - e[a] || a - b);
      const want: number[] = [];
      let cum = 0;
      for (const i of order) {
        want.push(i);
        cum += e[i] / z;
        if (cum >= p) break;
      }
      assert.deepEqual(new Sampler(2000, { topP: p }).distribution(logits).ids, want, `p=${p}`);
    }
  });

  it('applies top-p to what top-k kept', () => {
    const logits = logitsOf([0.4, 0.3, 0.2, 0.1]);
    // top-2 renormalises to 4/7, 3/7: p = 0.5 then needs only the first.
    assert.deepEqual(new Sampler(4, { topK: 2, topP: 0.5 }).distribution(logits).ids, [0]);
    assert.deepEqual(new Sampler(4, { topK: 2, topP: 0.6 }).distribution(logits).ids, [0, 1]);
  });

  it('repetition penalty divides positive and multiplies negative logits of recent tokens, once each', () => {
    const s = new Sampler(4, { temperature: 0, repetitionPenalty: 2, repetitionWindow: 3 });
    // token 0 (logit 3) seen -> 1.5 < token 1's 2: greedy moves to 1.
    assert.equal(s.sample([3, 2, 0, -1], [0]), 1);
    // seen three times, still penalised once: 3 / 2 = 1.5 > 1.4.
    assert.equal(s.sample([3, 1.4, 0, -1], [0, 0, 0]), 0);
    // negative logits get more negative: token 3 (-1 -> -2) drops below token 2 (-1.5).
    assert.equal(s.sample([-9, -9, -1.5, -1], [3]), 2);
    // outside the window (last 3 tokens) token 0 is not penalised.
    assert.equal(s.sample([3, 2, 0, -1], [0, 2, 2, 2]), 0);
  });

  it('the same seed gives the same draws; another seed other draws', () => {
    const rng = new Rng(1);
    const rows = Array.from({ length: 100 }, () => randomLogits(50, rng, 1));
    const draw = (seed: number): number[] => {
      const s = new Sampler(50, { temperature: 1, topP: 0.95, seed });
      return rows.map((r) => s.sample(r));
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  it('draws with the frequencies of the distribution', () => {
    const probs = [0.5, 0.25, 0.15, 0.1];
    const s = new Sampler(4, { temperature: 1, seed: 9 });
    const counts = [0, 0, 0, 0];
    const n = 40000;
    for (let i = 0; i < n; i++) counts[s.sample(logitsOf(probs))]++;
    counts.forEach((c, i) => assert.ok(Math.abs(c / n - probs[i]) < 0.01, `token ${i}: ${c / n} vs ${probs[i]}`));
    // Temperature 0.5 squares the odds: 0.5^2 : 0.25^2 ... renormalised.
    const sharp = new Sampler(4, { temperature: 0.5 }).distribution(logitsOf(probs));
    const z = probs.reduce((a, p) => a + p * p, 0);
    sharp.probs.forEach((p, i) => assert.ok(Math.abs(p - probs[sharp.ids[i]] ** 2 / z) < 1e-6));
  });

  it('only ids below n are candidates (a model vocabulary padded beyond the tokenizer)', () => {
    const s = new Sampler(3, { temperature: 0 });
    assert.equal(s.sample([0, 1, 2, 99, 100]), 2);
    assert.throws(() => s.sample([1, 2]), /2 logits for 3/);
  });

  it('rejects bad options', () => {
    assert.throws(() => new Sampler(4, { temperature: -1 }), /temperature/);
    assert.throws(() => new Sampler(4, { topP: 0 }), /top-p/);
    assert.throws(() => new Sampler(4, { topP: 1.5 }), /top-p/);
    assert.throws(() => new Sampler(4, { topK: 2.5 }), /top-k/);
    assert.throws(() => new Sampler(4, { repetitionPenalty: 0 }), /repetition penalty/);
  });
});
