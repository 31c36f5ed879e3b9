import { join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { readMeta, type DatasetMeta, type SplitMeta } from './meta.js';
import { ShardReader } from './shards.js';

export type LoaderMode = 'random' | 'sequential';

export interface BatchLoaderOptions {
  /** Seeds the window draws of random mode. */
  seed: number;
  /** random: windows start anywhere, uniformly; sequential: consecutive windows, in shard order, wrapping. */
  mode: LoaderMode;
}

/** Where a loader is, as plain JSON for a checkpoint header. */
export interface LoaderState {
  split: 'train' | 'val';
  mode: LoaderMode;
  /** Sequential position: the next window starts at token `offset` of shard `shard`. */
  shard: number;
  offset: number;
  /** Rng.state() of random mode. */
  rng: number[];
}

/**
 * Batches of token windows from a prepared dataset directory. The split's shards are read
 * as one stream (a window may cross from one shard into the next; it may also cross a
 * document boundary — the EOT token between documents tells the model where one ends).
 * Tokens are read with positioned reads, window by window; shards are never loaded whole.
 */
export class BatchLoader {
  readonly meta: DatasetMeta;
  readonly split: 'train' | 'val';
  readonly mode: LoaderMode;
  /** Tokens in the split. */
  readonly tokens: number;
  /** Chat data: the batches come with the mask of scored tokens (see `next`). */
  readonly masked: boolean;
  private readonly readers: ShardReader[];
  /** Chat data: one mask shard per token shard (values 1 = scored, 0 = context). */
  private readonly maskReaders: ShardReader[] = [];
  /** starts[i]: stream position of shard i's first token; starts[n] = tokens. */
  private readonly starts: number[];
  private readonly seed: number;
  private rng: Rng;
  /** Sequential mode: stream position of the next window. */
  private position = 0;
  private scratch = new Int32Array(0);

  constructor(dir: string, split: 'train' | 'val', opts: BatchLoaderOptions) {
    this.meta = readMeta(dir);
    this.split = split;
    this.mode = opts.mode;
    this.seed = opts.seed;
    this.rng = new Rng(opts.seed);
    const splitMeta = this.meta.splits[split];
    if (splitMeta.tokens === 0) throw new TernlmError(`the ${split} split of ${dir} is empty — re-run ternlm prepare with more data or a larger --val-fraction`);
    this.readers = [];
    this.starts = [0];
    this.masked = splitMeta.masks !== undefined;
    const open = (file: string, tokens: number): ShardReader => {
      const r = new ShardReader(join(dir, file));
      if (r.tokens !== tokens) {
        r.close();
        throw new TernlmError(`shard ${join(dir, file)} holds ${r.tokens.toLocaleString('en-US')} tokens but meta.json says ${tokens.toLocaleString('en-US')} — re-run ternlm prepare`);
      }
      return r;
    };
    try {
      for (const s of splitMeta.shards) {
        const r = open(s.file, s.tokens);
        this.readers.push(r);
        this.starts.push(this.starts[this.starts.length - 1] + r.tokens);
      }
      if (splitMeta.masks) {
        if (splitMeta.masks.length !== splitMeta.shards.length) throw new TernlmError(`${dir}/meta.json lists ${splitMeta.masks.length} mask shards for ${splitMeta.shards.length} token shards in the ${split} split — re-run ternlm prepare --chat`);
        splitMeta.masks.forEach((m, i) => this.maskReaders.push(open(m.file, splitMeta.shards[i].tokens)));
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.tokens = this.starts[this.starts.length - 1];
  }

  /** Token and byte counts of this split, for bits per byte (see `bitsPerByte`). */
  get splitMeta(): SplitMeta {
    return this.meta.splits[this.split];
  }

  /**
   * The next B windows of T + 1 tokens, as one (B, T+1) row-major array: row b holds the
   * inputs in [0, T) and, shifted by one, the targets in [1, T]. T may change between calls.
   * Pass `out` (length ≥ B·(T+1)) to reuse a buffer. Chat data (`masked`) also fills `scored`
   * (length ≥ B·(T+1)) with the same windows of its mask: 1 where a token is a target of the loss.
   */
  next(B: number, T: number, out?: Int32Array, scored?: Uint8Array): Int32Array {
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new RangeError(`batch size and sequence length must be positive integers, got B=${B}, T=${T}`);
    const row = T + 1;
    if (row > this.tokens) throw new TernlmError(`sequence length ${T} needs ${row} tokens but the ${this.split} split has only ${this.tokens}`);
    out ??= new Int32Array(B * row);
    if (out.length < B * row) throw new RangeError(`output buffer holds ${out.length} tokens, the batch needs ${B * row}`);
    if (this.masked && !(scored && scored.length >= B * row)) throw new RangeError(`chat data needs a mask buffer of ${B * row} entries`);
    const maskOut = this.masked ? scored : undefined;
    if (this.mode === 'random') {
      const span = this.tokens - T; // window starts in [0, tokens - T - 1]
      for (let b = 0; b < B; b++) {
        const start = this.drawStart(span);
        this.readRange(this.readers, start, row, out, b * row);
        if (maskOut) this.readRange(this.maskReaders, start, row, maskOut, b * row);
      }
    } else {
      // Consecutive windows overlap by one token: the last target of a row is the next row's first input.
      const need = B * T + 1;
      if (need > this.tokens) throw new TernlmError(`a sequential batch of ${B}×${T} needs ${need} tokens but the ${this.split} split has only ${this.tokens}`);
      if (this.position + need > this.tokens) this.position = 0;
      if (this.scratch.length < need) this.scratch = new Int32Array(need);
      this.readRange(this.readers, this.position, need, this.scratch, 0);
      for (let b = 0; b < B; b++) out.set(this.scratch.subarray(b * T, b * T + row), b * row);
      if (maskOut) {
        this.readRange(this.maskReaders, this.position, need, this.scratch, 0);
        for (let b = 0; b < B; b++) maskOut.set(this.scratch.subarray(b * T, b * T + row), b * row);
      }
      this.position += B * T;
    }
    return out;
  }

  /** Uniform integer in [0, n); two draws when n exceeds 32 bits. */
  private drawStart(n: number): number {
    if (n <= 0x100000000) return Math.floor((this.rng.nextU32() / 0x100000000) * n);
    const x = this.rng.nextU32() * 0x200000 + (this.rng.nextU32() >>> 11);
    return Math.floor((x / 2 ** 53) * n);
  }

  /** Copy stream tokens [start, start + count) of `readers` (tokens or masks) into out[at ..], crossing shard boundaries. */
  private readRange(readers: ShardReader[], start: number, count: number, out: Int32Array | Uint8Array, at: number): void {
    let shard = this.shardOf(start);
    let offset = start - this.starts[shard];
    while (count > 0) {
      const n = Math.min(count, readers[shard].tokens - offset);
      readers[shard].read(offset, n, out, at);
      at += n;
      count -= n;
      shard++;
      offset = 0;
    }
  }

  /** Index of the shard holding stream position p (binary search over starts). */
  private shardOf(p: number): number {
    let lo = 0;
    let hi = this.readers.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  state(): LoaderState {
    const shard = this.position >= this.tokens ? this.readers.length - 1 : this.shardOf(this.position);
    return { split: this.split, mode: this.mode, shard, offset: this.position - this.starts[shard], rng: Array.from(this.rng.state()) };
  }

  restore(state: LoaderState): void {
    if (state.split !== this.split || state.mode !== this.mode) {
      throw new TernlmError(`loader state is for the ${state.split} split in ${state.mode} mode, this loader reads ${this.split} in ${this.mode} mode`);
    }
    if (!(state.shard >= 0 && state.shard < this.readers.length) || !(state.offset >= 0 && state.offset <= this.readers[state.shard].tokens) || state.rng?.length !== 4) {
      throw new TernlmError(`loader state ${JSON.stringify({ shard: state.shard, offset: state.offset })} does not fit this dataset (${this.readers.length} shards) — was it saved for different data?`);
    }
    this.position = this.starts[state.shard] + state.offset;
    this.rng = new Rng(Uint32Array.from(state.rng));
  }

  /** Back to the start: sequential position 0 and the seed's first draw. */
  reset(): void {
    this.position = 0;
    this.rng = new Rng(this.seed);
  }

  close(): void {
    for (const r of [...this.readers, ...this.maskReaders]) r.close();
  }
}
