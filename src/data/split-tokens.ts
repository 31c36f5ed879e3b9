// Reading a prepared split's tokens in order, in chunks (for statistics over the training data:
// token counts for frequency-based heads, co-occurrences for embedding initialisation; and for
// `ternlm eval` of a prepared split).
import { join } from 'node:path';
import { readMeta } from './meta.js';
import { ShardReader } from './shards.js';

/**
 * The first `limit` tokens of a split, as consecutive chunks of at most 2^20 tokens read into
 * one reused buffer (valid until the next chunk).
 */
export function* splitTokenChunks(dataDir: string, split: 'train' | 'val', limit: number): Generator<Int32Array> {
  const meta = readMeta(dataDir);
  const buffer = new Int32Array(Math.min(1 << 20, Math.max(1, limit)));
  let left = limit;
  for (const s of meta.splits[split].shards) {
    const r = new ShardReader(join(dataDir, s.file));
    try {
      for (let start = 0; start < r.tokens && left > 0; start += buffer.length) {
        const n = Math.min(buffer.length, r.tokens - start, left);
        r.read(start, n, buffer);
        left -= n;
        yield buffer.subarray(0, n);
      }
    } finally {
      r.close();
    }
  }
}

/** Token frequencies of (up to the first `limit` tokens of) the training split. */
export function countTokens(dataDir: string, vocabSize: number, limit = 20_000_000): number[] {
  const counts = new Array<number>(vocabSize).fill(0);
  for (const chunk of splitTokenChunks(dataDir, 'train', limit)) for (let i = 0; i < chunk.length; i++) counts[chunk[i]]++;
  return counts;
}

/** The first `limit` tokens of a split, in one array. */
export function readSplitTokens(dataDir: string, split: 'train' | 'val', limit: number): Int32Array {
  const out = new Int32Array(Math.min(limit, readMeta(dataDir).splits[split].tokens));
  let filled = 0;
  for (const chunk of splitTokenChunks(dataDir, split, out.length)) {
    out.set(chunk, filled);
    filled += chunk.length;
  }
  return out;
}
