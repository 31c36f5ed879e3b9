import assert from 'node:assert/strict';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { Gpt2Tokenizer } from '../../src/data/gpt2-tokenizer.js';
import { prepare } from '../../src/data/prepare.js';
import { readSplitTokens } from '../../src/data/split-tokens.js';
import {
  isLlmcGpt2, llmcParamNames, llmcTokenBytes, paddedVocab, readLlmcGpt2, readLlmcTokenizer, readLlmcTokens,
  writeLlmcDataset, writeLlmcGpt2, writeLlmcTokenizer, writeLlmcTokens, type LlmcGpt2Shape,
} from '../../src/io/llmc.js';
import { bf16ToF32, f32ToBf16 } from '../../src/io/safetensors.js';
import { randArray } from '../helpers.js';
import { SAMPLE_TEXT, tempDir } from '../data/fixtures.js';

const { dir, cleanup } = tempDir('ternlm-llmc-');
after(cleanup);

function throwsTernlm(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TernlmError, `expected a TernlmError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return true;
  });
}

/** A copy of the file at `path` with int32 header entry `index` set to `value`. */
function withHeaderInt(path: string, index: number, value: number, name: string): string {
  const bytes = readFileSync(path);
  bytes.writeInt32LE(value, 4 * index);
  const out = join(dir, name);
  writeFileSync(out, bytes);
  return out;
}

const bf16Bits = (x: number): number => f32ToBf16(Float32Array.of(x))[0];
const bitsToF32 = (bits: number): number => new Float32Array(Uint32Array.of(bits).buffer)[0];

// V = 100 pads to Vp = 128: 28 rows of zeros after the embedding.
const SHAPE: LlmcGpt2Shape = { maxSeqLen: 16, vocabSize: 100, paddedVocabSize: 128, layers: 2, heads: 2, channels: 8 };

/** ternlm's shape of each parameter, written out here independently of the module's table. */
function shapeOf(name: string, s: LlmcGpt2Shape): number[] {
  const C = s.channels;
  if (name === 'embed.weight') return [s.vocabSize, C];
  if (name === 'pos_embed.weight') return [s.maxSeqLen, C];
  if (name.endsWith('qkv.weight')) return [3 * C, C];
  if (name.endsWith('qkv.bias')) return [3 * C];
  if (name.endsWith('fc.weight')) return [4 * C, C];
  if (name.endsWith('fc.bias')) return [4 * C];
  if (name.endsWith('mlp.proj.weight')) return [C, 4 * C];
  if (name.endsWith('attn.proj.weight')) return [C, C];
  return [C];
}

function randomParams(s: LlmcGpt2Shape, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  return new Map(llmcParamNames(s.layers).map((n) => [n, randArray(shapeOf(n, s).reduce((a, b) => a * b, 1), rng)]));
}

function writeModel(name: string, params: Map<string, Float32Array>, dtype: 'fp32' | 'bf16'): { path: string; bytes: number } {
  const path = join(dir, name);
  const { bytes } = writeLlmcGpt2(path, SHAPE, (n) => params.get(n)!, dtype);
  return { path, bytes };
}

describe('bf16 rounding', () => {
  it('rounds to nearest, ties to even, and keeps NaN, infinities and signed zero', () => {
    assert.equal(bf16Bits(1), 0x3f80);
    assert.equal(bf16Bits(1 + 2 ** -8), 0x3f80, 'a tie rounds down to the even 0x3f80');
    assert.equal(bf16Bits(1 + 3 * 2 ** -8), 0x3f82, 'a tie rounds up to the even 0x3f82');
    assert.equal(bf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81, 'just above a tie rounds up');
    assert.equal(bf16Bits(-(1 + 2 ** -8 + 2 ** -20)), 0xbf81);
    assert.equal(bf16Bits(Infinity), 0x7f80);
    assert.equal(bf16Bits(-Infinity), 0xff80);
    assert.equal(bf16Bits(-0), 0x8000);
    assert.equal(bf16Bits(bitsToF32(0x7f7fffff)), 0x7f80, 'the largest f32 rounds to infinity');
    for (const nanBits of [0x7fc00000, 0x7f800001, 0xffffffff]) {
      const b = bf16Bits(bitsToF32(nanBits));
      assert.ok(Number.isNaN(bf16ToF32(Uint16Array.of(b))[0]), `NaN 0x${nanBits.toString(16)} stays NaN (got 0x${b.toString(16)})`);
    }
    assert.deepEqual(Array.from(bf16ToF32(Uint16Array.of(0x3f81, 0xc000))), [1 + 2 ** -7, -2]);
  });
});

describe('llm.c GPT-2 checkpoints', () => {
  it('pads the vocabulary to a multiple of 128 and lists names in file order', () => {
    assert.deepEqual([1, 100, 128, 129, 50257].map(paddedVocab), [128, 128, 128, 256, 50304]);
    const names = llmcParamNames(2);
    assert.equal(names.length, 2 + 12 * 2 + 2);
    assert.deepEqual(names.slice(0, 6), ['embed.weight', 'pos_embed.weight', 'blocks.0.ln1.weight', 'blocks.1.ln1.weight', 'blocks.0.ln1.bias', 'blocks.1.ln1.bias']);
    assert.deepEqual(names.slice(-2), ['norm_out.weight', 'norm_out.bias']);
  });

  it('round-trips fp32 bit for bit, with zero padding rows', () => {
    const params = randomParams(SHAPE, 1);
    const { path, bytes } = writeModel('fp32.bin', params, 'fp32');
    const file = readFileSync(path);
    assert.equal(file.length, bytes);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    const C = SHAPE.channels;
    const pad = file.subarray(1024 + 4 * SHAPE.vocabSize * C, 1024 + 4 * SHAPE.paddedVocabSize * C);
    assert.equal(pad.length, 4 * 28 * C);
    assert.ok(pad.every((b) => b === 0), 'padded rows are zero');

    const got = readLlmcGpt2(path);
    assert.equal(got.dtype, 'fp32');
    assert.deepEqual(got.shape, SHAPE);
    assert.deepEqual([...got.tensors.keys()], llmcParamNames(2));
    for (const [name, data] of params) {
      const t = got.tensors.get(name)!;
      assert.deepEqual(t.shape, shapeOf(name, SHAPE), name);
      assert.deepEqual(new Uint32Array(t.data.buffer), new Uint32Array(data.buffer), name);
    }
    assert.ok(isLlmcGpt2(file.subarray(0, 8)));
    assert.ok(!isLlmcGpt2(new Uint8Array(8)));
    assert.ok(!isLlmcGpt2(file.subarray(0, 3)));
  });

  it('round-trips bf16 as the bf16 rounding of every value', () => {
    const params = randomParams(SHAPE, 2);
    params.get('blocks.1.ln2.bias')!.set([1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, Infinity]);
    const { path, bytes } = writeModel('bf16.bin', params, 'bf16');
    const file = readFileSync(path);
    assert.equal(file.length, bytes);
    assert.equal(file.readInt32LE(4), 5);
    assert.equal(bytes, 1024 + (readFileSync(join(dir, 'fp32.bin')).length - 1024) / 2);
    const got = readLlmcGpt2(path);
    assert.equal(got.dtype, 'bf16');
    for (const [name, data] of params) {
      assert.deepEqual(got.tensors.get(name)!.data, bf16ToF32(f32ToBf16(data)), name);
    }
    assert.deepEqual(Array.from(got.tensors.get('blocks.1.ln2.bias')!.data.subarray(0, 4)), [1, 1 + 2 ** -6, -0, Infinity]);
  });

  it("puts the header and every value at llm.c's offsets", () => {
    const params = randomParams(SHAPE, 3);
    const { path } = writeModel('layout.bin', params, 'fp32');
    const file = readFileSync(path);
    const view = new DataView(file.buffer, file.byteOffset, file.length);
    const { maxSeqLen: T, vocabSize: V, paddedVocabSize: Vp, layers: L, channels: C } = SHAPE;
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => view.getInt32(4 * i, true)), [20240326, 3, T, V, L, 2, C, Vp]);
    for (let i = 8; i < 256; i++) assert.equal(view.getInt32(4 * i, true), 0, `header int ${i}`);

    // llm.c's 16 tensors as (name, floats per layer, layered), as train_gpt2.c sizes them.
    const llmc: [string, number, boolean][] = [
      ['wte', Vp * C, false], ['wpe', T * C, false], ['ln1w', C, true], ['ln1b', C, true], ['qkvw', 3 * C * C, true],
      ['qkvb', 3 * C, true], ['attprojw', C * C, true], ['attprojb', C, true], ['ln2w', C, true], ['ln2b', C, true],
      ['fcw', 4 * C * C, true], ['fcb', 4 * C, true], ['fcprojw', 4 * C * C, true], ['fcprojb', C, true], ['lnfw', C, false], ['lnfb', C, false],
    ];
    const ternlm: Record<string, string> = {
      wte: 'embed.weight', wpe: 'pos_embed.weight', ln1w: 'ln1.weight', ln1b: 'ln1.bias', qkvw: 'attn.qkv.weight', qkvb: 'attn.qkv.bias',
      attprojw: 'attn.proj.weight', attprojb: 'attn.proj.bias', ln2w: 'ln2.weight', ln2b: 'ln2.bias', fcw: 'mlp.fc.weight', fcb: 'mlp.fc.bias',
      fcprojw: 'mlp.proj.weight', fcprojb: 'mlp.proj.bias', lnfw: 'norm_out.weight', lnfb: 'norm_out.bias',
    };
    let pos = 1024;
    const starts: Record<string, number> = {};
    for (const [name, floats, layered] of llmc) {
      starts[name] = pos;
      for (let l = 0; l < (layered ? L : 1); l++) {
        const src = params.get(layered ? `blocks.${l}.${ternlm[name]}` : ternlm[name])!;
        for (let i = 0; i < floats; i++) {
          const expected = i < src.length ? src[i] : 0; // wte's padding rows
          assert.equal(view.getFloat32(pos + 4 * i, true), expected, `${name} layer ${l} element ${i}`);
        }
        pos += 4 * floats;
      }
    }
    assert.equal(pos, file.length);
    // A few landmarks by plain arithmetic.
    assert.equal(starts.qkvb, 1024 + 4 * (Vp * C + T * C + 2 * L * C + L * 3 * C * C));
    assert.equal(view.getFloat32(starts.qkvb, true), params.get('blocks.0.attn.qkv.bias')![0]);
    assert.equal(view.getFloat32(starts.qkvb + 4 * 3 * C, true), params.get('blocks.1.attn.qkv.bias')![0]);
    assert.equal(view.getFloat32(file.length - 4, true), params.get('norm_out.bias')![C - 1]);
  });

  it('refuses bad files and bad tensors with one clear error each', () => {
    const good = join(dir, 'fp32.bin');
    throwsTernlm(() => readLlmcGpt2(withHeaderInt(good, 0, 20240520, 'magic.bin')), /magic\.bin is not an llm\.c GPT-2 checkpoint \(magic 20240520, expected 20240326\)/);
    throwsTernlm(() => readLlmcGpt2(withHeaderInt(good, 1, 4, 'v4.bin')), /v4\.bin is an llm\.c GPT-2 checkpoint of version 4; only versions 3 \(fp32\) and 5 \(bf16\).*train_gpt2\.py/);
    throwsTernlm(() => readLlmcGpt2(withHeaderInt(good, 5, 3, 'heads.bin')), /heads\.bin has an implausible GPT-2 header: 8 channels do not split into 3 heads/);
    throwsTernlm(() => readLlmcGpt2(withHeaderInt(good, 7, 64, 'pad.bin')), /padded vocab size 64 is below the vocab size 100/);
    const cut = withHeaderInt(good, 0, 20240326, 'cut.bin');
    const size = readFileSync(cut).length;
    truncateSync(cut, size - 4);
    throwsTernlm(() => readLlmcGpt2(cut), new RegExp(`cut\\.bin is truncated: its header \\(.*fp32\\) needs ${size.toLocaleString('en-US')} bytes, the file has ${(size - 4).toLocaleString('en-US')}`));
    truncateSync(cut, 100);
    throwsTernlm(() => readLlmcGpt2(cut), /cut\.bin is not an llm\.c GPT-2 checkpoint: 100 bytes is shorter than the 1,024-byte header/);
    writeFileSync(cut, Buffer.concat([readFileSync(good), Buffer.alloc(2)]));
    throwsTernlm(() => readLlmcGpt2(cut), /cut\.bin has .* bytes but its header .* describes/);
    throwsTernlm(() => readLlmcGpt2(join(dir, 'none.bin')), /none\.bin does not exist/);

    const params = randomParams(SHAPE, 4);
    params.set('blocks.1.mlp.fc.bias', new Float32Array(8));
    throwsTernlm(() => writeModel('short.bin', params, 'fp32'), /tensor blocks\.1\.mlp\.fc\.bias has 8 values, its shape \[32\] needs 32/);
    throwsTernlm(() => writeLlmcGpt2(join(dir, 'x.bin'), { ...SHAPE, heads: 3 }, () => new Float32Array(0), 'fp32'), /not a GPT-2 shape \(8 channels do not split into 3 heads\)/);
  });
});

describe('llm.c tokenizer files', () => {
  it('round-trips raw token bytes (partial UTF-8 included) and the eot id', () => {
    const tokens = [Uint8Array.of(0), Uint8Array.of(0xe5), Uint8Array.of(0xe5, 0xb0), new TextEncoder().encode(' hello'), new Uint8Array(255).fill(97)];
    const path = join(dir, 'tok.bin');
    writeLlmcTokenizer(path, tokens, 3);
    const file = readFileSync(path);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => file.readInt32LE(4 * i)), [20240328, 2, 5, 3, 0]);
    assert.deepEqual([...file.subarray(1024, 1030)], [1, 0, 1, 0xe5, 2, 0xe5]);
    assert.equal(file.length, 1024 + 5 + 1 + 1 + 2 + 6 + 255);
    assert.deepEqual(readLlmcTokenizer(path), { tokens, eotId: 3 });

    // Version 1 has no eot field (llm.c assumes GPT-2's 50256).
    const v1 = withHeaderInt(path, 1, 1, 'tok-v1.bin');
    assert.equal(readLlmcTokenizer(withHeaderInt(v1, 3, 0, 'tok-v1.bin')).eotId, null);
  });

  it("writes GPT-2's vocabulary as llm.c's gpt2_tokenizer.bin holds it", () => {
    const tok = new Gpt2Tokenizer();
    const bytes = llmcTokenBytes(tok);
    const path = join(dir, 'gpt2_tokenizer.bin');
    writeLlmcTokenizer(path, bytes, tok.eotId);
    const back = readLlmcTokenizer(path);
    assert.equal(back.tokens.length, 50257);
    assert.equal(back.eotId, 50256);
    assert.equal(new TextDecoder().decode(back.tokens[50256]), '<|endoftext|>');
    assert.deepEqual(back.tokens[tok.encode(' the')[0]], new TextEncoder().encode(' the'));
    throwsTernlm(() => llmcTokenBytes({ vocabSize: 3 }), /cannot give the bytes of single tokens/);
  });

  it('refuses tokens it cannot store and bad files', () => {
    const path = join(dir, 'tok-bad.bin');
    throwsTernlm(() => writeLlmcTokenizer(path, [Uint8Array.of(1), new Uint8Array(256)], 0), /token 1 has 256 bytes, llm\.c's tokenizer file stores 1 to 255 bytes per token/);
    throwsTernlm(() => writeLlmcTokenizer(path, [Uint8Array.of(1), new Uint8Array(0)], 0), /token 1 has 0 bytes/);
    throwsTernlm(() => writeLlmcTokenizer(path, [Uint8Array.of(1)], 1), /eot id 1 is outside the vocabulary \[0, 1\)/);
    const good = join(dir, 'tok.bin');
    throwsTernlm(() => readLlmcTokenizer(withHeaderInt(good, 0, 7, 'tok-magic.bin')), /tok-magic\.bin is not an llm\.c tokenizer file \(magic 7, expected 20240328\)/);
    throwsTernlm(() => readLlmcTokenizer(withHeaderInt(good, 1, 3, 'tok-v3.bin')), /tok-v3\.bin is an llm\.c tokenizer file of version 3; only versions 1 and 2/);
    const cut = withHeaderInt(good, 1, 2, 'tok-cut.bin');
    truncateSync(cut, readFileSync(cut).length - 1);
    throwsTernlm(() => readLlmcTokenizer(cut), /tok-cut\.bin is truncated: it ends in token 4 of 5/);
  });
});

describe('llm.c token shards', () => {
  it('round-trips uint16 tokens with the documented header', () => {
    const path = join(dir, 'toks.bin');
    writeLlmcTokens(path, [0, 1, 65535, 50256, 7]);
    const file = readFileSync(path);
    assert.deepEqual([0, 1, 2, 3].map((i) => file.readInt32LE(4 * i)), [20240520, 1, 5, 0]);
    assert.equal(file.length, 1024 + 10);
    assert.equal(file.readUInt16LE(1024 + 4), 65535);
    assert.deepEqual(readLlmcTokens(path), Uint16Array.of(0, 1, 65535, 50256, 7));
    const u16 = Uint16Array.from({ length: 1000 }, (_, i) => (i * 7919) % 65536);
    writeLlmcTokens(path, u16);
    assert.deepEqual(readLlmcTokens(path), u16);
  });

  it('refuses ids above uint16 and bad files', () => {
    const path = join(dir, 'toks-bad.bin');
    throwsTernlm(() => writeLlmcTokens(path, [1, 65536]), /token 1 is 65536, but llm\.c's shards store uint16 ids \(a vocabulary of at most 65,536\)/);
    throwsTernlm(() => writeLlmcTokens(path, [-1]), /token 0 is -1/);
    const good = join(dir, 'toks.bin');
    throwsTernlm(() => readLlmcTokens(withHeaderInt(good, 0, 20240801, 'toks-magic.bin')), /toks-magic\.bin is not an llm\.c token shard \(magic 20240801, expected 20240520\)/);
    throwsTernlm(() => readLlmcTokens(withHeaderInt(good, 1, 7, 'toks-v7.bin')), /toks-v7\.bin is an llm\.c token shard of version 7; only version 1/);
    const cut = withHeaderInt(good, 1, 1, 'toks-cut.bin');
    truncateSync(cut, 1024 + 2 * 999);
    throwsTernlm(() => readLlmcTokens(cut), /toks-cut\.bin is truncated: its header \(1,000 uint16 tokens\) needs 3,024 bytes, the file has 3,022/);
  });

  it("converts a prepared dataset into llm.c's train and val shards, tokens unchanged", async () => {
    const text = join(dir, 'sample.txt');
    writeFileSync(text, SAMPLE_TEXT);
    const data = join(dir, 'prepared');
    const meta = await prepare({ inputs: [text], tokenizer: 'gpt2', outDir: data, separator: { kind: 'line' }, valFraction: 0.34, shardTokens: 20, threads: 1 });
    const out = join(dir, 'llmc-data', 'fresh');
    const files = writeLlmcDataset(data, meta, out, 'sample');
    for (const split of ['train', 'val'] as const) {
      const names = files[split].map((f) => f.path.slice(out.length + 1));
      assert.ok(names.length >= 1);
      assert.deepEqual(names, names.map((_, i) => `sample_${split}_${String(i).padStart(6, '0')}.bin`));
      const joined = files[split].flatMap((f) => Array.from(readLlmcTokens(f.path)));
      assert.deepEqual(joined, Array.from(readSplitTokens(data, split, Infinity)));
      assert.deepEqual(files[split].map((f) => f.tokens), meta.splits[split].shards.map((s) => s.tokens).filter((n) => n > 0));
    }
    assert.ok(files.train.length > 1, 'shards of 20 tokens make several train files');
    assert.deepEqual(readdirSync(out).sort(), [...files.train, ...files.val].map((f) => f.path.slice(out.length + 1)).sort());

    throwsTernlm(() => writeLlmcDataset(data, { ...meta, vocabSize: 65537 }, out, 'sample'), /vocabulary of 65,537 tokens; llm\.c's GPT-2 shards store uint16 ids/);
    throwsTernlm(() => writeLlmcDataset(data, { ...meta, splits: { ...meta.splits, val: { shards: [] } } }, out, 'sample'), /no val tokens; llm\.c needs both splits/);
    throwsTernlm(() => writeLlmcDataset(data, meta, out, 'a/b*'), /dataset name 'a\/b\*'/);
  });
});
