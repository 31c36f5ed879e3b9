import { BpeTokenizer, MAX_BPE_VOCAB, PAIR_SHIFT, pairKey } from './bpe-tokenizer.js';
import { EOT_TEXT, GPT2_PATTERN, pretokenRegExp, safeCutPoint, splitOnSpecials } from './pretokenize.js';

/**
 * Byte-level BPE training: count pre-token words (GPT-2 pattern), then learn merges with
 * incrementally maintained pair counts and a max-heap, so each merge touches only the words
 * that contain the merged pair.
 */

/** Counts pre-token words over text fed in arbitrary chunks. */
export class WordCounter {
  readonly counts = new Map<string, number>();
  /** UTF-8-decoded characters seen so far (after lowercasing). */
  chars = 0;
  private readonly regex: RegExp;
  /** Text after the last safe cut, carried into the next chunk so no word is split. */
  private carry = '';

  constructor(readonly opts: { lowercase?: boolean; pattern?: string } = {}) {
    this.regex = pretokenRegExp(opts.pattern ?? GPT2_PATTERN);
  }

  /** Add a chunk of a longer text; call `flush()` at the end of the text. */
  add(chunk: string): void {
    let text = this.carry + (this.opts.lowercase ? chunk.toLowerCase() : chunk);
    this.chars += chunk.length;
    if (text.length < 4096) {
      this.carry = text;
      return;
    }
    const cut = safeCutPoint(text, text.length - 64);
    this.carry = text.slice(cut);
    text = text.slice(0, cut);
    this.countText(text);
  }

  flush(): void {
    this.countText(this.carry);
    this.carry = '';
  }

  /** Special-token text separates words and is never counted: merges cannot produce it. */
  private countText(text: string): void {
    splitOnSpecials(text, [EOT_TEXT], (piece) => this.countPiece(piece), () => {});
  }

  private countPiece(text: string): void {
    const re = this.regex;
    re.lastIndex = 0;
    const counts = this.counts;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const w = m[0];
      if (w.length === 0) {
        re.lastIndex++;
        continue;
      }
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
}

export interface BpeTrainOptions {
  /** Total vocabulary including the 256 bytes and `<|endoftext|>`: 257 ≤ vocabSize ≤ 2^20. */
  vocabSize: number;
  lowercase?: boolean;
  /** Pre-token pattern the word counts were made with, stored in the tokenizer (default GPT-2's). */
  pattern?: string;
  /** Stop early when the most frequent pair occurs fewer times than this (default 2). */
  minPairCount?: number;
  /** Called every few merges with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

export interface BpeTrainResult {
  tokenizer: BpeTokenizer;
  /** Merges learned; fewer than asked when the text ran out of pairs seen minPairCount times. */
  merges: number;
  words: number;
}

/** Max-heap of (count, pair key), ties broken by the smaller key so training is deterministic. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i];
    const cj = this.counts[j];
    return ci > cj || (ci === cj && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i];
    this.counts[i] = this.counts[j];
    this.counts[j] = c;
    const k = this.keys[i];
    this.keys[i] = this.keys[j];
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Remove the top entry, returning [count, key]. */
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastC = this.counts.pop()!;
    const lastK = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      const n = this.counts.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.above(l, m)) m = l;
        if (r < n && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Learn merges from pre-token word counts (as gathered by WordCounter). */
export function trainBpe(wordCounts: Map<string, number>, opts: BpeTrainOptions): BpeTrainResult {
  const { vocabSize } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize > MAX_BPE_VOCAB) {
    throw new RangeError(`BPE vocabulary size must be an integer in [257, ${MAX_BPE_VOCAB}], got ${vocabSize}`);
  }
  const wanted = vocabSize - 257;
  const minPairCount = opts.minPairCount ?? 2;
  const encoder = new TextEncoder();

  // words[w]: current symbols of word w; freq[w]: its count in the text.
  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    const bytes = encoder.encode(w);
    if (bytes.length < 2) continue; // single bytes never take part in a merge
    words.push(Int32Array.from(bytes));
    freq.push(c);
  }

  const pairCount = new Map<number, number>();
  // Words that contained the pair at some point; may hold stale or repeated entries.
  const where = new Map<number, number[]>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = pairKey(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + freq[w]);
      let list = where.get(k);
      if (list === undefined) where.set(k, (list = []));
      if (list[list.length - 1] !== w) list.push(w);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);

  const addWhere = (k: number, w: number): void => {
    let list = where.get(k);
    if (list === undefined) where.set(k, (list = []));
    if (list[list.length - 1] !== w) list.push(w);
  };

  const merges: number[] = [];
  const seenAt = new Int32Array(words.length).fill(-1);
  const delta = new Map<number, number>();
  while (merges.length < 2 * wanted && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCount.get(key) !== count) continue; // stale heap entry
    if (count < minPairCount) break;
    const step = merges.length >> 1;
    const a = Math.floor(key / PAIR_SHIFT);
    const b = key - a * PAIR_SHIFT;
    const id = 256 + step;
    merges.push(a, b);
    delta.clear();
    const bump = (k: number, d: number): void => {
      delta.set(k, (delta.get(k) ?? 0) + d);
    };
    for (const w of where.get(key) ?? []) {
      if (seenAt[w] === step) continue;
      seenAt[w] = step;
      const s = words[w];
      const f = freq[w];
      // Merge left to right; only the pairs beside each merged occurrence change:
      // (prev, a) → (prev, id) and (b, next) → (id, next). `prev` is read from the output,
      // so back-to-back occurrences (a b a b → id id) are counted correctly.
      let first = 0;
      while (first + 1 < s.length && !(s[first] === a && s[first + 1] === b)) first++;
      if (first + 1 >= s.length) continue; // a stale entry: the pair left this word earlier
      const out = new Int32Array(s.length);
      out.set(s.subarray(0, first));
      let n = first;
      for (let r = first; r < s.length; ) {
        if (r + 1 < s.length && s[r] === a && s[r + 1] === b) {
          if (n > 0) {
            const p = out[n - 1];
            bump(pairKey(p, a), -f);
            bump(pairKey(p, id), f);
            addWhere(pairKey(p, id), w);
          }
          if (r + 2 < s.length) {
            const nx = s[r + 2];
            bump(pairKey(b, nx), -f);
            bump(pairKey(id, nx), f);
            addWhere(pairKey(id, nx), w);
          }
          out[n++] = id;
          r += 2;
        } else {
          out[n++] = s[r++];
        }
      }
      if (n < s.length) words[w] = out.slice(0, n);
    }
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const c = (pairCount.get(k) ?? 0) + d;
      if (c > 0) {
        pairCount.set(k, c);
        heap.push(c, k);
      } else {
        pairCount.delete(k);
      }
    }
    pairCount.delete(key);
    where.delete(key);
    if (opts.onProgress && (step & 63) === 0) opts.onProgress(step, wanted);
  }
  const n = merges.length >> 1;
  opts.onProgress?.(n, wanted);
  const tokenizer = new BpeTokenizer(Int32Array.from(merges), { pattern: opts.pattern ?? GPT2_PATTERN, lowercase: opts.lowercase ?? false, specialTokens: { [EOT_TEXT]: 256 + n } });
  return { tokenizer, merges: n, words: words.length };
}
