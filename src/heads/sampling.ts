// Choosing the next token from logits: repetition penalty, then greedy argmax (temperature 0)
// or a draw from softmax(logits / temperature) restricted by top-k and then top-p (nucleus).
// Ties in probability go to the lower token id everywhere, so top-k = 1 is exactly greedy.
import { Rng } from '../core/rng.js';

/** 2^-k for k = 0..1074 (the last is the smallest double). */
const POW2_NEG = Float64Array.from({ length: 1075 }, (_, k) => 2 ** -k);

/**
 * e^x for x <= 0, the sampler's shifted logits: x = n ln2 + r with |r| <= ln2 / 2, e^r by its
 * Taylor series to degree 9 (relative error below 1e-11), times 2^n from a table; 0 below -745
 * (and for -inf), where the double underflows. About three times as fast as Math.exp here, which
 * a call into the runtime makes the largest cost of a draw over a vocabulary.
 */
export function expNonPositive(x: number): number {
  if (!(x >= -745)) return 0;
  const n = Math.round(x * Math.LOG2E);
  const r = x - n * Math.LN2;
  const p = 1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (1 / 40320 + r / 362880))))))));
  return p * POW2_NEG[-n];
}

export interface SamplingOptions {
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 = off. Default 0. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 = off. Default 1. */
  topP?: number;
  /**
   * Divide positive logits (multiply negative ones) of tokens seen in the last
   * `repetitionWindow` tokens by this (CTRL's penalty); 1 = off. Default 1.
   */
  repetitionPenalty?: number;
  /** How many recent tokens the repetition penalty looks at. Default 64. */
  repetitionWindow?: number;
  /** Seed of the draws. Default: from the clock. */
  seed?: number;
}

export type ResolvedSampling = Required<SamplingOptions>;

/** Options with defaults filled in, checked: a bad value is an error, not a silent clamp. */
export function resolveSampling(o: SamplingOptions = {}): ResolvedSampling {
  const r: ResolvedSampling = {
    temperature: o.temperature ?? 1,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    repetitionPenalty: o.repetitionPenalty ?? 1,
    repetitionWindow: o.repetitionWindow ?? 64,
    seed: o.seed ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0,
  };
  const bad = (what: string): never => {
    throw new RangeError(what);
  };
  if (!(r.temperature >= 0) || !Number.isFinite(r.temperature)) bad(`temperature must be >= 0, got ${r.temperature}`);
  if (!Number.isInteger(r.topK) || r.topK < 0) bad(`top-k must be a non-negative integer, got ${r.topK}`);
  if (!(r.topP > 0 && r.topP <= 1)) bad(`top-p must be in (0, 1], got ${r.topP}`);
  if (!(r.repetitionPenalty > 0) || !Number.isFinite(r.repetitionPenalty)) bad(`repetition penalty must be > 0, got ${r.repetitionPenalty}`);
  if (!Number.isInteger(r.repetitionWindow) || r.repetitionWindow < 0) bad(`repetition window must be a non-negative integer, got ${r.repetitionWindow}`);
  if (!Number.isInteger(r.seed)) bad(`seed must be an integer, got ${r.seed}`);
  return r;
}

/** Draws token ids from logits. Buffers are allocated once: sampling allocates nothing per token. */
export class Sampler {
  readonly options: ResolvedSampling;
  private readonly n: number;
  private readonly rng: Rng;
  /** Adjusted logits, then unnormalised probabilities e^((l - max) / T) (n). */
  private readonly work: Float64Array;
  /** Candidate ids, arranged as a heap while they are ranked. */
  private readonly heap: Int32Array;
  /** Kept ids, most likely first; unused when nothing restricts the draw (`all`). */
  private readonly order: Int32Array;
  private kept = 0;
  private all = false;
  /** Unnormalised probability of the kept ids together. */
  private mass = 0;
  /** Per-id stamp so that a token repeated in the window is penalised once. */
  private readonly seen: Uint32Array;
  private stamp = 0;

  /** `n`: ids [0, n) are candidates (the tokenizer's vocabulary, when the model pads its own). */
  constructor(n: number, options: SamplingOptions = {}) {
    this.n = n;
    this.options = resolveSampling(options);
    this.rng = new Rng(this.options.seed);
    this.work = new Float64Array(n);
    this.heap = new Int32Array(n);
    this.order = new Int32Array(n);
    this.seen = new Uint32Array(n);
  }

  /** The next token after `logits` (at least n floats), given the tokens so far (`history`). */
  sample(logits: ArrayLike<number>, history: ArrayLike<number> = []): number {
    this.penalise(logits, history);
    if (this.options.temperature === 0) return this.argmax();
    this.restrict();
    const w = this.work;
    let r = this.rng.next() * this.mass;
    for (let i = 0; i < this.kept; i++) {
      const id = this.all ? i : this.order[i];
      r -= w[id];
      if (r < 0) return id;
    }
    return this.all ? this.kept - 1 : this.order[this.kept - 1]; // rounding left r just above 0
  }

  /**
   * The distribution `sample` draws from: kept ids, most likely first, with probabilities that
   * sum to 1 (greedy: the one argmax with probability 1). For tests and inspection.
   */
  distribution(logits: ArrayLike<number>, history: ArrayLike<number> = []): { ids: number[]; probs: number[] } {
    this.penalise(logits, history);
    if (this.options.temperature === 0) return { ids: [this.argmax()], probs: [1] };
    this.restrict();
    const w = this.work;
    const kept = this.all ? Array.from({ length: this.n }, (_, i) => i) : Array.from(this.order.subarray(0, this.kept));
    const ids = kept.sort((a, b) => w[b] - w[a] || a - b);
    return { ids, probs: ids.map((id) => w[id] / this.mass) };
  }

  /** work = logits with the repetition penalty applied. */
  private penalise(logits: ArrayLike<number>, history: ArrayLike<number>): void {
    const w = this.work, n = this.n;
    if (logits.length < n) throw new RangeError(`${logits.length} logits for ${n} candidate tokens`);
    for (let i = 0; i < n; i++) w[i] = logits[i];
    const p = this.options.repetitionPenalty;
    if (p === 1 || this.options.repetitionWindow === 0) return;
    if (++this.stamp === 0xffffffff) {
      this.seen.fill(0);
      this.stamp = 1;
    }
    for (let i = Math.max(0, history.length - this.options.repetitionWindow); i < history.length; i++) {
      const id = history[i];
      if (id < 0 || id >= n || this.seen[id] === this.stamp) continue;
      this.seen[id] = this.stamp;
      w[id] = w[id] > 0 ? w[id] / p : w[id] * p;
    }
  }

  private argmax(): number {
    const w = this.work;
    let best = 0;
    for (let i = 1; i < this.n; i++) if (w[i] > w[best]) best = i;
    return best;
  }

  /** work = unnormalised probabilities; order[0..kept) = what top-k and top-p leave, best first. */
  private restrict(): void {
    const w = this.work, n = this.n, { temperature, topK, topP } = this.options;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (w[i] > max) max = w[i];
    const invT = 1 / temperature;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = expNonPositive((w[i] - max) * invT);
      w[i] = e;
      total += e;
    }
    const byTopK = topK > 0 && topK < n;
    if (!byTopK && topP === 1) {
      this.all = true;
      this.kept = n;
      this.mass = total;
      return;
    }
    this.all = false;

    // Candidates. Without top-k, a token below (1 - p) / (n - 1) of the total can never be in
    // the nucleus (all such tokens together hold less than 1 - p), so it is not ranked; the
    // most likely token (weight 1) always stays: alone it reaches any p < 1/n.
    let count = 0;
    let base = total;
    if (byTopK) {
      count = this.selectTopK(topK);
      base = 0;
      for (let i = 0; i < count; i++) base += w[this.heap[i]];
    } else {
      const cutoff = Math.min(((1 - topP) / (n - 1)) * total, 1);
      for (let i = 0; i < n; i++) if (w[i] >= cutoff) this.heap[count++] = i;
    }

    // Rank by popping a max-heap: only as many pops as the nucleus needs. Top-p counts against
    // the mass top-k left, or (no top-k) against the whole distribution.
    const target = topP < 1 ? topP * base : Infinity;
    for (let i = (count >> 1) - 1; i >= 0; i--) this.siftDown(i, count);
    let size = count, kept = 0, cum = 0;
    while (size > 0) {
      const best = this.heap[0];
      this.order[kept++] = best;
      cum += w[best];
      this.heap[0] = this.heap[--size];
      this.siftDown(0, size);
      if (cum >= target) break;
    }
    this.kept = kept;
    this.mass = cum;
  }

  /** a goes nearer the top than b: in a max-heap a ranks above b, in a min-heap below. */
  private before(a: number, b: number, min: boolean): boolean {
    return min ? this.above(b, a) : this.above(a, b);
  }

  /** a ranks above b: more likely, or as likely with a lower id. */
  private above(a: number, b: number): boolean {
    const w = this.work;
    return w[a] > w[b] || (w[a] === w[b] && a < b);
  }

  /**
   * Restore the heap property of heap[0..size) below index i: a max-heap (highest-ranked id
   * on top) or, with `min`, a min-heap (lowest-ranked on top).
   */
  private siftDown(i: number, size: number, min = false): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < size && this.before(h[l], h[m], min)) m = l;
      if (r < size && this.before(h[r], h[m], min)) m = r;
      if (m === i) return;
      const t = h[i];
      h[i] = h[m];
      h[m] = t;
      i = m;
    }
  }

  /** heap[0..k) = the k highest-ranked ids, in any order (through a size-k min-heap). */
  private selectTopK(k: number): number {
    const h = this.heap;
    for (let i = 0; i < k; i++) h[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) this.siftDown(i, k, true);
    for (let id = k; id < this.n; id++) {
      if (this.above(id, h[0])) {
        h[0] = id;
        this.siftDown(0, k, true);
      }
    }
    return k;
  }
}
