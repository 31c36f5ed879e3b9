// The two-level (class -> word) softmax head: frequency classes of equal sqrt-mass; loss,
// log-probabilities and the word-level gradients against a float64 re-implementation
// (two-level-reference.ts), every gradient against finite differences, a distribution per row,
// per-row losses equal to the log-probabilities, a rebuilt head equal to the saved one, and a
// head that learns.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward, gradOf, noGrad, zeroGrad } from '../../src/core/autograd.js';
import { TernlmError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { TwoLevelHead, frequencyClasses, frequencyOrder } from '../../src/heads/index.js';
import { assertClose, gradCheck, param, randn } from '../helpers.js';
import { twoLevelLogProbs, twoLevelLossAndWordGrads, type TwoLevelValues } from './two-level-reference.js';
import { assertLossMatchesLogProbs, assertRowsSumToOne, randomTargets, trainHead, zipfTargets } from './util.js';

const zipfCounts = (V: number): number[] => Array.from({ length: V }, (_, i) => 1 + Math.round(1000 / (i + 1)));

/** A head over a trainable random embedding (so that its gradient is checked too). */
function makeHead(V: number, d: number, classes: number, seed: number): { head: TwoLevelHead; embedding: Tensor } {
  const rng = new Rng(seed);
  const embedding = param(randn([V, d], rng));
  const head = new TwoLevelHead(V, d, embedding, zipfCounts(V), rng, { classes });
  // Away from the initial values, so that a swapped parameter shows.
  head.wordBias.f32().forEach((_, i, a) => (a[i] = Math.sin(3 * i)));
  head.wordProj.f32().forEach((v, i, a) => (a[i] = v * d));
  return { head, embedding };
}

const valuesOf = (head: TwoLevelHead, embedding: Tensor): TwoLevelValues => ({
  V: head.vocabSize, d: head.dim, classVectors: head.classVectors.f32(), wordProj: head.wordProj.f32(), wordBias: head.wordBias.f32(),
  embedding: embedding.f32(), order: head.order, classStart: head.classStart,
});

describe('frequency classes', () => {
  it('cut the tokens in frequency order into classes of about equal sqrt-count mass', () => {
    const counts = [100, 0, 25, 400, 1, 4, 9, 16, 36, 49];
    const order = frequencyOrder(counts);
    assert.deepEqual(Array.from(order), [3, 0, 9, 8, 2, 7, 6, 5, 4, 1]);
    // sqrt masses by rank: 20 10 7 6 5 4 3 2 1 0 (total 58); a class ends with the token whose
    // running mass reaches 58/3 (rank 0: 20), then 2 * 58/3 (rank 3: 20 + 10 + 7 + 6 = 43).
    assert.deepEqual(Array.from(frequencyClasses(counts, order, 3)), [0, 1, 4, 10]);
  });

  it('give every class at least one token, equal sizes without counts, and refuse a bad class count', () => {
    const V = 20;
    const skewed = Array.from({ length: V }, (_, i) => (i === 0 ? 1e9 : 1));
    const starts = frequencyClasses(skewed, frequencyOrder(skewed), 8);
    assert.equal(starts.length, 9);
    for (let c = 0; c < 8; c++) assert.ok(starts[c + 1] > starts[c], `class ${c} is empty: ${starts.join(', ')}`);
    assert.deepEqual(Array.from(frequencyClasses(new Array(V).fill(0), frequencyOrder(new Array(V).fill(0)), 4)), [0, 5, 10, 15, 20]);
    assert.throws(() => frequencyClasses(skewed, frequencyOrder(skewed), 21), (e: unknown) => e instanceof TernlmError && /21 classes for a vocabulary of 20/.test(e.message));
  });
});

describe('TwoLevelHead', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const [V, classes] of [[37, 5], [11, 1], [9, 9]] as const) {
    it(`loss and log-probabilities equal the float64 reference, and every gradient matches finite differences (V=${V}, ${classes} classes)`, () => {
      const d = 8, rng = new Rng(V);
      const { head, embedding } = makeHead(V, d, classes, V);
      const h = randn([2, 5, d], rng);
      const targets = randomTargets(10, V, rng, 4);
      const values = valuesOf(head, embedding);
      const want = twoLevelLossAndWordGrads(values, h.f32(), targets.typed());
      const loss = noGrad(() => scope(() => head.loss(h, targets).item()));
      assert.ok(Math.abs(loss - want.loss) < 1e-5 * (1 + want.loss), `loss ${loss}, reference ${want.loss}`);
      const lp = noGrad(() => scope(() => Float32Array.from(head.logProbs(h).f32())));
      for (let r = 0; r < 10; r++) assertClose(lp.subarray(r * V, (r + 1) * V), twoLevelLogProbs(values, h.f32().subarray(r * d, (r + 1) * d)), 1e-5, `row ${r}`);
      gradCheck(([x]) => head.loss(x, targets), [h, head.classVectors, head.wordProj, head.wordBias, embedding], { eps: 1e-2, tol: 2e-2 });
      head.dispose();
      embedding.dispose();
    });
  }

  it('the word-level gradients split over classes and threads equal the float64 reference (V=400, 256 rows)', () => {
    const V = 400, d = 16, M = 256, rng = new Rng(4);
    const { head, embedding } = makeHead(V, d, 20, 4);
    const h = randn([M, d], rng);
    const targets = Tensor.from(zipfTargets(M, V, rng).map((t, i) => (i % 7 === 3 ? -1 : t)), [M], 'i32');
    const want = twoLevelLossAndWordGrads(valuesOf(head, embedding), h.f32(), targets.typed());
    zeroGrad([...head.parameters(), embedding]);
    scope(() => backward(head.loss(h, targets)));
    assertClose(gradOf(head.wordBias)!.f32(), want.dBias, 1e-5, 'word bias gradient');
    assertClose(gradOf(embedding)!.f32(), want.dEmbedding, 1e-5, 'embedding gradient');
    head.dispose();
    embedding.dispose();
  });

  it('log-probabilities are a distribution; the loss and the per-row losses agree with them', () => {
    const rng = new Rng(5);
    for (const [V, classes] of [[2, 1], [11, 3], [37, 6]]) {
      const { head, embedding } = makeHead(V, 8, classes, V + 1);
      const h = randn([9, 8], rng);
      const targets = randomTargets(9, V, rng, 3);
      assertRowsSumToOne(head, h, V);
      assertLossMatchesLogProbs(head, h, targets, V);
      const rows = head.tokenLosses(h, targets);
      const lp = noGrad(() => scope(() => Float32Array.from(head.logProbs(h).f32())));
      targets.typed().forEach((t, r) => assert.ok(Math.abs(rows[r] - (t < 0 ? 0 : -lp[r * V + t])) < 1e-5, `row ${r}: ${rows[r]}`));
      head.dispose();
      embedding.dispose();
    }
  });

  it('a head rebuilt from its saved structure and parameters computes the same log-probabilities', () => {
    const { head, embedding } = makeHead(23, 8, 4, 6);
    const again = TwoLevelHead.fromConfig(JSON.parse(JSON.stringify(head.config())), new Rng(99), embedding);
    for (const [i, p] of again.parameters().entries()) p.f32().set(head.parameters()[i].f32());
    const h = randn([4, 8], new Rng(7));
    const a = noGrad(() => scope(() => Float32Array.from(head.logProbs(h).f32())));
    const b = noGrad(() => scope(() => Float32Array.from(again.logProbs(h).f32())));
    assert.deepEqual(b, a);
    head.dispose();
    again.dispose();
    embedding.dispose();
  });

  it('a frozen embedding gets no gradient, and SGD on the head alone lowers the loss', () => {
    const V = 60, d = 16, rng = new Rng(8);
    const embedding = randn([V, d], rng);
    const head = new TwoLevelHead(V, d, embedding, zipfCounts(V), rng);
    assert.equal(head.classes, 8);
    assert.equal(head.parameterCount(), 8 * d + d * d + V);
    const h = randn([64, d], rng);
    const targets = Tensor.from(zipfTargets(64, V, rng), [64], 'i32');
    const [first, last] = trainHead(head, h, targets, 30, 0.5);
    assert.ok(last < 0.7 * first, `loss ${first} -> ${last}`);
    assert.equal(embedding.grad, null);
    head.dispose();
    embedding.dispose();
  });
});
