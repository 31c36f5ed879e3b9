import { open } from 'node:fs/promises';
import { TernlmError } from '../core/errors.js';

/**
 * Index of the first byte of `bytes` that does not start a well-formed UTF-8 sequence
 * (rejecting overlongs, surrogates and code points above U+10FFFF), or -1 if all are valid.
 * An incomplete sequence at the very end counts as invalid.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + need >= n) return i; // truncated sequence
    const c1 = bytes[i + 1];
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= need; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return -1;
}

/** Length of the longest prefix of `bytes` that does not end inside a multi-byte sequence. */
function completePrefixLength(bytes: Uint8Array): number {
  const n = bytes.length;
  // A sequence is at most 4 bytes: look back at most 3 bytes for its lead byte.
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = bytes[n - back];
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return len > back ? n - back : n;
  }
  return n;
}

/**
 * Decodes a file's bytes chunk by chunk into strings, strictly: a byte sequence that is not
 * UTF-8 raises a TernlmError naming the file and the byte offset. A sequence split across
 * chunks is carried into the next one; a leading byte-order mark is dropped.
 */
export class Utf8ChunkDecoder {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  private carry: Uint8Array = new Uint8Array(0);
  /** File offset of the first byte of `carry`. */
  private offset = 0;

  constructor(readonly file: string) {}

  decode(chunk: Uint8Array, final = false): string {
    let bytes = chunk;
    if (this.carry.length > 0) {
      bytes = new Uint8Array(this.carry.length + chunk.length);
      bytes.set(this.carry);
      bytes.set(chunk, this.carry.length);
    }
    const end = final ? bytes.length : completePrefixLength(bytes);
    const body = bytes.subarray(0, end);
    let text: string;
    try {
      text = this.decoder.decode(body, { stream: !final });
    } catch {
      const bad = firstInvalidUtf8(body);
      const at = this.offset + Math.max(0, bad);
      throw new TernlmError(`${this.file} is not valid UTF-8 at byte ${at.toLocaleString('en-US')} — convert it to UTF-8 first (e.g. iconv -f <encoding> -t utf-8, or iconv -c to drop bad bytes)`);
    }
    this.offset += end;
    this.carry = bytes.slice(end);
    return text;
  }
}

/** Decoded text of a file, chunk by chunk; reports bytes consumed through `onBytes`. */
export async function* readTextChunks(path: string, opts: { chunkBytes?: number; onBytes?: (n: number) => void } = {}): AsyncGenerator<string> {
  const fh = await open(path, 'r');
  try {
    const decoder = new Utf8ChunkDecoder(path);
    const buf = new Uint8Array(opts.chunkBytes ?? 1 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const text = decoder.decode(buf.subarray(0, bytesRead));
      opts.onBytes?.(bytesRead);
      if (text.length > 0) yield text;
    }
    const tail = decoder.decode(new Uint8Array(0), true);
    if (tail.length > 0) yield tail;
  } finally {
    await fh.close();
  }
}
