// Two-level softmax head (Goodman 2001, "Classes for fast maximum entropy training"; Mikolov et
// al. 2011's frequency-binned classes): tokens sorted by frequency are cut into classes of equal
// sqrt-frequency mass, and
//
//   log p(w | h) = log softmax(U h)[class(w)]  +  log softmax_{v in class(w)}(E_v . (P h) + b_v)[w]
//
// U (classes x d) scores the classes; within a class, a word's score reads the token embedding E
// (tied: the model's table, frozen or not) through one trainable d x d projection P, plus a
// per-word bias b. Trainable: classes * d + d^2 + V — at GPT-2's vocabulary with 224 classes and
// d = 256, 173,137 parameters, where a Huffman tree needs (V - 1) * d = 12.9M. A row costs
// d * (classes + d + |class|) multiply-adds; equal-mass classes make the expected class size V /
// classes. The word level runs in kernels (assembly/two_level.ts); the class level is the fused
// linearCrossEntropy.
import { gradInto, needsGrad, noGrad, record } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import * as TK from '../core/kernels-two-level.js';
import { Rng } from '../core/rng.js';
import { Tensor, scope } from '../core/tensor.js';
import { init } from '../nn/module.js';
import { add, reshape } from '../ops/elementwise.js';
import { countTargets, ignoredBatchLoss, linearCrossEntropy, linearCrossEntropyRows } from '../ops/loss.js';
import { linear } from '../ops/matmul.js';
import { frequencyOrder } from './adaptive.js';
import { Head } from './head.js';

export interface TwoLevelOptions {
  /** Number of classes (default round(sqrt(V))). */
  classes?: number;
  /** A saved structure (tokens by frequency rank, class starts) instead of one built from counts. */
  structure?: { order: ArrayLike<number>; classStart: ArrayLike<number> };
}

/** Everything needed to rebuild the head's structure (U, P and b are parameters; E is the model's). */
export interface TwoLevelConfig {
  kind: 'two-level';
  vocabSize: number;
  dim: number;
  /** Token ids by decreasing frequency: rank k holds token order[k]. */
  order: number[];
  /** Class c holds ranks classStart[c] .. classStart[c + 1] - 1; the last entry is V. */
  classStart: number[];
}

/** The default number of classes: about sqrt(V), which balances the class and word softmaxes. */
export function defaultClassCount(V: number): number {
  return Math.max(1, Math.round(Math.sqrt(V)));
}

/**
 * Class starts (classes + 1 ranks, the last V) cutting tokens in frequency order into classes of
 * about equal sqrt(count) mass, each at least one token (equal sizes when every count is 0).
 */
export function frequencyClasses(counts: ArrayLike<number>, order: ArrayLike<number>, classes: number): Int32Array {
  const V = order.length;
  if (!(Number.isInteger(classes) && classes >= 1 && classes <= V)) throw new TernlmError(`two-level head: ${classes} classes for a vocabulary of ${V} — model.head.classes must be 1 to ${V}`);
  let mass = Array.from(order, (t) => Math.sqrt(Math.max(0, counts[t] ?? 0)));
  let total = mass.reduce((a, b) => a + b, 0);
  if (total === 0) {
    mass = mass.map(() => 1);
    total = V;
  }
  const start = new Int32Array(classes + 1);
  start[classes] = V;
  let k = 0, cum = 0;
  for (let c = 1; c < classes; c++) {
    const goal = (total * c) / classes;
    while (k < V && cum < goal) cum += mass[k++];
    start[c] = Math.min(Math.max(k, start[c - 1] + 1), V - (classes - c));
    while (k < start[c]) cum += mass[k++];
  }
  return start;
}

/** The structure's int32 arrays in the heap, read by the kernels. */
class ClassTensors {
  readonly tokenClass: Tensor;
  readonly classStart: Tensor;
  readonly order: Tensor;
  constructor(order: Int32Array, classStart: Int32Array, tokenClass: Int32Array) {
    this.tokenClass = Tensor.from(tokenClass, [tokenClass.length], 'i32').keep();
    this.classStart = Tensor.from(classStart, [classStart.length], 'i32').keep();
    this.order = Tensor.from(order, [order.length], 'i32').keep();
  }
  get pointers(): TK.ClassPointers {
    return { tokenClass: this.tokenClass.ptr, classStart: this.classStart.ptr, order: this.order.ptr };
  }
  dispose(): void {
    for (const t of [this.tokenClass, this.classStart, this.order]) t.dispose();
  }
}

export class TwoLevelHead extends Head {
  /** Class vectors U (classes, d). */
  readonly classVectors: Tensor;
  /** Word-level projection P (d, d): a word's score is E_w . (P h) + b_w. */
  readonly wordProj: Tensor;
  /** Word biases b (V), by token id. */
  readonly wordBias: Tensor;
  readonly order: Int32Array;
  readonly classStart: Int32Array;
  /** Class of each token id. */
  readonly tokenClass: Int32Array;
  private readonly structure: ClassTensors;

  /**
   * embedding: the model's token table (V, d), read by the word level (its gradient flows there
   * when it is trainable). counts: token frequencies, for the classes and the initial biases
   * (log(1 + count)); ignored for the classes when opts.structure is given.
   */
  constructor(readonly vocabSize: number, readonly dim: number, readonly embedding: Tensor, counts: ArrayLike<number>, rng: Rng, opts: TwoLevelOptions = {}) {
    super();
    const V = vocabSize;
    if (embedding.shape.join() !== `${V},${dim}`) throw new Error(`two-level head: the embedding is [${embedding.shape.join(', ')}], expected [${V}, ${dim}]`);
    if (opts.structure) {
      this.order = Int32Array.from(opts.structure.order);
      this.classStart = Int32Array.from(opts.structure.classStart);
    } else {
      if (counts.length !== V) throw new Error(`two-level head: ${counts.length} counts for a vocabulary of ${V}`);
      this.order = frequencyOrder(counts);
      this.classStart = frequencyClasses(counts, this.order, opts.classes ?? defaultClassCount(V));
    }
    const classes = this.classStart.length - 1;
    const starts = this.classStart;
    if (classes < 1 || starts[0] !== 0 || starts[classes] !== V || starts.some((s, i) => i > 0 && s <= starts[i - 1])) {
      throw new Error(`two-level head: class starts [${starts.slice(0, 8).join(', ')}...] must rise strictly from 0 to ${V}`);
    }
    this.tokenClass = new Int32Array(V).fill(-1);
    for (let c = 0; c < classes; c++) {
      for (let k = starts[c]; k < starts[c + 1]; k++) {
        const t = this.order[k];
        if (!(t >= 0 && t < V) || this.tokenClass[t] !== -1) throw new Error(`two-level head: the token order is not a permutation of 0..${V - 1} (at rank ${k}: ${t})`);
        this.tokenClass[t] = c;
      }
    }
    this.structure = new ClassTensors(this.order, this.classStart, this.tokenClass);
    this.classVectors = this.param('classes', init.normal([classes, dim], 1 / Math.sqrt(dim), rng), { decay: true, matrix: false });
    this.wordProj = this.param('word_proj', init.normal([dim, dim], 1 / dim, rng), { decay: true, matrix: true });
    const bias = Float32Array.from({ length: V }, (_, t) => Math.log1p(Math.max(0, counts[t] ?? 0)));
    this.wordBias = this.param('word_bias', Tensor.from(bias, [V]), { decay: false, matrix: false });
  }

  static fromConfig(cfg: TwoLevelConfig, rng: Rng, embedding: Tensor): TwoLevelHead {
    return new TwoLevelHead(cfg.vocabSize, cfg.dim, embedding, [], rng, { structure: cfg });
  }

  config(): TwoLevelConfig {
    return { kind: 'two-level', vocabSize: this.vocabSize, dim: this.dim, order: Array.from(this.order), classStart: Array.from(this.classStart) };
  }

  get classes(): number {
    return this.classStart.length - 1;
  }

  /** The class scores, the projection, and the target's class of words. */
  macsPerToken(counts: ArrayLike<number>): number {
    let total = 0, weighted = 0;
    for (let t = 0; t < this.vocabSize; t++) {
      const c = counts[t] ?? 0, cls = this.tokenClass[t];
      total += c;
      weighted += c * (this.classStart[cls + 1] - this.classStart[cls]);
    }
    return this.dim * (this.classes + this.dim + (total > 0 ? weighted / total : 0));
  }

  // h (..., d), targets (M) -> loss (1) = class CE + word CE within the class (both per counted row)
  loss(h: Tensor, targets: Tensor): Tensor {
    const d = this.dim, M = h.size / d;
    if (h.shape[h.shape.length - 1] !== d) throw new Error(`two-level softmax: h [${h.shape.join(', ')}] does not end in ${d}`);
    const counted = countTargets(targets, M, this.vocabSize, 'two-level softmax');
    if (counted === 0) return ignoredBatchLoss(h, this.embedding, ...this.parameters());
    const h2 = h.shape.length === 2 ? h : reshape(h, [M, d]);
    const classLoss = linearCrossEntropy(h2, this.classVectors, this.classTargets(targets));
    return add(classLoss, this.wordLoss(linear(h2, this.wordProj), targets, counted));
  }

  // h (..., d), targets (M) -> nats per row (0 for ignored rows), no gradient.
  override tokenLosses(h: Tensor, targets: Tensor): Float32Array {
    const d = this.dim, M = h.size / d;
    countTargets(targets, M, this.vocabSize, 'two-level softmax');
    return noGrad(() => scope(() => {
      const out = linearCrossEntropyRows(h.reshape([M, d]), this.classVectors, this.classTargets(targets));
      const g = Tensor.empty([M, d]);
      K.matmul(M, d, d, h.ptr, false, this.wordProj.ptr, true, g.ptr, false);
      const word = this.wordLosses(g, targets, 0, null).losses;
      return out.map((v, r) => v + word[r]);
    }));
  }

  // h (..., d) -> (M, V): log p(class) + the word's log-probability within its class.
  logProbs(h: Tensor): Tensor {
    return noGrad(() => {
      const d = this.dim, V = this.vocabSize, C = this.classes, M = h.size / d;
      const classLp = Tensor.empty([M, C]);
      K.matmul(M, C, d, h.ptr, false, this.classVectors.ptr, true, classLp.ptr, false);
      K.logSoftmaxForward(classLp.ptr, classLp.ptr, M, C);
      const g = Tensor.empty([M, d]);
      K.matmul(M, d, d, h.ptr, false, this.wordProj.ptr, true, g.ptr, false);
      const out = Tensor.empty([M, V]);
      K.matmul(M, V, d, g.ptr, false, this.embedding.ptr, true, out.ptr, false);
      K.binaryForward('add', out.ptr, this.wordBias.ptr, V, out.ptr, M * V);
      TK.twoLevelLogProbs(out.ptr, classLp.ptr, this.structure.pointers, M, C, V);
      g.dispose();
      classLp.dispose();
      return out;
    });
  }

  override dispose(): void {
    super.dispose();
    this.structure.dispose();
  }

  /** The class of each target (negative stays negative), int32 (M). */
  private classTargets(targets: Tensor): Tensor {
    return Tensor.from(Int32Array.from(targets.typed(), (t) => (t < 0 ? t : this.tokenClass[t])), [targets.size], 'i32');
  }

  /**
   * Mean word-level cross-entropy over counted rows, g (M, d) the projected hidden states; the
   * backward pass reaches g, the word biases and (when trainable) the embedding.
   */
  private wordLoss(g: Tensor, targets: Tensor, counted: number): Tensor {
    const grad = needsGrad(g, this.wordBias, this.embedding);
    const dg = grad && g.requiresGrad ? Tensor.empty(g.shape) : null;
    const { losses, probs, probOffset } = this.wordLosses(g, targets, grad ? 1 / counted : 0, dg);
    const loss = Tensor.from([losses.reduce((a, b) => a + b, 0) / counted], [1]);
    if (!grad) return loss;
    const M = targets.size, d = this.dim, cls = this.structure.pointers;
    return record(loss, (gl) => {
      const s = gl.item();
      if (dg) gradInto(g, (gg, acc) => K.scale(dg.ptr, s, gg.ptr, dg.size, acc));
      gradInto(this.wordBias, (gb, acc) => {
        if (!acc) K.fill(gb.ptr, gb.size, 0);
        TK.twoLevelWordGrad(g.ptr, targets.ptr, cls, probOffset.ptr, probs.ptr, M, d, this.classes, probs.size, s, gb.ptr, 0);
      });
      gradInto(this.embedding, (ge, acc) => {
        if (!acc) K.fill(ge.ptr, ge.size, 0);
        TK.twoLevelWordGrad(g.ptr, targets.ptr, cls, probOffset.ptr, probs.ptr, M, d, this.classes, probs.size, s, 0, ge.ptr);
      });
    });
  }

  /**
   * Each row's word-level loss (M), and the scratch the gradient reads: each counted row's class
   * scores (as (softmax - onehot) * gradScale when gradScale != 0) at probOffset[r].
   */
  private wordLosses(g: Tensor, targets: Tensor, gradScale: number, dg: Tensor | null): { losses: Float32Array; probs: Tensor; probOffset: Tensor } {
    const M = targets.size, tv = targets.typed();
    const offsets = new Int32Array(M);
    let floats = 0;
    for (let r = 0; r < M; r++) {
      offsets[r] = floats;
      const c = tv[r] < 0 ? -1 : this.tokenClass[tv[r]];
      if (c >= 0) floats += this.classStart[c + 1] - this.classStart[c];
    }
    const probOffset = Tensor.from(offsets, [M], 'i32');
    const probs = Tensor.empty([Math.max(1, floats)]);
    const losses = Tensor.empty([M]);
    TK.twoLevelWordLoss(g.ptr, this.embedding.ptr, this.wordBias.ptr, targets.ptr, this.structure.pointers, probOffset.ptr, M, this.dim,
      floats / Math.max(1, M), probs.ptr, losses.ptr, dg?.ptr ?? 0, gradScale);
    const out = Float32Array.from(losses.f32());
    losses.dispose();
    return { losses: out, probs, probOffset };
  }
}
