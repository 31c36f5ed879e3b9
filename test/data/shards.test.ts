import assert from 'node:assert/strict';
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { dtypeForVocab, readShardHeader, SHARD_HEADER_BYTES, ShardReader, ShardWriter } from '../../src/data/shards.js';
import { tempDir } from './fixtures.js';

function writeShard(path: string, tokens: number[], vocabSize: number, bufferTokens = 7): void {
  const w = new ShardWriter(path, { vocabSize, bufferTokens });
  // Several writes of uneven sizes exercise the write buffer.
  w.write(tokens, 0, 3);
  w.write(tokens, 3);
  assert.equal(w.close(), tokens.length);
}

describe('token shards', () => {
  it('write and read back uint16 tokens in llm.c layout', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'train_000.bin');
      const tokens = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 50257);
      writeShard(path, tokens, 50257);
      const raw = readFileSync(path);
      assert.equal(raw.length, SHARD_HEADER_BYTES + 2 * tokens.length);
      assert.deepEqual([raw.readInt32LE(0), raw.readInt32LE(4), raw.readInt32LE(8)], [20240520, 1, 1000]);
      assert.equal(raw.readUInt16LE(SHARD_HEADER_BYTES + 2 * 999), tokens[999]);
      assert.deepEqual(readShardHeader(path), { magic: 20240520, version: 1, tokens: 1000, dtype: 'uint16', tokenBytes: 2 });
      const r = new ShardReader(path);
      const out = new Int32Array(10);
      r.read(995, 5, out, 5);
      assert.deepEqual([...out.subarray(5)], tokens.slice(995));
      assert.throws(() => r.read(996, 5, out), RangeError);
      r.close();
      assert.deepEqual(readdirSync(dir), ['train_000.bin'], 'no temp file left behind');
    } finally {
      cleanup();
    }
  });

  it('switch to magic 20240801 / version 7 uint32 tokens above 65,536 ids', () => {
    assert.equal(dtypeForVocab(65536), 'uint16');
    assert.equal(dtypeForVocab(65537), 'uint32');
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'big.bin');
      const tokens = [0, 65535, 65536, 100000, 200063, 7];
      writeShard(path, tokens, 200064);
      const h = readShardHeader(path);
      assert.deepEqual([h.magic, h.version, h.dtype, h.tokens], [20240801, 7, 'uint32', 6]);
      const out = new Int32Array(6);
      new ShardReader(path).read(0, 6, out);
      assert.deepEqual([...out], tokens);
    } finally {
      cleanup();
    }
  });

  it('reject wrong magic, unknown version and truncated bodies with the file name', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'train_003.bin');
      writeShard(path, Array.from({ length: 100 }, (_, i) => i), 1000);
      const good = readFileSync(path);

      const wrongMagic = Buffer.from(good);
      wrongMagic.writeInt32LE(12345, 0);
      writeFileSync(path, wrongMagic);
      assert.throws(() => readShardHeader(path), (e: Error) => e instanceof TernlmError && /train_003\.bin is not a token shard \(magic 12345/.test(e.message));

      const wrongVersion = Buffer.from(good);
      wrongVersion.writeInt32LE(3, 4);
      writeFileSync(path, wrongVersion);
      assert.throws(() => new ShardReader(path), /unknown version 3/);

      writeFileSync(path, good);
      truncateSync(path, SHARD_HEADER_BYTES + 2 * 60);
      assert.throws(() => readShardHeader(path), (e: Error) => e instanceof TernlmError && e.message.includes('train_003.bin is truncated (expected 100 tokens, found 60)'));

      truncateSync(path, 100);
      assert.throws(() => readShardHeader(path), /shorter than its 1024-byte header/);
      assert.throws(() => readShardHeader(join(dir, 'nope.bin')), /cannot open shard/);
    } finally {
      cleanup();
    }
  });

  it('abort leaves no file behind', () => {
    const { dir, cleanup } = tempDir();
    try {
      const w = new ShardWriter(join(dir, 'x.bin'), { vocabSize: 10 });
      w.write([1, 2, 3]);
      w.abort();
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      cleanup();
    }
  });
});
