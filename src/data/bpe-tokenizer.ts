import { TernlmError } from '../core/errors.js';
import type { ChatTemplate, Tokenizer } from './tokenizer.js';
import { EOT_TEXT, GPT2_PATTERN, pretokenRegExp, splitOnSpecials } from './pretokenize.js';

/** Pair (a, b) of token ids as one Map key; ids stay below 2^20. */
export const PAIR_SHIFT = 1048576;
export const MAX_BPE_VOCAB = PAIR_SHIFT;
export const pairKey = (a: number, b: number): number => a * PAIR_SHIFT + b;

/** Pre-token words cached per tokenizer before the cache is cleared (bounds memory). */
const WORD_CACHE_LIMIT = 200_000;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** The serialised form, stored as tok.json (see docs/data.md). */
export interface BpeJSON {
  kind: 'bpe';
  version: 1;
  pattern: string;
  lowercase: boolean;
  vocabSize: number;
  /** merges[i] = [a, b] creates token 256 + i from tokens a and b (both < 256 + i). */
  merges: [number, number][];
  /** Special tokens and their ids, which follow the merged tokens. */
  specialTokens: Record<string, number>;
  /** The chat template, whose markers are special tokens (absent: no chat format). */
  chatTemplate?: ChatTemplate;
}

/**
 * A byte-level BPE tokenizer trained by `trainBpe`: ids 0..255 are the bytes, 256.. the
 * merges in the order they were learned, then the special tokens (`<|endoftext|>` last).
 * Text is split with the GPT-2 pattern, each pre-token's UTF-8 bytes are merged
 * lowest-rank-first, and special-token text always maps to its id.
 */
export class BpeTokenizer implements Tokenizer {
  readonly kind = 'bpe';
  readonly vocabSize: number;
  readonly eotId: number;
  readonly pattern: string;
  readonly lowercase: boolean;
  readonly chatTemplate?: ChatTemplate;
  /** Flat merge list: token 256 + i = merges[2i] ++ merges[2i + 1]. */
  private readonly merges: Int32Array;
  private readonly specials: Record<string, number>;
  private readonly specialTexts: string[];
  private readonly mergedId = new Map<number, number>();
  private readonly tokenBytes: Uint8Array[] = [];
  private readonly regex: RegExp;
  private readonly cache = new Map<string, number[]>();

  constructor(merges: Int32Array, opts: { pattern?: string; lowercase?: boolean; specialTokens?: Record<string, number>; chatTemplate?: ChatTemplate } = {}) {
    const nMerges = merges.length >> 1;
    this.merges = merges;
    this.pattern = opts.pattern ?? GPT2_PATTERN;
    this.lowercase = opts.lowercase ?? false;
    this.specials = opts.specialTokens ?? { [EOT_TEXT]: 256 + nMerges };
    this.specialTexts = Object.keys(this.specials);
    this.vocabSize = 256 + nMerges + this.specialTexts.length;
    const eot = this.specials[EOT_TEXT];
    if (eot === undefined) throw new TernlmError(`BPE tokenizer has no ${EOT_TEXT} special token — re-create it with \`ternlm tokenizer train\``);
    this.eotId = eot;
    if (opts.chatTemplate !== undefined) {
      const missing = Object.values(opts.chatTemplate).find((text) => this.specials[text] === undefined);
      if (missing !== undefined) throw new TernlmError(`BPE tokenizer's chat template marker ${JSON.stringify(missing)} is not one of its special tokens — re-create it with \`ternlm prepare --chat\``);
      this.chatTemplate = { ...opts.chatTemplate };
    }
    this.regex = pretokenRegExp(this.pattern);
    for (let b = 0; b < 256; b++) this.tokenBytes.push(Uint8Array.of(b));
    for (let i = 0; i < nMerges; i++) {
      const a = merges[2 * i];
      const b = merges[2 * i + 1];
      const left = this.tokenBytes[a];
      const right = this.tokenBytes[b];
      const bytes = new Uint8Array(left.length + right.length);
      bytes.set(left);
      bytes.set(right, left.length);
      this.tokenBytes.push(bytes);
      this.mergedId.set(pairKey(a, b), 256 + i);
    }
    for (const [text, id] of Object.entries(this.specials)) this.tokenBytes[id] = utf8Encoder.encode(text);
  }

  encode(text: string): number[] {
    if (this.lowercase) text = text.toLowerCase();
    const ids: number[] = [];
    splitOnSpecials(
      text,
      this.specialTexts,
      (piece) => this.encodeOrdinary(piece, ids),
      (special) => ids.push(this.specials[special]),
    );
    return ids;
  }

  encodePlain(text: string): number[] {
    const ids: number[] = [];
    this.encodeOrdinary(this.lowercase ? text.toLowerCase() : text, ids);
    return ids;
  }

  /** Append the ids of `text` (no special tokens in it) to `out`. */
  private encodeOrdinary(text: string, out: number[]): void {
    const re = this.regex;
    re.lastIndex = 0;
    // `end` guards losslessness for a custom pattern that skips characters: gaps between
    // matches are encoded as words of their own.
    let end = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m.index > end) {
        this.encodeCachedWord(text.slice(end, m.index), out);
        end = m.index;
      }
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      this.encodeCachedWord(m[0], out);
      end = m.index + m[0].length;
    }
    if (end < text.length) this.encodeCachedWord(text.slice(end), out);
  }

  private encodeCachedWord(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.encodeWord(utf8Encoder.encode(word));
      if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  /** Merge the bytes of one pre-token, always applying the earliest-learned merge first. */
  private encodeWord(bytes: Uint8Array): number[] {
    const sym = Array.from(bytes);
    while (sym.length > 1) {
      let best = -1;
      for (let i = 0; i + 1 < sym.length; i++) {
        const id = this.mergedId.get(pairKey(sym[i], sym[i + 1]));
        if (id !== undefined && (best === -1 || id < best)) best = id;
      }
      if (best === -1) break;
      const a = this.merges[2 * (best - 256)];
      const b = this.merges[2 * (best - 256) + 1];
      let w = 0;
      for (let r = 0; r < sym.length; r++) {
        if (r + 1 < sym.length && sym[r] === a && sym[r + 1] === b) {
          sym[w++] = best;
          r++;
        } else {
          sym[w++] = sym[r];
        }
      }
      sym.length = w;
    }
    return sym;
  }

  decode(ids: ArrayLike<number>): string {
    let n = 0;
    for (let i = 0; i < ids.length; i++) n += this.decodeToken(ids[i]).length;
    const bytes = new Uint8Array(n);
    let off = 0;
    for (let i = 0; i < ids.length; i++) {
      const t = this.decodeToken(ids[i]);
      bytes.set(t, off);
      off += t.length;
    }
    return utf8Decoder.decode(bytes);
  }

  decodeToken(id: number): Uint8Array {
    const bytes = this.tokenBytes[id];
    if (bytes === undefined) throw new RangeError(`BPE token id ${id} is out of range [0, ${this.vocabSize})`);
    return bytes;
  }

  toJSON(): BpeJSON {
    const merges: [number, number][] = [];
    for (let i = 0; i < this.merges.length; i += 2) merges.push([this.merges[i], this.merges[i + 1]]);
    return { kind: 'bpe', version: 1, pattern: this.pattern, lowercase: this.lowercase, vocabSize: this.vocabSize, merges, specialTokens: { ...this.specials },
      ...(this.chatTemplate ? { chatTemplate: { ...this.chatTemplate } } : {}) };
  }

  /** Validate and load the `toJSON()` form; `origin` names the file for error messages. */
  static fromJSON(obj: object, origin = 'BPE tokenizer JSON'): BpeTokenizer {
    const o = obj as Partial<BpeJSON>;
    const bad = (what: string): never => {
      throw new TernlmError(`${origin} is not a valid ternlm BPE tokenizer (${what}) — re-create it with \`ternlm tokenizer train\``);
    };
    if (o.version !== 1) bad(`unsupported version ${JSON.stringify(o.version)}, expected 1`);
    if (!Array.isArray(o.merges)) bad('"merges" is missing');
    const list = o.merges as unknown[];
    const merges = new Int32Array(list.length * 2);
    list.forEach((m, i) => {
      const ok = Array.isArray(m) && m.length === 2 && m.every((x) => Number.isInteger(x) && x >= 0 && x < 256 + i);
      if (!ok) bad(`merge ${i} is ${JSON.stringify(m)}, expected [a, b] with ids below ${256 + i}`);
      merges[2 * i] = (m as number[])[0];
      merges[2 * i + 1] = (m as number[])[1];
    });
    const specials = o.specialTokens ?? {};
    const ids = Object.values(specials).sort((x, y) => x - y);
    ids.forEach((id, k) => {
      if (id !== 256 + list.length + k) bad(`special token ids must follow the merges (expected ${256 + list.length + k}, found ${id})`);
    });
    if (o.vocabSize !== undefined && o.vocabSize !== 256 + list.length + ids.length) bad(`vocabSize ${o.vocabSize} does not match ${list.length} merges + ${ids.length} special tokens`);
    if (typeof o.pattern !== 'string') bad('"pattern" is missing');
    try {
      pretokenRegExp(o.pattern as string);
    } catch {
      bad('"pattern" is not a valid regular expression');
    }
    const t = o.chatTemplate;
    if (t !== undefined && (typeof t !== 'object' || t === null || !(['system', 'user', 'assistant', 'end'] as const).every((k) => typeof t[k] === 'string'))) {
      bad('"chatTemplate" must hold the strings system, user, assistant and end');
    }
    return new BpeTokenizer(merges, { pattern: o.pattern, lowercase: o.lowercase === true, specialTokens: specials, chatTemplate: t });
  }
}
