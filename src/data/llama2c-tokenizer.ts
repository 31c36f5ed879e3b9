import { readFileSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import type { Tokenizer } from './tokenizer.js';

const UNK_ID = 0;
const BOS_ID = 1;
const EOS_ID = 2;
/** Byte b falls back to token b + 3 (sentencepiece's `<0xXX>` pieces follow <unk>, <s>, </s>). */
const BYTE_OFFSET = 3;
const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

export interface Llama2cJSON {
  kind: 'llama2c';
  maxTokenLength: number;
  /** Piece text per id (sentencepiece's '▁' already replaced by ' ' in the export). */
  pieces: string[];
  scores: number[];
  /**
   * The token before each document in prepared shards, which also ends generation (eotId): EOS
   * when absent, or BOS as llama2.c's own training data has it (a llama2.c model imported by
   * `ternlm ternarize` keeps the convention it was trained with).
   */
  documentToken?: 'bos';
}

/**
 * A llama2.c `tokenizer.bin` (sentencepiece BPE exported by llama2.c's tokenizer.py): encode
 * the way llama2.c's `encode()` does — dummy-prefix space, one token per code point with
 * `<0xXX>` byte fallback, then repeatedly merge the adjacent pair whose concatenation has the
 * highest score (leftmost on ties).
 */
export class Llama2cTokenizer implements Tokenizer {
  readonly kind = 'llama2c';
  readonly vocabSize: number;
  readonly eotId: number;
  readonly bosId = BOS_ID;
  readonly maxTokenLength: number;
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly pieceBytes: Uint8Array[];
  private readonly idOf = new Map<string, number>();
  /**
   * True when no piece has a space after its first character, so merges never cross a space
   * and text can be encoded word by word (each word starting at a space) with a cache.
   */
  private readonly splitAtSpaces: boolean;
  private readonly cache = new Map<string, number[]>();

  constructor(pieces: string[], scores: ArrayLike<number>, maxTokenLength: number, private readonly documentToken?: 'bos') {
    this.eotId = documentToken === 'bos' ? BOS_ID : EOS_ID;
    this.pieces = pieces;
    this.scores = Float32Array.from(scores);
    this.vocabSize = pieces.length;
    this.maxTokenLength = maxTokenLength;
    this.pieceBytes = pieces.map((p) => {
      const m = BYTE_PIECE.exec(p);
      return m ? Uint8Array.of(parseInt(m[1], 16)) : utf8Encoder.encode(p);
    });
    pieces.forEach((p, id) => {
      if (!this.idOf.has(p)) this.idOf.set(p, id);
    });
    this.splitAtSpaces = pieces.every((p) => p.indexOf(' ', 1) === -1);
  }

  /** Parse llama2.c's format: int32 max_token_length, then per token f32 score, i32 len, bytes. */
  static fromFile(path: string): Llama2cTokenizer {
    const buf = readFileSync(path);
    const bad = (what: string): never => {
      throw new TernlmError(`${path} is not a llama2.c tokenizer.bin (${what}) — export one with llama2.c's tokenizer.py`);
    };
    if (buf.length < 4) bad('file is shorter than its 4-byte header');
    const maxTokenLength = buf.readInt32LE(0);
    if (maxTokenLength <= 0 || maxTokenLength > 1024) bad(`max_token_length ${maxTokenLength} is implausible`);
    const pieces: string[] = [];
    const scores: number[] = [];
    let off = 4;
    while (off < buf.length) {
      if (off + 8 > buf.length) bad(`token ${pieces.length} header is truncated at byte ${off}`);
      const score = buf.readFloatLE(off);
      const len = buf.readInt32LE(off + 4);
      off += 8;
      if (len < 0 || len > maxTokenLength || off + len > buf.length) bad(`token ${pieces.length} has length ${len} at byte ${off - 4}`);
      pieces.push(buf.toString('utf8', off, off + len));
      scores.push(score);
      off += len;
    }
    if (pieces.length <= EOS_ID + 256) bad(`only ${pieces.length} tokens; expected <unk>, <s>, </s> and 256 byte tokens at least`);
    return new Llama2cTokenizer(pieces, scores, maxTokenLength);
  }

  static fromJSON(obj: object, origin = 'llama2c tokenizer JSON'): Llama2cTokenizer {
    const o = obj as Partial<Llama2cJSON>;
    if (!Array.isArray(o.pieces) || !Array.isArray(o.scores) || o.pieces.length !== o.scores.length || !o.pieces.every((p) => typeof p === 'string')) {
      throw new TernlmError(`${origin} is not a valid llama2c tokenizer (needs "pieces" and "scores" of equal length)`);
    }
    if (o.documentToken !== undefined && o.documentToken !== 'bos') throw new TernlmError(`${origin}: documentToken must be "bos" or absent, got ${JSON.stringify(o.documentToken)}`);
    return new Llama2cTokenizer(o.pieces, o.scores, o.maxTokenLength ?? Math.max(...o.pieces.map((p) => utf8Encoder.encode(p).length)), o.documentToken);
  }

  /** This tokenizer with BOS before each document (see Llama2cJSON.documentToken), as llama2.c's models were trained. */
  withBosDocuments(): Llama2cTokenizer {
    return new Llama2cTokenizer(this.pieces, this.scores, this.maxTokenLength, 'bos');
  }

  /** Piece text of a token id, as stored in the file. */
  piece(id: number): string {
    return this.pieces[id];
  }

  /** Ids of `text` with the dummy-prefix space; optional BOS / EOS as in llama2.c. */
  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const ids: number[] = [];
    if (opts.bos) ids.push(BOS_ID);
    if (text.length > 0) this.encodeInto(' ' + text, ids);
    if (opts.eos) ids.push(EOS_ID);
    return ids;
  }

  encodeContinuation(text: string): number[] {
    const ids: number[] = [];
    this.encodeInto(text, ids);
    return ids;
  }

  private encodeInto(text: string, out: number[]): void {
    if (!this.splitAtSpaces) {
      for (const id of this.encodeWord(text)) out.push(id);
      return;
    }
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf(' ', start + 1);
      if (end === -1) end = text.length;
      const word = text.slice(start, end);
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.encodeWord(word);
        if (this.cache.size >= 200_000) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
      start = end;
    }
  }

  /**
   * llama2.c's merge loop on one run of text. Symbols form a linked list; a max-heap of
   * candidate pairs ordered by (score desc, left position asc) replaces llama2.c's O(n²)
   * rescans with the same choices; entries whose symbols changed are skipped when popped.
   */
  encodeWord(text: string): number[] {
    const ids: number[] = [];
    const strs: string[] = [];
    for (const ch of text) {
      const id = this.idOf.get(ch);
      if (id !== undefined) {
        ids.push(id);
        strs.push(ch);
      } else {
        for (const byte of utf8Encoder.encode(ch)) {
          ids.push(byte + BYTE_OFFSET);
          strs.push(this.pieces[byte + BYTE_OFFSET]);
        }
      }
    }
    const n = ids.length;
    if (n < 2) return ids;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const version = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new CandidateHeap();
    const consider = (i: number): void => {
      const j = next[i];
      if (j === -1) return;
      const id = this.idOf.get(strs[i] + strs[j]);
      if (id !== undefined) heap.push({ score: this.scores[id], pos: i, right: j, id, vLeft: version[i], vRight: version[j] });
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.size > 0) {
      const c = heap.pop();
      const i = c.pos;
      const j = next[i];
      if (ids[i] === -1 || j !== c.right || version[i] !== c.vLeft || version[j] !== c.vRight) continue;
      ids[i] = c.id;
      strs[i] = this.pieces[c.id];
      version[i]++;
      ids[j] = -1;
      next[i] = next[j];
      if (next[j] !== -1) prev[next[j]] = i;
      if (prev[i] !== -1) consider(prev[i]);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i !== -1; i = next[i]) out.push(ids[i]);
    return out;
  }

  /** Text of `ids`; the space after BOS/EOS or at the very start (the dummy prefix) is dropped. */
  decode(ids: ArrayLike<number>): string {
    const parts: Uint8Array[] = [];
    let n = 0;
    for (let k = 0; k < ids.length; k++) {
      const b = this.decodeToken(ids[k], k === 0 ? BOS_ID : ids[k - 1]);
      parts.push(b);
      n += b.length;
    }
    const bytes = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
      bytes.set(p, off);
      off += p.length;
    }
    return utf8Decoder.decode(bytes);
  }

  decodeToken(id: number, prevId?: number): Uint8Array {
    const bytes = this.pieceBytes[id];
    if (bytes === undefined) throw new RangeError(`llama2c token id ${id} is out of range [0, ${this.vocabSize})`);
    if ((prevId === BOS_ID || prevId === EOS_ID) && bytes[0] === 32 && id > EOS_ID + 256) return bytes.subarray(1);
    return bytes;
  }

  toJSON(): Llama2cJSON {
    const json: Llama2cJSON = { kind: 'llama2c', maxTokenLength: this.maxTokenLength, pieces: [...this.pieces], scores: Array.from(this.scores) };
    return this.documentToken ? { ...json, documentToken: this.documentToken } : json;
  }
}

interface Candidate {
  score: number;
  /** Original index of the left symbol (keeps left-to-right order) and of the right one. */
  pos: number;
  right: number;
  /** Merged token id. */
  id: number;
  /** Symbol versions when pushed; a merge bumps them and so invalidates older entries. */
  vLeft: number;
  vRight: number;
}

/** Max-heap on score, then min on position: llama2.c's "best score, first found" choice. */
class CandidateHeap {
  private items: Candidate[] = [];

  get size(): number {
    return this.items.length;
  }

  private above(x: Candidate, y: Candidate): boolean {
    return x.score > y.score || (x.score === y.score && x.pos < y.pos);
  }

  push(c: Candidate): void {
    const items = this.items;
    items.push(c);
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(items[i], items[p])) break;
      [items[i], items[p]] = [items[p], items[i]];
      i = p;
    }
  }

  pop(): Candidate {
    const items = this.items;
    const top = items[0];
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.above(items[l], items[m])) m = l;
        if (r < items.length && this.above(items[r], items[m])) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m], items[i]];
        i = m;
      }
    }
    return top;
  }
}
