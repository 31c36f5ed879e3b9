// What the files ternlm writes guarantee: a checksum per tensor and of the metadata, verified on
// every read; atomic writes that can verify the new file and keep the one they replace.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { removeStaleTemps, writeFileAtomic } from '../../src/io/atomic.js';
import { crc32 } from '../../src/io/crc32.js';
import { DamagedFileError, openSafetensors, writeSafetensors } from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'ternlm-integrity-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(path: string): void {
  writeSafetensors(path, [
    { name: 'a', dtype: 'F32', shape: [3], data: Float32Array.of(1, 2, 3) },
    { name: 'b', dtype: 'I8', shape: [2, 2], data: Int8Array.of(-1, 0, 1, 1) },
  ], { step: '12', note: JSON.stringify('hello') });
}

describe('CRC-32', () => {
  it('matches zlib on lengths that exercise the 4-byte body and the tail', () => {
    const bytes = new Uint8Array(1031).map((_, i) => (i * 131 + 7) & 0xff);
    for (const n of [0, 1, 3, 4, 5, 17, 1024, 1031]) assert.equal(crc32(bytes.subarray(0, n)), zlibCrc32(bytes.subarray(0, n)), `n=${n}`);
    assert.equal(crc32(bytes.subarray(500), crc32(bytes.subarray(0, 500))), zlibCrc32(bytes), 'continues from a running value');
  });
});

describe('safetensors checksums', () => {
  it('every byte of tensor data is covered: a flip anywhere names its tensor', () => {
    const path = join(dir, 'flip.safetensors');
    sample(path);
    const clean = readFileSync(path);
    const f = openSafetensors(path);
    const spans = f.tensors.map((t) => ({ name: t.name, begin: f.dataStart + t.begin, end: f.dataStart + t.end }));
    f.close();
    for (const { name, begin, end } of spans) {
      for (let at = begin; at < end; at++) {
        const bytes = Buffer.from(clean);
        bytes[at] ^= 0x01;
        writeFileSync(path, bytes);
        const g = openSafetensors(path);
        try {
          assert.throws(() => g.read(name), (err: unknown) => err instanceof DamagedFileError && err.message.includes(`tensor '${name}'`));
          assert.throws(() => g.verifyAll(), DamagedFileError);
        } finally {
          g.close();
        }
      }
    }
  });

  it('a change to the metadata is refused at open', () => {
    const path = join(dir, 'meta.safetensors');
    sample(path);
    const text = readFileSync(path, 'latin1').replace('"step":"12"', '"step":"13"');
    writeFileSync(path, Buffer.from(text, 'latin1'));
    assert.throws(() => openSafetensors(path), (err: unknown) => err instanceof DamagedFileError && /its metadata/.test(err.message));
  });

  it('the checksum table is hidden from metadata; files from other tools (no table) read unchecked', () => {
    const path = join(dir, 'ok.safetensors');
    sample(path);
    const f = openSafetensors(path);
    assert.deepEqual(f.metadata, { step: '12', note: '"hello"' });
    assert.equal(f.checksummed, true);
    f.verifyAll();
    f.close();
    // The same tensors with a header written the way other tools write it.
    const header = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    const buf = Buffer.alloc(8 + header.length + 4);
    buf.writeBigUInt64LE(BigInt(header.length));
    buf.write(header, 8);
    buf.writeFloatLE(5, 8 + header.length);
    const foreign = join(dir, 'foreign.safetensors');
    writeFileSync(foreign, buf);
    const g = openSafetensors(foreign);
    assert.equal(g.checksummed, false);
    assert.deepEqual(Array.from(g.readF32('a')), [5]);
    g.close();
  });
});

describe('atomic writes', () => {
  it('a failed verification leaves the target as it was and no temp file behind', () => {
    const path = join(dir, 'target.bin');
    writeFileSync(path, 'old');
    assert.throws(() => writeFileAtomic(path, [new TextEncoder().encode('new')], { verify: () => { throw new Error('bad copy'); } }), /bad copy/);
    assert.equal(readFileSync(path, 'utf8'), 'old');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  });

  it('keeps the replaced file under the name asked for', () => {
    const path = join(dir, 'kept.bin');
    writeFileAtomic(path, [new TextEncoder().encode('one')], { keepPreviousAs: `${path}.prev` });
    assert.ok(!existsSync(`${path}.prev`), 'nothing to keep the first time');
    writeFileAtomic(path, [new TextEncoder().encode('two')], { keepPreviousAs: `${path}.prev` });
    assert.equal(readFileSync(path, 'utf8'), 'two');
    assert.equal(readFileSync(`${path}.prev`, 'utf8'), 'one');
  });

  it('removes temp files of writers that no longer run, and only those', () => {
    const sub = mkdtempSync(join(dir, 'temps-'));
    const dead = join(sub, '.x.bin.4194000.1.tmp');
    const mine = join(sub, `.x.bin.${process.pid}.1.tmp`);
    const other = join(sub, 'notes.tmp');
    for (const p of [dead, mine, other]) writeFileSync(p, 'x');
    assert.deepEqual(removeStaleTemps(sub), [dead]);
    assert.ok(existsSync(mine) && existsSync(other));
  });
});
