// Choosing the next token from logits: repetition penalty, then greedy argmax (temperature 0)
// or a draw from softmax(logits / temperature) restricted by top-k and then top-p (nucleus).
// Ties in probability go to the lower token id everywhere, so top-k = 1 is exactly greedy.
import { Rng } from '../core/rng.js';

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
    seed: o.seed ?? (Date.now() ^ (process.pid << 16)) >>> 0,
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
  /** Adjusted logits, then probabilities (n). */
  private readonly work: Float64Array;
  /** Candidate ids (best first when top-k or top-p restricts them) and how many are kept. */
  private readonly ids: Int32Array;
  private kept = 0;
  /** Probability mass of the kept candidates. */
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
    this.ids = new Int32Array(n);
    this.seen = new Uint32Array(n);
  }

  /** The next token after `logits` (at least n floats), given the tokens so far (`history`). */
  sample(logits: ArrayLike<number>, history: ArrayLike<number> = []): number {
    this.penalise(logits, history);
    if (this.options.temperature === 0) return this.argmax();
    this.restrict();
    let r = this.rng.next() * this.mass;
    for (let i = 0; i < this.kept; i++) {
      r -= this.work[this.ids[i]];
      if (r < 0) return this.ids[i];
    }
    return this.ids[this.kept - 1]; // rounding left r just above 0
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
    const ids = Array.from(this.ids.subarray(0, this.kept)).sort((a, b) => w[b] - w[a] || a - b);
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

  /** work = probabilities; ids[0..kept) = the candidates left by top-k and top-p. */
  private restrict(): void {
    const w = this.work, n = this.n, { temperature, topK, topP } = this.options;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (w[i] > max) max = w[i];
    let total = 0;
    for (let i = 0; i < n; i++) {
      w[i] = Math.exp((w[i] - max) / temperature);
      total += w[i];
    }
    for (let i = 0; i < n; i++) w[i] /= total;

    // Candidates before sorting. Without top-k, a token below (1 - p) / (n - 1) can never be in
    // the nucleus (all such tokens together hold less than 1 - p), so they need no sorting.
    let count = 0;
    const byTopK = topK > 0 && topK < n;
    if (byTopK) {
      count = this.selectTopK(topK);
    } else {
      // (The most likely token, 1 / total after normalising, always stays: it alone reaches any p < 1/n.)
      const cutoff = topP < 1 && n > 1 ? Math.min((1 - topP) / (n - 1), 1 / total) : 0;
      for (let i = 0; i < n; i++) if (w[i] >= cutoff) this.ids[count++] = i;
    }
    const cand = this.ids.subarray(0, count);
    // Unrestricted draws need no order: the sort is skipped (it would dominate a large vocabulary).
    if (count < n || topP < 1) cand.sort((a, b) => w[b] - w[a] || a - b);

    let mass = 0;
    for (let i = 0; i < count; i++) mass += w[cand[i]];
    this.kept = count;
    if (topP < 1) {
      // Smallest prefix reaching p of the mass left by top-k; without top-k, of the whole
      // distribution (1: the pre-filtered tokens count, they just cannot be reached).
      const target = topP * (byTopK ? mass : 1);
      let cum = 0;
      for (let i = 0; i < count; i++) {
        cum += w[cand[i]];
        if (cum >= target) {
          this.kept = i + 1;
          mass = cum;
          break;
        }
      }
    }
    this.mass = mass;
  }

  /** ids[0..k) = the k most probable ids (ties: lower id), in any order; a size-k min-heap. */
  private selectTopK(k: number): number {
    const w = this.work, h = this.ids;
    // "a below b": a is a worse candidate than b.
    const below = (a: number, b: number): boolean => w[a] < w[b] || (w[a] === w[b] && a > b);
    const siftDown = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < k && below(h[l], h[m])) m = l;
        if (r < k && below(h[r], h[m])) m = r;
        if (m === i) return;
        const t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
      }
    };
    for (let i = 0; i < k; i++) h[i] = i;
    for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
    for (let id = k; id < this.n; id++) {
      if (below(h[0], id)) {
        h[0] = id;
        siftDown(0);
      }
    }
    return k;
  }
}
