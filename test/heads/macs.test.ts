// The heads' multiply-add counts that the training benchmark's model FLOPs rest on.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { AdaptiveHead, HierarchicalHead, SoftmaxHead, TwoLevelHead } from '../../src/heads/index.js';

describe('head multiply-adds per token', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('softmax: V x d', () => {
    assert.equal(new SoftmaxHead(100, 16, new Rng(1)).macsPerToken(), 1600);
  });

  it('hierarchical: d times the mean code length (8 equal counts: 3 levels)', () => {
    const counts = new Array(8).fill(5);
    assert.equal(new HierarchicalHead(8, 16, counts, new Rng(1)).macsPerToken(counts), 48);
  });

  it('adaptive: head cluster for all tokens, each tail for its share', () => {
    // ranks 0..3 in the head (+1 tail logit); ranks 4..7 form one tail of width 16/4 = 4.
    const counts = [40, 30, 20, 10, 5, 5, 5, 5]; // the tail holds 20 of 120 tokens
    const head = new AdaptiveHead(8, 16, counts, new Rng(1), { cutoffs: [4], factor: 4 });
    assert.equal(head.macsPerToken(counts), 16 * 5 + (20 / 120) * 4 * (16 + 4));
  });

  it('two-level: the class scores, the d x d projection, and the target class\'s words', () => {
    // 8 equal counts, 2 classes of 4 words: 16 * (2 + 16 + 4)
    const counts = new Array(8).fill(5);
    const head = new TwoLevelHead(8, 16, Tensor.zeros([8, 16]), counts, new Rng(1), { classes: 2 });
    assert.equal(head.macsPerToken(counts), 16 * (2 + 16 + 4));
  });
});
