import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { tempPathFor } from '../io/atomic.js';

/**
 * Token shards in llm.c's layout: a 256 × int32 little-endian header
 * (magic, version, token count, then zeros) followed by the tokens:
 *   magic 20240520, version 1: uint16 tokens (vocabularies up to 65,536)
 *   magic 20240801, version 7: uint32 tokens (larger vocabularies)
 */
export const SHARD_HEADER_INTS = 256;
export const SHARD_HEADER_BYTES = SHARD_HEADER_INTS * 4;
export const SHARD_U16 = { magic: 20240520, version: 1 } as const;
export const SHARD_U32 = { magic: 20240801, version: 7 } as const;

export type TokenDtype = 'uint16' | 'uint32';

export interface ShardHeader {
  magic: number;
  version: number;
  tokens: number;
  dtype: TokenDtype;
  /** Bytes per token: 2 or 4. */
  tokenBytes: number;
}

/** The token type a vocabulary needs. */
export function dtypeForVocab(vocabSize: number): TokenDtype {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Read and validate a shard's header, and check that the file holds all its tokens. */
export function readShardHeader(path: string): ShardHeader {
  const fd = openOrThrow(path);
  try {
    return readHeaderFd(fd, path);
  } finally {
    closeSync(fd);
  }
}

function openOrThrow(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new TernlmError(`cannot open shard ${path} (${code ?? (err as Error).message}) — re-run ternlm prepare`);
  }
}

function readHeaderFd(fd: number, path: string): ShardHeader {
  const size = fstatSync(fd).size;
  if (size < SHARD_HEADER_BYTES) {
    throw new TernlmError(`shard ${path} is truncated (${fmt(size)} bytes, shorter than its ${SHARD_HEADER_BYTES}-byte header) — re-run ternlm prepare`);
  }
  const head = Buffer.alloc(12);
  readSync(fd, head, 0, 12, 0);
  const magic = head.readInt32LE(0);
  const version = head.readInt32LE(4);
  const tokens = head.readUInt32LE(8);
  let dtype: TokenDtype;
  if (magic === SHARD_U16.magic) {
    if (version !== SHARD_U16.version) throw new TernlmError(`shard ${path} has unknown version ${version} for magic ${magic} (expected ${SHARD_U16.version}) — re-run ternlm prepare`);
    dtype = 'uint16';
  } else if (magic === SHARD_U32.magic) {
    if (version !== SHARD_U32.version) throw new TernlmError(`shard ${path} has unknown version ${version} for magic ${magic} (expected ${SHARD_U32.version}) — re-run ternlm prepare`);
    dtype = 'uint32';
  } else {
    throw new TernlmError(`${path} is not a token shard (magic ${magic}, expected ${SHARD_U16.magic} or ${SHARD_U32.magic}) — re-run ternlm prepare`);
  }
  const tokenBytes = dtype === 'uint16' ? 2 : 4;
  const found = Math.floor((size - SHARD_HEADER_BYTES) / tokenBytes);
  if (found < tokens) {
    throw new TernlmError(`shard ${path} is truncated (expected ${fmt(tokens)} tokens, found ${fmt(found)}) — re-run ternlm prepare`);
  }
  if (size !== SHARD_HEADER_BYTES + tokens * tokenBytes) {
    throw new TernlmError(`shard ${path} has ${fmt(size - SHARD_HEADER_BYTES - tokens * tokenBytes)} bytes after its ${fmt(tokens)} tokens — re-run ternlm prepare`);
  }
  return { magic, version, tokens, dtype, tokenBytes };
}

/**
 * Streams tokens into a shard: buffered writes to a temp file beside `path`, the header
 * filled in and the file fsynced and renamed into place by `close()`. Until then `path` is
 * untouched; `abort()` removes the temp file.
 */
export class ShardWriter {
  readonly path: string;
  readonly dtype: TokenDtype;
  private readonly tmp: string;
  private fd: number;
  private buf: Uint16Array | Uint32Array;
  private fill = 0;
  private count = 0;
  /** File offset of the next token write (positioned writes do not move the fd's cursor). */
  private pos = SHARD_HEADER_BYTES;

  constructor(path: string, opts: { vocabSize: number; bufferTokens?: number }) {
    this.path = path;
    this.dtype = dtypeForVocab(opts.vocabSize);
    const n = opts.bufferTokens ?? 1 << 20;
    this.buf = this.dtype === 'uint16' ? new Uint16Array(n) : new Uint32Array(n);
    this.tmp = tempPathFor(path);
    this.fd = openSync(this.tmp, 'w');
    writeAll(this.fd, new Uint8Array(SHARD_HEADER_BYTES), 0);
  }

  /** Tokens written so far. */
  get tokens(): number {
    return this.count;
  }

  /** Append tokens; the caller guarantees every id is below the vocabulary size. */
  write(tokens: ArrayLike<number>, start = 0, end = tokens.length): void {
    if (this.fd < 0) throw new Error(`ShardWriter for ${this.path} is closed`);
    for (let i = start; i < end; ) {
      const n = Math.min(end - i, this.buf.length - this.fill);
      for (let k = 0; k < n; k++) this.buf[this.fill + k] = tokens[i + k];
      this.fill += n;
      i += n;
      if (this.fill === this.buf.length) this.flush();
    }
    this.count += end - start;
    if (this.count > 0xffffffff) throw new TernlmError(`shard ${this.path} would exceed 2^32 tokens — use a smaller --shard-tokens`);
  }

  private flush(): void {
    if (this.fill === 0) return;
    const bytes = new Uint8Array(this.buf.buffer, 0, this.fill * this.buf.BYTES_PER_ELEMENT);
    writeAll(this.fd, bytes, this.pos);
    this.pos += bytes.length;
    this.fill = 0;
  }

  /** Write the header, fsync, and rename into place. Returns the token count. */
  close(): number {
    this.flush();
    const header = new Int32Array(SHARD_HEADER_INTS);
    const v = this.dtype === 'uint16' ? SHARD_U16 : SHARD_U32;
    header[0] = v.magic;
    header[1] = v.version;
    new Uint32Array(header.buffer)[2] = this.count;
    writeAll(this.fd, new Uint8Array(header.buffer), 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tmp, this.path);
    return this.count;
  }

  /** Drop the temp file without touching `path`. */
  abort(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.tmp, { force: true });
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, position + off);
}

/**
 * Random access to a shard's tokens by positioned reads (`fs.readSync` at an offset), so
 * only the windows asked for are read, never the whole file.
 */
export class ShardReader {
  readonly path: string;
  readonly header: ShardHeader;
  private fd: number;
  private scratch = Buffer.alloc(0);

  constructor(path: string) {
    this.path = path;
    this.fd = openOrThrow(path);
    try {
      this.header = readHeaderFd(this.fd, path);
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  get tokens(): number {
    return this.header.tokens;
  }

  /** Copy tokens [start, start + count) into `out` at `outOffset`. */
  read(start: number, count: number, out: Int32Array | Uint32Array | Uint8Array | number[], outOffset = 0): void {
    if (start < 0 || count < 0 || start + count > this.header.tokens) {
      throw new RangeError(`read of tokens [${start}, ${start + count}) is outside shard ${basename(this.path)} (${this.header.tokens} tokens)`);
    }
    const tb = this.header.tokenBytes;
    const nbytes = count * tb;
    if (this.scratch.length < nbytes) this.scratch = Buffer.alloc(Math.max(nbytes, 2 * this.scratch.length));
    let got = 0;
    while (got < nbytes) {
      const n = readSync(this.fd, this.scratch, got, nbytes - got, SHARD_HEADER_BYTES + start * tb + got);
      if (n === 0) throw new TernlmError(`shard ${this.path} ended early while reading tokens [${start}, ${start + count}) — it changed on disk; re-run ternlm prepare`);
      got += n;
    }
    const s = this.scratch;
    if (tb === 2) for (let i = 0; i < count; i++) out[outOffset + i] = s[2 * i] | (s[2 * i + 1] << 8);
    else for (let i = 0; i < count; i++) out[outOffset + i] = s.readUInt32LE(4 * i);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
