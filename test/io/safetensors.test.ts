import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import {
  bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, openSafetensors, writeSafetensors, type TensorToWrite,
} from '../../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'ternlm-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file built by hand: 8-byte length, the header text as given (unpadded), then `data`. */
function rawFile(name: string, header: string, data: Uint8Array = new Uint8Array(0)): string {
  const json = new TextEncoder().encode(header);
  const buf = new Uint8Array(8 + json.length + data.length);
  new DataView(buf.buffer).setBigUint64(0, BigInt(json.length), true);
  buf.set(json, 8);
  buf.set(data, 8 + json.length);
  const path = join(dir, name);
  writeFileSync(path, buf);
  return path;
}

function throwsTernlm(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TernlmError, `expected a TernlmError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('safetensors', () => {
  it('round-trips every dtype, shapes (scalar and empty included) and metadata', () => {
    const f32 = Float32Array.from([1.5, -2.25, 3e-8, 65504, -0, 7]);
    const i32 = Int32Array.from([-2147483648, 2147483647, 0, 42]);
    const i16 = Int16Array.from([-32768, 32767, -1]);
    const u8 = Uint8Array.from([0, 255, 128, 7, 9]);
    const i8 = Int8Array.from([-128, 127, -1]);
    const f16 = f32ToF16(Float32Array.from([1, -0.5, 0.0999755859375]));
    const bf16 = f32ToBf16(Float32Array.from([1, -3, 0.15625, 1e30]));
    const tensors: TensorToWrite[] = [
      { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: f32 },
      { name: 'b.i32', dtype: 'I32', shape: [4], data: i32 },
      { name: 'c.i16', dtype: 'I16', shape: [3, 1], data: i16 },
      { name: 'd.u8', dtype: 'U8', shape: [5], data: u8 },
      { name: 'e.i8', dtype: 'I8', shape: [3], data: i8 },
      { name: 'f.f16', dtype: 'F16', shape: [3], data: f16 },
      { name: 'g.bf16', dtype: 'BF16', shape: [2, 2], data: bf16 },
      { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.from([9.75]) },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    ];
    const meta = { step: '120', config: JSON.stringify({ d: 64, name: 'x "quoted" ✓' }) };
    const path = join(dir, 'round.safetensors');
    const { bytes } = writeSafetensors(path, tensors, meta);
    assert.equal(statSync(path).size, bytes);
    // No temp file is left beside the target.
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);

    const raw = readFileSync(path);
    const headerLen = Number(raw.readBigUInt64LE(0));
    assert.equal(headerLen % 8, 0, 'header padded to a multiple of 8');
    assert.equal(raw.subarray(8, 8 + headerLen).toString().trimEnd().endsWith('}'), true);

    const st = openSafetensors(path);
    try {
      assert.deepEqual({ ...st.metadata }, meta);
      assert.deepEqual(st.tensors.map((t) => t.name), tensors.map((t) => t.name));
      for (const t of tensors) {
        const r = st.read(t.name);
        assert.equal(r.dtype, t.dtype);
        assert.deepEqual([...r.shape], [...t.shape]);
        const want = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        assert.deepEqual(r.data, want, t.name);
      }
      assert.deepEqual(st.readF32('a.f32'), f32);
      assert.deepEqual(Array.from(st.readF32('f.f16')), [1, -0.5, 0.0999755859375]);
      assert.deepEqual(Array.from(st.readF32('g.bf16')), [1, -3, 0.15625, Array.from(bf16ToF32(bf16))[3]]);
      assert.equal(st.readF32('scalar')[0], 9.75);
      const out = new Float32Array(6);
      assert.equal(st.readF32('a.f32', out), out);
      throwsTernlm(() => st.readF32('b.i32'), /'b\.i32' is I32, not a float tensor/);
      throwsTernlm(() => st.read('nope'), /has no tensor 'nope' \(it has: a\.f32, b\.i32/);
    } finally {
      st.close();
    }
  });

  it('reads a file written without metadata and with unaligned header length', () => {
    const data = new Uint8Array(Float32Array.from([1, 2, 3]).buffer);
    const path = rawFile('plain.safetensors', '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}', data);
    const st = openSafetensors(path);
    assert.deepEqual({ ...st.metadata }, {});
    assert.deepEqual(Array.from(st.readF32('w')), [1, 2, 3]);
    st.close();
  });

  it('names the tensor and byte counts when the file is truncated', () => {
    const path = join(dir, 'trunc.safetensors');
    const big = new Float32Array(1024);
    writeSafetensors(path, [
      { name: 'embed.weight', dtype: 'F32', shape: [16, 16], data: big.subarray(0, 256) },
      { name: 'head.weight', dtype: 'F32', shape: [32, 24], data: big.subarray(0, 768) },
    ]);
    const full = statSync(path).size;
    truncateSync(path, full - 100);
    throwsTernlm(() => openSafetensors(path), new RegExp(`trunc\\.safetensors is truncated: tensor 'head\\.weight' ends at byte ${full.toLocaleString('en-US')} but the file has ${(full - 100).toLocaleString('en-US')}`));
  });

  it('rejects short files, lengths past the end, bad JSON and inconsistent entries', () => {
    const tiny = join(dir, 'tiny.safetensors');
    writeFileSync(tiny, Uint8Array.from([1, 2, 3]));
    throwsTernlm(() => openSafetensors(tiny), /tiny\.safetensors is not a safetensors file: it has 3 bytes/);

    const longHeader = join(dir, 'long.safetensors');
    const b = Buffer.alloc(20);
    b.writeBigUInt64LE(1000n, 0);
    writeFileSync(longHeader, b);
    throwsTernlm(() => openSafetensors(longHeader), /long\.safetensors is truncated or not a safetensors file: its header length is 1,000 bytes but the file has 20/);

    throwsTernlm(() => openSafetensors(rawFile('badjson.safetensors', '{"w": {"dtype": "F32", ')), /badjson\.safetensors is not a safetensors file: its header is not valid JSON/);
    throwsTernlm(() => openSafetensors(rawFile('notobj.safetensors', '[1,2]')), /does not start with '\{'/);
    throwsTernlm(() => openSafetensors(rawFile('dtype.safetensors', '{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', new Uint8Array(8))),
      /dtype\.safetensors: tensor 'w' has dtype 'F64', which ternlm does not read/);
    throwsTernlm(() => openSafetensors(rawFile('size.safetensors', '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}', new Uint8Array(16))),
      /size\.safetensors has a corrupt header: tensor 'w' \(F32 \[2, 2\]\) needs 16 bytes but its data_offsets span 12/);
    throwsTernlm(() => openSafetensors(rawFile('overlap.safetensors',
      '{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}', new Uint8Array(12))),
      /overlap\.safetensors has a corrupt header: tensors 'a' and 'b' overlap/);
    throwsTernlm(() => openSafetensors(rawFile('offs.safetensors', '{"a":{"dtype":"U8","shape":[2],"data_offsets":[4,2]}}', new Uint8Array(4))),
      /offs\.safetensors has a corrupt header: tensor 'a' has data_offsets \[4,2\]/);
    throwsTernlm(() => openSafetensors(rawFile('meta.safetensors', '{"__metadata__":{"step":3}}')), /metadata 'step' is not a string/);
    throwsTernlm(() => openSafetensors(join(dir, 'missing.safetensors')), /cannot open .*missing\.safetensors: no such file/);
  });

  it('refuses to write inconsistent tensors', () => {
    const path = join(dir, 'bad-write.safetensors');
    throwsTernlm(() => writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [3], data: new Float32Array(2) }]), /'w' \(F32 \[3\]\) needs 12 bytes, got 8/);
    throwsTernlm(() => writeSafetensors(path, [
      { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
      { name: 'w', dtype: 'U8', shape: [1], data: new Uint8Array(1) },
    ]), /'w' appears twice/);
    assert.throws(() => statSync(path), /ENOENT/);
  });
});

describe('half-precision conversion', () => {
  it('decodes known f16 bit patterns', () => {
    const bits = Uint16Array.from([0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x7c00, 0xfc00, 0x7e00]);
    const want = [0, -0, 1, -2, 65504, 2 ** -24, 2 ** -14, 0.333251953125, Infinity, -Infinity, NaN];
    const got = Array.from(f16ToF32(bits));
    assert.deepEqual(got, want);
  });

  it('encodes f32 to f16 with round-to-nearest-even, subnormals and overflow', () => {
    const xs = Float32Array.from([1, -2, 65504, 65520, 1e-8, 2 ** -24, 3 * 2 ** -25, 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, NaN]);
    const got = Array.from(f32ToF16(xs)).map((h) => h.toString(16));
    // 65520 rounds up past the largest half; 2^-25 ties to even (0); 1+2^-11 ties to 1, 1+3*2^-11 to 1+2^-9.
    assert.deepEqual(got, ['3c00', 'c000', '7bff', '7c00', '0', '1', '2', '0', '3c00', '3c02', '2e66', '7e00']);
    // Every finite half survives f16 -> f32 -> f16 exactly.
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ToF16(f16ToF32(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!isNaN) assert.equal(back[h], h, `half 0x${h.toString(16)}`);
    }
  });

  it('converts bf16 both ways with known values', () => {
    const bits = Uint16Array.from([0x3f80, 0xc040, 0x3e20, 0x7f80, 0x0000, 0x4049]);
    assert.deepEqual(Array.from(bf16ToF32(bits)), [1, -3, 0.15625, Infinity, 0, 3.140625]);
    // pi = 0x40490fdb: the discarded half 0x0fdb is below the midpoint, so it truncates to 0x4049;
    // 1 + 2^-8 (0x3f808000) is a tie and rounds to even 0x3f80; 1 + 3*2^-8 ties up to 0x3f82.
    const enc = f32ToBf16(Float32Array.from([Math.PI, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, NaN]));
    assert.deepEqual(Array.from(enc).map((h) => h.toString(16)), ['4049', '3f80', '3f82', '8000', '7fc0']);
  });
});
