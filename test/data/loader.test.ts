import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { BatchLoader } from '../../src/data/loader.js';
import { bitsPerByte, stringifyMeta, type DatasetMeta } from '../../src/data/meta.js';
import { ShardWriter } from '../../src/data/shards.js';
import { tempDir } from './fixtures.js';

/**
 * A synthetic dataset whose token at stream position p is p % 1000, in three train shards of
 * uneven size, so every window's content tells where it came from.
 */
function writeDataset(dir: string): number {
  const sizes = [1000, 1500, 700];
  let p = 0;
  const shards = sizes.map((n, i) => {
    const file = `train_00${i}.bin`;
    const w = new ShardWriter(join(dir, file), { vocabSize: 1000 });
    w.write(Array.from({ length: n }, () => p++ % 1000));
    return { file, tokens: w.close() };
  });
  const v = new ShardWriter(join(dir, 'val_000.bin'), { vocabSize: 1000 });
  v.write(Array.from({ length: 50 }, (_, i) => i));
  const total = p;
  const meta: DatasetMeta = {
    format: 'ternlm-shards',
    version: 1,
    tokenizer: { spec: 'synthetic', kind: 'synthetic', json: {} },
    vocabSize: 1000,
    eotId: 999,
    dtype: 'uint16',
    splits: {
      train: { shards, tokens: total, bytes: 4 * total, documents: 3 },
      val: { shards: [{ file: 'val_000.bin', tokens: v.close() }], tokens: 50, bytes: 200, documents: 1 },
    },
    options: { valFraction: 0.01, textField: 'text', lowercase: false, collapseBlankLines: false, separator: 'auto', shardTokens: 1500 },
    sources: [],
  };
  writeFileSync(join(dir, 'meta.json'), stringifyMeta(meta));
  return total;
}

/** Each row must be T+1 consecutive stream positions (mod 1000). */
function assertConsecutive(batch: Int32Array, B: number, T: number): number[] {
  const starts: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = batch.subarray(b * (T + 1), (b + 1) * (T + 1));
    for (let t = 1; t <= T; t++) assert.equal(row[t], (row[0] + t) % 1000, `row ${b} breaks at ${t}`);
    starts.push(row[0]);
  }
  return starts;
}

describe('BatchLoader', () => {
  let dir = '';
  let cleanup = (): void => {};
  let total = 0;
  before(() => {
    ({ dir, cleanup } = tempDir());
    total = writeDataset(dir);
  });
  after(() => cleanup());

  it('random mode: windows of consecutive tokens, deterministic by seed, crossing shards', () => {
    const a = new BatchLoader(dir, 'train', { seed: 7, mode: 'random' });
    const b = new BatchLoader(dir, 'train', { seed: 7, mode: 'random' });
    const c = new BatchLoader(dir, 'train', { seed: 8, mode: 'random' });
    assert.equal(a.tokens, total);
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const x = a.next(8, 64);
      assert.equal(x.length, 8 * 65);
      assert.deepEqual(x, b.next(8, 64));
      for (const s of assertConsecutive(x, 8, 64)) seen.add(s);
    }
    assert.notDeepEqual(a.next(8, 64), c.next(8, 64));
    assert.ok(seen.size > 300, 'starts are spread out');
    a.close();
    b.close();
    c.close();
  });

  it('sequential mode walks the stream in order, rows overlapping by one token, and wraps', () => {
    const l = new BatchLoader(dir, 'train', { seed: 1, mode: 'sequential' });
    const x = l.next(4, 100);
    assert.deepEqual(assertConsecutive(x, 4, 100), [0, 100, 200, 300]);
    const y = l.next(2, 600); // crosses from shard 0 into shard 1
    assert.deepEqual(assertConsecutive(y, 2, 600), [400, 1000 % 1000]);
    assert.deepEqual(l.state(), { split: 'train', mode: 'sequential', shard: 1, offset: 600, rng: l.state().rng });
    const z = l.next(1, 1700); // 1600 + 1701 > 3200 tokens: wraps to the start
    assert.deepEqual(assertConsecutive(z, 1, 1700), [0]);
    l.close();
  });

  it('state/restore gives the identical next batch, for both modes and varying T', () => {
    for (const mode of ['random', 'sequential'] as const) {
      const l = new BatchLoader(dir, 'train', { seed: 3, mode });
      l.next(4, 32);
      l.next(2, 200);
      const saved = JSON.parse(JSON.stringify(l.state()));
      const want = [l.next(3, 16), l.next(3, 128), l.next(1, 1000)];
      const r = new BatchLoader(dir, 'train', { seed: 999, mode });
      r.restore(saved);
      assert.deepEqual([r.next(3, 16), r.next(3, 128), r.next(1, 1000)], want, mode);
      l.reset();
      const fresh = new BatchLoader(dir, 'train', { seed: 3, mode });
      assert.deepEqual(l.next(4, 32), fresh.next(4, 32));
      for (const x of [l, r, fresh]) x.close();
    }
  });

  it('reuses an output buffer and checks sizes', () => {
    const l = new BatchLoader(dir, 'val', { seed: 1, mode: 'sequential' });
    const buf = new Int32Array(2 * 11);
    assert.equal(l.next(2, 10, buf), buf);
    assert.deepEqual([...buf.subarray(0, 11)], Array.from({ length: 11 }, (_, i) => i));
    assert.throws(() => l.next(3, 10, buf), RangeError);
    assert.throws(() => l.next(1, 50), (e: Error) => e instanceof TernlmError && /needs 51 tokens/.test(e.message));
    assert.throws(() => new BatchLoader(dir, 'train', { seed: 1, mode: 'random' }).restore({ ...l.state() }), /val split in sequential mode/);
    assert.ok(Math.abs(bitsPerByte(Math.LN2, l.splitMeta) - 50 / 200) < 1e-12);
    l.close();
  });

  it('fails clearly on a missing meta.json or a shard that disagrees with it', () => {
    const { dir: empty, cleanup: done } = tempDir();
    try {
      assert.throws(() => new BatchLoader(empty, 'train', { seed: 1, mode: 'random' }), /meta\.json not found/);
      writeDataset(empty);
      const w = new ShardWriter(join(empty, 'train_001.bin'), { vocabSize: 1000 });
      w.write([1, 2, 3]);
      w.close();
      assert.throws(() => new BatchLoader(empty, 'train', { seed: 1, mode: 'random' }), /train_001\.bin holds 3 tokens but meta\.json says 1,500/);
    } finally {
      done();
    }
  });
});
