import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward, gradOf, noGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { HierarchicalHead, buildHuffmanTree, codeOf, treeFromChildren, treeToJson, type HuffmanTree } from '../../src/heads/index.js';
import { assertClose, gradCheck, randn } from '../helpers.js';
import { assertLossMatchesLogProbs, assertRowsSumToOne, randomTargets, trainHead, zipfTargets } from './util.js';

function codeLengths(tree: HuffmanTree): number[] {
  return Array.from({ length: tree.vocabSize }, (_, t) => tree.pathStart[t + 1] - tree.pathStart[t]);
}

function countsOf(targets: Int32Array, V: number): number[] {
  const c = new Array<number>(V).fill(0);
  for (const t of targets) c[t]++;
  return c;
}

describe('Huffman tree', () => {
  it('gives the textbook code lengths and a prefix-free, complete code', () => {
    // counts 5, 9, 12, 13, 16, 45 -> lengths 4, 4, 3, 3, 3, 1
    const tree = buildHuffmanTree([45, 13, 12, 16, 9, 5]);
    assert.deepEqual(codeLengths(tree), [1, 3, 3, 3, 4, 4]);
    const codes = Array.from({ length: 6 }, (_, t) => codeOf(tree, t).join(''));
    for (const a of codes) for (const b of codes) if (a !== b) assert.ok(!b.startsWith(a), `${a} is a prefix of ${b}`);
    const kraft = codeLengths(tree).reduce((s, l) => s + 2 ** -l, 0);
    assert.equal(kraft, 1);
    assert.equal(tree.maxDepth, 4);
  });

  it('treats zero counts as 1 and rejects bad counts', () => {
    assert.deepEqual(codeLengths(buildHuffmanTree([0, 0, 2])), codeLengths(buildHuffmanTree([1, 1, 2])));
    assert.throws(() => buildHuffmanTree([1]), /at least 2 tokens/);
    assert.throws(() => buildHuffmanTree([1, -1, 3]), /token 1 has count -1/);
  });

  it('orders parents before children and round-trips through its children', () => {
    const rng = new Rng(3);
    const tree = buildHuffmanTree(Array.from({ length: 37 }, () => rng.int(100)));
    for (let n = 0; n < 36; n++) for (const c of [tree.left[n], tree.right[n]]) if (c >= 0) assert.ok(c > n);
    const again = treeFromChildren(tree.left, tree.right);
    assert.deepEqual(again, tree);
    assert.deepEqual(treeFromChildren(treeToJson(tree).left, treeToJson(tree).right), tree);
  });

  it('rejects malformed trees', () => {
    assert.throws(() => treeFromChildren([-1], [-5]), /out of range/);
    assert.throws(() => treeFromChildren([-1, -2], [1, -1]), /appears twice/);
    assert.throws(() => treeFromChildren([0], [-1]), /parent-before-child/);
  });
});

describe('HierarchicalHead', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const V of [11, 37]) {
    it(`gradients match finite differences (V=${V}, d=8)`, () => {
      const rng = new Rng(V);
      const counts = Array.from({ length: V }, () => rng.int(50));
      const head = new HierarchicalHead(V, 8, counts, rng);
      const h = randn([2, 3, 8], rng);
      const targets = randomTargets(6, V, rng, 4);
      gradCheck(([x]) => head.loss(x, targets), [h, head.nodes], { eps: 1e-2, tol: 2e-2 });
    });
  }

  it('log-probabilities are a distribution, and the loss is their mean at the targets', () => {
    const rng = new Rng(5);
    for (const V of [2, 11, 37]) {
      const head = new HierarchicalHead(V, 8, Array.from({ length: V }, (_, i) => (i * 7) % 13), rng);
      const h = randn([9, 8], rng);
      assertRowsSumToOne(head, h, V);
      assertLossMatchesLogProbs(head, h, randomTargets(9, V, rng, 3), V);
    }
  });

  it('matches a float64 reference on a batch large enough to split over threads', () => {
    const rng = new Rng(8);
    const V = 50, d = 64, M = 512;
    const head = new HierarchicalHead(V, d, Array.from({ length: V }, (_, i) => 1000 / (i + 1)), rng);
    const h = randn([M, d], rng);
    const targets = randomTargets(M, V, rng, 7);
    h.requiresGrad = true;
    h.isParam = true;
    head.nodes.gradValid = false;
    const loss = scope(() => {
      const l = head.loss(h, targets);
      backward(l);
      return l.item();
    });
    // reference: -sum log sigmoid(sign * h.v) along each path, and its gradients
    const H = h.f32(), Nv = head.nodes.f32(), T = targets.typed(), tr = head.tree;
    const dH = new Float64Array(M * d), dN = new Float64Array((V - 1) * d);
    let total = 0, counted = 0;
    for (let r = 0; r < M; r++) if (T[r] >= 0) counted++;
    for (let r = 0; r < M; r++) {
      const t = T[r];
      if (t < 0) continue;
      for (let j = tr.pathStart[t]; j < tr.pathStart[t + 1]; j++) {
        const n = tr.pathNode[j], s = tr.pathSign[j];
        let dot = 0;
        for (let k = 0; k < d; k++) dot += H[r * d + k] * Nv[n * d + k];
        total += Math.log1p(Math.exp(-s * dot));
        const g = (-s / (1 + Math.exp(s * dot))) / counted;
        for (let k = 0; k < d; k++) {
          dH[r * d + k] += g * Nv[n * d + k];
          dN[n * d + k] += g * H[r * d + k];
        }
      }
    }
    assert.ok(Math.abs(loss - total / counted) < 1e-4 * total / counted, `loss ${loss} vs ${total / counted}`);
    assertClose(gradOf(h)!.f32(), dH, 1e-5, 'dh');
    assertClose(gradOf(head.nodes)!.f32(), dN, 1e-5, 'dnodes');
  });

  it('plain SGD on fixed hidden states lowers the loss', () => {
    const rng = new Rng(11);
    const V = 37, M = 64;
    const t = zipfTargets(M, V, rng);
    const head = new HierarchicalHead(V, 16, countsOf(t, V), rng);
    const h = randn([M, 16], rng);
    const [first, last] = trainHead(head, h, Tensor.from(t, [M], 'i32'), 30, 0.5);
    assert.ok(last < 0.7 * first, `loss ${first} -> ${last}`);
  });

  it('rebuilds exactly from its config', () => {
    const rng = new Rng(13);
    const V = 37;
    const head = new HierarchicalHead(V, 8, Array.from({ length: V }, () => rng.int(30)), rng);
    const cfg = JSON.parse(JSON.stringify(head.config()));
    assert.equal(cfg.kind, 'hierarchical');
    const copy = HierarchicalHead.fromConfig(cfg, new Rng(99));
    assert.deepEqual(copy.tree, head.tree);
    copy.nodes.f32().set(head.nodes.f32());
    const h = randn([4, 8], rng);
    scope(() => assert.deepEqual(copy.logProbs(h).toArray(), head.logProbs(h).toArray()));
  });

  it('samples by walking the tree with the probabilities logProbs gives', () => {
    const rng = new Rng(17);
    const V = 11, d = 8;
    const head = new HierarchicalHead(V, d, Array.from({ length: V }, (_, i) => i + 1), rng);
    const h = randn([1, d], rng, 0.7);
    const p = scope(() => Array.from(head.logProbs(h).f32(), Math.exp));
    const draws = 20000, seen = new Array<number>(V).fill(0);
    for (let i = 0; i < draws; i++) seen[head.sample(h, rng)]++;
    const tv = seen.reduce((s, c, k) => s + Math.abs(c / draws - p[k]), 0) / 2;
    assert.ok(tv < 0.02, `total variation ${tv} between samples and logProbs`);
    // greedy: the same token every time, and it follows the likelier branch at every node
    const g = head.sample(h, rng, 0);
    assert.equal(head.sample(h, rng, 0), g);
    const code = codeOf(head.tree, g);
    const scores = noGrad(() => scope(() => {
      const all: number[] = [];
      for (let j = head.tree.pathStart[g]; j < head.tree.pathStart[g + 1]; j++) {
        const n = head.tree.pathNode[j];
        let dot = 0;
        for (let k = 0; k < d; k++) dot += h.f32()[k] * head.nodes.f32()[n * d + k];
        all.push(dot);
      }
      return all;
    }));
    scores.forEach((s, j) => assert.equal(s > 0 ? 1 : 0, code[j]));
  });

  it('ignores rows with negative targets and rejects out-of-range ones', () => {
    const rng = new Rng(19);
    const head = new HierarchicalHead(11, 8, new Array(11).fill(1), rng);
    const h = randn([3, 8], rng);
    const all = scope(() => noGrad(() => head.loss(h, Tensor.from([-1, -1, -1], [3], 'i32')).item()));
    assert.equal(all, 0);
    assert.throws(() => head.loss(h, Tensor.from([0, 11, 2], [3], 'i32')), /outside the vocabulary/);
  });
});
