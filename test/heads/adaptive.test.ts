import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { noGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { AdaptiveHead, defaultCutoffs, frequencyOrder, headFromConfig } from '../../src/heads/index.js';
import { gradCheck, randn } from '../helpers.js';
import { assertLossMatchesLogProbs, assertRowsSumToOne, randomTargets, trainHead, zipfTargets } from './util.js';

function params(head: AdaptiveHead): Tensor[] {
  return head.namedParameters().map((p) => p.tensor);
}

describe('AdaptiveHead', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('default cutoffs are V/8 and V/2 rounded, and tail widths shrink by the factor', () => {
    assert.deepEqual(defaultCutoffs(11), [1, 6]);
    assert.deepEqual(defaultCutoffs(37), [5, 19]);
    assert.deepEqual(defaultCutoffs(3), [2]); // V/8 rounds to 0: one tail only
    assert.deepEqual(defaultCutoffs(50257), [6282, 25129]);
    const head = new AdaptiveHead(37, 64, new Array(37).fill(1), new Rng(1));
    assert.deepEqual([head.tailDim(0), head.tailDim(1)], [16, 4]);
    assert.deepEqual(head.namedParameters().map((p) => [p.name, ...p.tensor.shape]), [
      ['head', 5 + 2, 64], ['proj0', 16, 64], ['out0', 14, 16], ['proj1', 4, 64], ['out1', 18, 4],
    ]);
  });

  it('sorts tokens by decreasing count, ties by id', () => {
    assert.deepEqual(Array.from(frequencyOrder([3, 9, 3, 0, 9])), [1, 4, 0, 2, 3]);
  });

  for (const [V, cutoffs] of [[11, undefined], [37, undefined], [37, [3, 10, 25]]] as const) {
    it(`gradients match finite differences (V=${V}, d=8, cutoffs ${cutoffs ?? 'default'})`, () => {
      const rng = new Rng(V + (cutoffs?.length ?? 0));
      const head = new AdaptiveHead(V, 8, Array.from({ length: V }, () => rng.int(40)), rng, { cutoffs: cutoffs && [...cutoffs], factor: 2 });
      const h = randn([2, 6, 8], rng);
      // every cluster gets rows: targets cycle through all frequency ranks
      const t = new Int32Array(12);
      for (let i = 0; i < 12; i++) t[i] = i % 5 === 4 ? -1 : head.order[(i * 7) % V];
      const targets = Tensor.from(t, [12], 'i32');
      gradCheck(([x]) => head.loss(x, targets), [h, ...params(head)], { eps: 1e-2, tol: 2e-2 });
    });
  }

  it('log-probabilities are a distribution, and the loss is their mean at the targets', () => {
    const rng = new Rng(5);
    for (const [V, cutoffs] of [[2, [1]], [11, undefined], [37, [4, 9, 30]]] as const) {
      const head = new AdaptiveHead(V, 8, Array.from({ length: V }, (_, i) => (i * 5) % 7), rng, { cutoffs: cutoffs && [...cutoffs] });
      const h = randn([9, 8], rng);
      assertRowsSumToOne(head, h, V);
      assertLossMatchesLogProbs(head, h, randomTargets(9, V, rng, 4), V);
    }
  });

  it('plain SGD on fixed hidden states lowers the loss', () => {
    const rng = new Rng(11);
    const V = 37, M = 64;
    const t = zipfTargets(M, V, rng);
    const counts = new Array<number>(V).fill(0);
    for (const x of t) counts[x]++;
    const head = new AdaptiveHead(V, 16, counts, rng);
    const [first, last] = trainHead(head, randn([M, 16], rng), Tensor.from(t, [M], 'i32'), 30, 0.5);
    assert.ok(last < 0.7 * first, `loss ${first} -> ${last}`);
  });

  it('rebuilds exactly from its config', () => {
    const rng = new Rng(13);
    const V = 37;
    const head = new AdaptiveHead(V, 8, Array.from({ length: V }, () => rng.int(30)), rng, { cutoffs: [4, 20], factor: 2 });
    const cfg = JSON.parse(JSON.stringify(head.config()));
    assert.deepEqual({ ...cfg, order: undefined }, { kind: 'adaptive', vocabSize: V, dim: 8, cutoffs: [4, 20], factor: 2, order: undefined });
    const copy = headFromConfig(cfg, new Rng(99)) as AdaptiveHead;
    assert.deepEqual(Array.from(copy.order), Array.from(head.order));
    const src = head.namedParameters(), dst = copy.namedParameters();
    src.forEach((p, i) => dst[i].tensor.f32().set(p.tensor.f32()));
    const h = randn([4, 8], rng);
    scope(() => assert.deepEqual(copy.logProbs(h).toArray(), head.logProbs(h).toArray()));
  });

  it('rejects bad cutoffs, orders and targets', () => {
    const rng = new Rng(17);
    assert.throws(() => new AdaptiveHead(11, 8, new Array(11).fill(1), rng, { cutoffs: [5, 5] }), /increasing integers/);
    assert.throws(() => new AdaptiveHead(11, 8, new Array(11).fill(1), rng, { cutoffs: [11] }), /increasing integers/);
    assert.throws(() => new AdaptiveHead(3, 8, [], rng, { order: [0, 0, 1] }), /not a permutation/);
    const head = new AdaptiveHead(11, 8, new Array(11).fill(1), rng);
    assert.throws(() => head.loss(randn([2, 8], rng), Tensor.from([1, 11], [2], 'i32')), /outside the vocabulary/);
    assert.equal(scope(() => noGrad(() => head.loss(randn([2, 8], rng), Tensor.from([-1, -1], [2], 'i32')).item())), 0);
  });
});
