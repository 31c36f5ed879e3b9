// Hierarchical softmax head: tokens are the leaves of a Huffman tree over their frequencies, and
// each of the V-1 inner nodes holds a vector v. p(token | h) is the product over the token's
// root-to-leaf path of sigmoid(+-h.v_node) (+ turning right), so training costs O(d log V) per
// row instead of O(d V), and frequent tokens (short codes) are cheapest.
import { gradInto, needsGrad, noGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { init } from '../nn/module.js';
import { Head } from './head.js';
import { buildHuffmanTree, codeOf, treeFromChildren, treeToJson, type HuffmanTree, type TreeJson } from './huffman.js';
import * as HK from '../core/kernels-heads.js';
import { countTargets, ignoredBatchLoss } from '../ops/loss.js';

export interface HierarchicalOptions {
  /** Use this saved tree instead of building one from counts (rebuilding from a checkpoint). */
  tree?: TreeJson;
  /** Std of the initial node vectors (default 1/sqrt(dim)). */
  initStd?: number;
}

/** Everything needed to rebuild the head's structure (the node vectors are parameters). */
export interface HierarchicalConfig {
  kind: 'hierarchical';
  vocabSize: number;
  dim: number;
  tree: TreeJson;
}

/** The tree's arrays in wasm memory (read by the kernels). */
class TreeTensors {
  readonly pathStart: Tensor;
  readonly pathNode: Tensor;
  readonly pathSign: Tensor;
  readonly left: Tensor;
  readonly right: Tensor;
  readonly maxDepth: number;

  constructor(t: HuffmanTree) {
    this.pathStart = Tensor.from(t.pathStart, [t.pathStart.length], 'i32').keep();
    this.pathNode = Tensor.from(t.pathNode, [t.pathNode.length], 'i32').keep();
    this.pathSign = Tensor.from(t.pathSign, [t.pathSign.length]).keep();
    this.left = Tensor.from(t.left, [t.left.length], 'i32').keep();
    this.right = Tensor.from(t.right, [t.right.length], 'i32').keep();
    this.maxDepth = t.maxDepth;
  }

  get paths(): HK.PathPointers {
    return { pathStart: this.pathStart.ptr, pathNode: this.pathNode.ptr, pathSign: this.pathSign.ptr, maxDepth: this.maxDepth };
  }

  dispose(): void {
    for (const t of [this.pathStart, this.pathNode, this.pathSign, this.left, this.right]) t.dispose();
  }
}

/**
 * Mean over counted rows of -log p(target | h) under the tree: h (..., d), nodes (V-1, d),
 * targets int32 (M) with negative entries ignored -> loss (1). The forward pass also computes
 * dh and the per-step coefficients; backward scatters coef * h into the node gradient.
 */
function hierarchicalLoss(h: Tensor, nodes: Tensor, targets: Tensor, tree: TreeTensors): Tensor {
  const [nInner, d] = nodes.shape;
  const V = nInner + 1;
  const M = h.size / d;
  if (h.shape[h.shape.length - 1] !== d) throw new Error(`hierarchical softmax: h [${h.shape.join(', ')}] does not end in ${d}`);
  const counted = countTargets(targets, M, V, 'hierarchical softmax');
  if (counted === 0) return ignoredBatchLoss(h, nodes);
  const grad = needsGrad(h, nodes);
  const losses = Tensor.empty([M]);
  const coef = grad ? Tensor.empty([M, tree.maxDepth]) : null;
  const dh = grad && h.requiresGrad ? Tensor.empty([M, d]) : null;
  HK.hsmLoss(h.ptr, nodes.ptr, targets.ptr, tree.paths, M, d, losses.ptr, coef?.ptr ?? 0, dh?.ptr ?? 0, grad ? 1 / counted : 0);
  const total = K.reduce('sum', losses.ptr, M);
  losses.dispose();
  const loss = Tensor.from([total / counted], [1]);
  if (grad) {
    record(loss, (gl) => {
      const g = gl.item();
      if (dh) gradInto(h, (gh, acc) => K.scale(dh.ptr, g, gh.ptr, dh.size, acc));
      gradInto(nodes, (gn, acc) => {
        if (!acc) K.fill(gn.ptr, gn.size, 0);
        HK.hsmNodeGrad(h.ptr, targets.ptr, tree.paths, coef!.ptr, M, d, g, gn.ptr);
      });
    });
  }
  return loss;
}

export class HierarchicalHead extends Head {
  /** Inner-node vectors (V-1, d), row n for node n of the tree. */
  readonly nodes: Tensor;
  readonly tree: HuffmanTree;
  private readonly treeTensors: TreeTensors;

  /**
   * counts: token frequencies (length vocabSize) the Huffman tree is built from; ignored when
   * opts.tree is given.
   */
  constructor(readonly vocabSize: number, readonly dim: number, counts: ArrayLike<number>, rng: Rng, opts: HierarchicalOptions = {}) {
    super();
    if (opts.tree) {
      this.tree = treeFromChildren(opts.tree.left, opts.tree.right);
    } else {
      if (counts.length !== vocabSize) throw new Error(`hierarchical head: ${counts.length} counts for a vocabulary of ${vocabSize}`);
      this.tree = buildHuffmanTree(counts);
    }
    if (this.tree.vocabSize !== vocabSize) throw new Error(`hierarchical head: the tree has ${this.tree.vocabSize} leaves, the vocabulary ${vocabSize}`);
    this.treeTensors = new TreeTensors(this.tree);
    this.nodes = this.param('nodes', init.normal([vocabSize - 1, dim], opts.initStd ?? 1 / Math.sqrt(dim), rng), { decay: true, matrix: false });
  }

  static fromConfig(cfg: HierarchicalConfig, rng: Rng): HierarchicalHead {
    return new HierarchicalHead(cfg.vocabSize, cfg.dim, [], rng, { tree: cfg.tree });
  }

  config(): HierarchicalConfig {
    return { kind: 'hierarchical', vocabSize: this.vocabSize, dim: this.dim, tree: treeToJson(this.tree) };
  }

  /** One d-long dot product per node on the target's path: d times the mean code length. */
  macsPerToken(counts: ArrayLike<number>): number {
    let total = 0, weighted = 0;
    for (let t = 0; t < this.vocabSize; t++) {
      const c = counts[t] ?? 0;
      total += c;
      weighted += c * codeOf(this.tree, t).length;
    }
    return total > 0 ? (this.dim * weighted) / total : 0;
  }

  // h (..., d), targets (M) -> loss (1)
  loss(h: Tensor, targets: Tensor): Tensor {
    return hierarchicalLoss(h, this.nodes, targets, this.treeTensors);
  }

  // h (..., d), targets (M) -> nats per row: the loss pass with no gradient.
  override tokenLosses(h: Tensor, targets: Tensor): Float32Array {
    const M = h.size / this.dim;
    countTargets(targets, M, this.vocabSize, 'hierarchical softmax');
    const losses = Tensor.empty([M]);
    HK.hsmLoss(h.ptr, this.nodes.ptr, targets.ptr, this.treeTensors.paths, M, this.dim, losses.ptr, 0, 0, 0);
    const out = Float32Array.from(losses.f32());
    losses.dispose();
    return out;
  }

  // h (..., d) -> (M, V): node scores by one product, then one pass down the tree per row.
  logProbs(h: Tensor): Tensor {
    return noGrad(() => {
      const M = h.size / this.dim;
      const nInner = this.vocabSize - 1;
      const scores = Tensor.empty([M, nInner]);
      K.matmul(M, nInner, this.dim, h.ptr, false, this.nodes.ptr, true, scores.ptr, false);
      const out = Tensor.empty([M, this.vocabSize]);
      HK.hsmLogProbs(scores.ptr, this.treeTensors.left.ptr, this.treeTensors.right.ptr, M, this.vocabSize, out.ptr);
      scores.dispose();
      return out;
    });
  }

  /**
   * Draw a token for one hidden state h (d floats) by walking down from the root: one dot per
   * level. Temperature divides each node's score, which tempers every branching decision
   * (not exactly the same as tempering the flat distribution unless temperature is 1);
   * temperature <= 0 follows the more likely branch at each node (greedy per node).
   */
  sample(h: Tensor, rng: Rng, temperature = 1): number {
    if (h.size !== this.dim) throw new Error(`sample: h has ${h.size} values, expected ${this.dim}`);
    const score = Tensor.empty([1]);
    try {
      let node = 0;
      for (;;) {
        K.matvec(1, this.dim, this.nodes.ptr + node * this.dim * 4, this.dim, h.ptr, score.ptr, false);
        const s = score.f32()[0];
        const goRight = temperature <= 0 ? s > 0 : rng.next() < 1 / (1 + Math.exp(-s / temperature));
        const c = goRight ? this.tree.right[node] : this.tree.left[node];
        if (c < 0) return -c - 1;
        node = c;
      }
    } finally {
      score.dispose();
    }
  }

  override dispose(): void {
    super.dispose();
    this.treeTensors.dispose();
  }
}
