// A batch whose targets are all ignored (-1) has loss 0 and an all-zero gradient for the hidden
// states and for every head parameter, under every head. The gradient buffers and the free heap
// are filled with NaN first, so a gradient computed from uninitialised memory (or never
// written) fails the test.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward, gradOf } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { AdaptiveHead, HierarchicalHead, SoftmaxHead, TwoLevelHead, type Head } from '../../src/heads/index.js';
import { linearCrossEntropy } from '../../src/ops/loss.js';
import { param, randn } from '../helpers.js';

const V = 50, d = 16, M = 24;

/** Give t a gradient buffer full of NaN, marked stale (the next backward must overwrite it). */
function poisonGrad(t: Tensor): void {
  if (!t.grad) t.grad = Tensor.empty(t.shape).keep();
  t.grad.f32().fill(NaN);
  t.gradValid = false;
}

/** Fill blocks the next allocations will reuse with NaN, so uninitialised memory is not zero. */
function poisonFreeHeap(): void {
  const blocks = [1 << 20, M * d, V * d, M * V, M].map((n) => Tensor.empty([n]));
  for (const b of blocks) b.f32().fill(NaN);
  for (const b of blocks.reverse()) b.dispose();
}

function assertAllZero(t: Tensor | null, what: string): void {
  assert.ok(t, `${what}: no gradient was written`);
  const v = t.f32();
  for (let i = 0; i < v.length; i++) assert.equal(v[i], 0, `${what}: element ${i} is ${v[i]}`);
}

/** Loss and gradients of an all-ignored batch; returns nothing, asserts everything. */
function checkAllIgnored(lossOf: (h: Tensor, targets: Tensor) => Tensor, params: Tensor[]): void {
  const h = param(randn([M, d], new Rng(1)));
  const targets = Tensor.from(new Int32Array(M).fill(-1), [M], 'i32');
  for (const t of [h, ...params]) poisonGrad(t);
  poisonFreeHeap();
  scope(() => {
    const loss = lossOf(h, targets);
    assert.equal(loss.item(), 0);
    backward(loss);
  });
  assertAllZero(gradOf(h), 'dh');
  params.forEach((p, i) => assertAllZero(gradOf(p), `parameter ${i}`));
  // A later micro-batch adds to what is there: an all-ignored one adds nothing.
  h.grad!.f32().fill(2.5);
  scope(() => backward(lossOf(h, targets)));
  assert.ok(h.grad!.f32().every((v) => v === 2.5), 'accumulating an all-ignored batch changed the gradient');
  h.grad!.dispose();
  h.dispose();
  targets.dispose();
}

describe('a batch whose targets are all ignored', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  const counts = Array.from({ length: V }, (_, i) => 1 + Math.round(500 / (i + 1)));
  const heads: [string, () => Head][] = [
    ['softmax', () => new SoftmaxHead(V, d, new Rng(2))],
    ['hierarchical', () => new HierarchicalHead(V, d, counts, new Rng(3))],
    ['adaptive', () => new AdaptiveHead(V, d, counts, new Rng(4))],
  ];
  for (const [name, make] of heads) {
    it(`${name} head: loss 0, zero gradient for h and every parameter`, () => {
      const head = make();
      checkAllIgnored((h, targets) => head.loss(h, targets), head.parameters());
      head.dispose();
    });
  }

  it('two-level head over a trainable embedding: loss 0, zero gradient for h, every parameter and the embedding', () => {
    const embedding = param(randn([V, d], new Rng(6)));
    const head = new TwoLevelHead(V, d, embedding, counts, new Rng(7));
    checkAllIgnored((h, targets) => head.loss(h, targets), [...head.parameters(), embedding]);
    head.dispose();
    embedding.grad?.dispose();
    embedding.dispose();
  });

  it('linearCrossEntropy with a small logit budget (several chunks): loss 0, zero gradients', () => {
    const W = param(randn([V, d], new Rng(5)));
    checkAllIgnored((h, targets) => linearCrossEntropy(h, W, targets, 3 * V), [W]);
    W.grad?.dispose();
    W.dispose();
  });
});
