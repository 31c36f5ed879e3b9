// Adaptive softmax head (Grave et al. 2017, "Efficient softmax approximation for GPUs"): tokens
// sorted by frequency are split by cutoffs into a head cluster (the most frequent tokens) and
// tail clusters. The head softmax covers the head tokens plus one logit per tail cluster; tail
// cluster i first projects h down to d / factor^(i+1) dimensions and has its own softmax.
// log p(token) = log p(cluster | h) + log p(token | cluster, h). Rare tokens get small
// projections, so most rows pay only for the head.
import { noGrad } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { init } from '../nn/module.js';
import { embedding } from '../ops/embedding.js';
import { add, reshape, scale } from '../ops/elementwise.js';
import { countTargets, ignoredBatchLoss, linearCrossEntropy } from '../ops/loss.js';
import { linear } from '../ops/matmul.js';
import { Head } from './head.js';
import * as HK from '../core/kernels-heads.js';

export interface AdaptiveOptions {
  /** Increasing frequency ranks where clusters start (default [V/8, V/2] rounded). */
  cutoffs?: number[];
  /** Tail cluster i projects to max(1, round(d / factor^(i+1))) dimensions (default 4). */
  factor?: number;
  /** Tokens by decreasing frequency (a saved order, instead of sorting counts). */
  order?: ArrayLike<number>;
}

/** Everything needed to rebuild the head's structure (weights are parameters). */
export interface AdaptiveConfig {
  kind: 'adaptive';
  vocabSize: number;
  dim: number;
  cutoffs: number[];
  factor: number;
  /** Token ids by decreasing frequency: rank r holds token order[r]. */
  order: number[];
}

/** The default cutoffs: V/8 and V/2, dropping any that would leave an empty cluster. */
export function defaultCutoffs(V: number): number[] {
  const out: number[] = [];
  for (const c of [Math.round(V / 8), Math.round(V / 2)]) {
    if (c >= 1 && c < V && (out.length === 0 || c > out[out.length - 1])) out.push(c);
  }
  return out;
}

/** Token ids sorted by decreasing count, ties by id. */
export function frequencyOrder(counts: ArrayLike<number>): Int32Array {
  const ids = Array.from({ length: counts.length }, (_, i) => i);
  ids.sort((a, b) => counts[b] - counts[a] || a - b);
  return Int32Array.from(ids);
}

export class AdaptiveHead extends Head {
  /** Head softmax weights (cutoffs[0] + tails, d): head tokens by rank, then one row per tail. */
  readonly head: Tensor;
  /** Tail projections (d_i, d) and output matrices (size_i, d_i). */
  readonly proj: Tensor[] = [];
  readonly out: Tensor[] = [];
  readonly cutoffs: number[];
  readonly factor: number;
  /** order[rank] = token; rank[token] = its frequency rank. */
  readonly order: Int32Array;
  private readonly rank: Int32Array;
  /** Token ids of each cluster's columns, in wasm memory for the column scatter (cluster 0 = head). */
  private readonly clusterIds: Tensor[] = [];

  /** counts: token frequencies (length vocabSize); ignored when opts.order is given. */
  constructor(readonly vocabSize: number, readonly dim: number, counts: ArrayLike<number>, rng: Rng, opts: AdaptiveOptions = {}) {
    super();
    const V = vocabSize;
    if (opts.order) {
      this.order = Int32Array.from(opts.order);
    } else {
      if (counts.length !== V) throw new Error(`adaptive head: ${counts.length} counts for a vocabulary of ${V}`);
      this.order = frequencyOrder(counts);
    }
    this.rank = new Int32Array(V).fill(-1);
    if (this.order.length !== V) throw new Error(`adaptive head: the token order has ${this.order.length} entries, the vocabulary ${V}`);
    for (let r = 0; r < V; r++) {
      const t = this.order[r];
      if (!(t >= 0 && t < V) || this.rank[t] !== -1) throw new Error(`adaptive head: the token order is not a permutation of 0..${V - 1} (at rank ${r}: ${t})`);
      this.rank[t] = r;
    }
    this.cutoffs = opts.cutoffs ? [...opts.cutoffs] : defaultCutoffs(V);
    this.factor = opts.factor ?? 4;
    const c = this.cutoffs;
    if (c.length === 0 || c.some((x, i) => !Number.isInteger(x) || x < 1 || x >= V || (i > 0 && x <= c[i - 1]))) {
      throw new Error(`adaptive head: cutoffs [${c.join(', ')}] must be increasing integers in 1..${V - 1}`);
    }
    if (!(this.factor >= 1)) throw new Error(`adaptive head: factor ${this.factor} must be >= 1`);
    const bounds = [0, ...c, V];
    const tails = c.length;
    this.head = this.param('head', init.normal([c[0] + tails, dim], 1 / Math.sqrt(dim), rng), { decay: true, matrix: false });
    for (let i = 0; i < tails; i++) {
      const di = this.tailDim(i);
      this.proj.push(this.param(`proj${i}`, init.normal([di, dim], 1 / Math.sqrt(dim), rng), { decay: true, matrix: true }));
      this.out.push(this.param(`out${i}`, init.normal([bounds[i + 2] - bounds[i + 1], di], 1 / Math.sqrt(di), rng), { decay: true, matrix: false }));
    }
    for (let i = 0; i <= tails; i++) {
      this.clusterIds.push(Tensor.from(this.order.subarray(bounds[i], bounds[i + 1]), [bounds[i + 1] - bounds[i]], 'i32').keep());
    }
  }

  static fromConfig(cfg: AdaptiveConfig, rng: Rng): AdaptiveHead {
    return new AdaptiveHead(cfg.vocabSize, cfg.dim, [], rng, { cutoffs: cfg.cutoffs, factor: cfg.factor, order: cfg.order });
  }

  config(): AdaptiveConfig {
    return { kind: 'adaptive', vocabSize: this.vocabSize, dim: this.dim, cutoffs: [...this.cutoffs], factor: this.factor, order: Array.from(this.order) };
  }

  /** Projection width of tail cluster i. */
  tailDim(i: number): number {
    return Math.max(1, Math.round(this.dim / Math.pow(this.factor, i + 1)));
  }

  /** The head cluster for every token, plus a tail's projection and output for its share of tokens. */
  macsPerToken(counts: ArrayLike<number>): number {
    const bounds = [0, ...this.cutoffs, this.vocabSize];
    let total = 0;
    const inCluster = new Array<number>(this.cutoffs.length + 1).fill(0);
    for (let r = 0; r < this.vocabSize; r++) {
      const c = counts[this.order[r]] ?? 0;
      total += c;
      let k = 0;
      while (r >= bounds[k + 1]) k++;
      inCluster[k] += c;
    }
    let macs = this.dim * (this.cutoffs[0] + this.cutoffs.length);
    for (let i = 0; i < this.cutoffs.length; i++) {
      const share = total > 0 ? inCluster[i + 1] / total : 0;
      macs += share * this.tailDim(i) * (this.dim + bounds[i + 2] - bounds[i + 1]);
    }
    return macs;
  }

  // h (..., d), targets (M) -> loss (1) = head CE + sum_i (n_i / N) * mean tail-i CE over its rows
  loss(h: Tensor, targets: Tensor): Tensor {
    const d = this.dim, V = this.vocabSize, c = this.cutoffs;
    const M = h.size / d;
    if (h.shape[h.shape.length - 1] !== d) throw new Error(`adaptive softmax: h [${h.shape.join(', ')}] does not end in ${d}`);
    const counted = countTargets(targets, M, V, 'adaptive softmax');
    if (counted === 0) return ignoredBatchLoss(h, ...this.parameters());
    // Route each row: its head target (a head token, or its cluster's logit) and, for tail
    // tokens, the row index and the token's index within the cluster.
    const tv = targets.typed();
    const headTargets = new Int32Array(M);
    const rows: number[][] = c.map(() => []);
    const local: number[][] = c.map(() => []);
    for (let r = 0; r < M; r++) {
      const t = tv[r];
      if (t < 0) {
        headTargets[r] = -1;
        continue;
      }
      const k = this.rank[t];
      if (k < c[0]) {
        headTargets[r] = k;
        continue;
      }
      let i = 0;
      while (i + 1 < c.length && k >= c[i + 1]) i++;
      headTargets[r] = c[0] + i;
      rows[i].push(r);
      local[i].push(k - c[i]);
    }
    const h2 = h.shape.length === 2 ? h : reshape(h, [M, d]);
    let loss = linearCrossEntropy(h2, this.head, Tensor.from(headTargets, [M], 'i32'));
    for (let i = 0; i < c.length; i++) {
      const n = rows[i].length;
      if (n === 0) continue;
      // gather the rows of this cluster (an embedding lookup into h: its backward scatter-adds)
      const hi = embedding(h2, Tensor.from(rows[i], [n], 'i32'));
      const tail = linearCrossEntropy(linear(hi, this.proj[i]), this.out[i], Tensor.from(local[i], [n], 'i32'));
      loss = add(loss, scale(tail, n / counted));
    }
    return loss;
  }

  // h (..., d) -> (M, V): log p(cluster) from the head, plus log p(token | cluster) for tails.
  logProbs(h: Tensor): Tensor {
    return noGrad(() => {
      const d = this.dim, V = this.vocabSize, c = this.cutoffs;
      const M = h.size / d;
      const H = c[0] + c.length;
      const out = Tensor.empty([M, V]);
      const head = Tensor.empty([M, H]);
      K.matmul(M, H, d, h.ptr, false, this.head.ptr, true, head.ptr, false);
      K.logSoftmaxForward(head.ptr, head.ptr, M, H);
      HK.scatterCols(head.ptr, H, c[0], this.clusterIds[0].ptr, 0, 0, out.ptr, V, M);
      for (let i = 0; i < c.length; i++) {
        const [size, di] = this.out[i].shape;
        const p = Tensor.empty([M, di]);
        const logits = Tensor.empty([M, size]);
        K.matmul(M, di, d, h.ptr, false, this.proj[i].ptr, true, p.ptr, false);
        K.matmul(M, size, di, p.ptr, false, this.out[i].ptr, true, logits.ptr, false);
        K.logSoftmaxForward(logits.ptr, logits.ptr, M, size);
        // the cluster's own head log-probability is column c[0] + i of each head row
        HK.scatterCols(logits.ptr, size, size, this.clusterIds[i + 1].ptr, head.ptr + (c[0] + i) * 4, H, out.ptr, V, M);
        p.dispose();
        logits.dispose();
      }
      head.dispose();
      return out;
    });
  }

  override dispose(): void {
    super.dispose();
    for (const t of this.clusterIds) t.dispose();
  }
}
