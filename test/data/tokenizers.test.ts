import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { trainBpe, WordCounter } from '../../src/data/bpe.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { Llama2cTokenizer } from '../../src/data/llama2c-tokenizer.js';
import { loadTokenizer, tokenizerFromJSON } from '../../src/data/tokenizer.js';
import { LLAMA2C_TOKENIZER, needsShared, SAMPLE_TEXT, tempDir } from './fixtures.js';

describe('GPT-2 tokenizer', () => {
  const gpt2 = loadTokenizer('gpt2');

  it('matches OpenAI token ids', () => {
    assert.equal(gpt2.vocabSize, 50257);
    assert.equal(gpt2.eotId, 50256);
    assert.deepEqual(gpt2.encode('Hello world'), [15496, 995]);
    assert.deepEqual(gpt2.encode('hello world'), [31373, 995]);
    assert.deepEqual(gpt2.encode(' Hello'), [18435]);
    assert.deepEqual(gpt2.encode('The'), [464]);
    assert.deepEqual(gpt2.encode('\n'), [198]);
    assert.deepEqual(gpt2.encode('你好'), [19526, 254, 25001, 121]);
    assert.deepEqual(gpt2.encode('é'), [2634]);
  });

  it('maps <|endoftext|> text to the EOT id and round-trips', () => {
    assert.deepEqual(gpt2.encode('Hello world<|endoftext|>Hello'), [15496, 995, 50256, 15496]);
    const text = SAMPLE_TEXT + '<|endoftext|>' + SAMPLE_TEXT;
    assert.equal(gpt2.decode(gpt2.encode(text)), text);
  });

  it('decodeToken gives raw bytes that concatenate to the text', () => {
    const text = 'naïve 小猫 🌈';
    const ids = gpt2.encode(text);
    const parts = ids.map((id) => gpt2.decodeToken!(id));
    assert.equal(Buffer.concat(parts).toString('utf8'), text);
    assert.ok(parts.some((p) => p.length === 1 && p[0] >= 0x80), 'a multi-byte character spans several tokens');
  });

  it('survives toJSON / tokenizerFromJSON', () => {
    const again = tokenizerFromJSON(JSON.parse(JSON.stringify(gpt2.toJSON())));
    assert.deepEqual(again.encode(SAMPLE_TEXT), gpt2.encode(SAMPLE_TEXT));
  });
});

describe('byte-level BPE', () => {
  const corpus = Array.from({ length: 40 }, (_, i) => `${SAMPLE_TEXT}\nline ${i} of the corpus, the end.`).join('\n<|endoftext|>\n');
  const counter = new WordCounter();
  // Feed in awkward chunk sizes: words must not be split at chunk boundaries.
  for (let i = 0; i < corpus.length; i += 997) counter.add(corpus.slice(i, i + 997));
  counter.flush();
  const { tokenizer: bpe, merges } = trainBpe(counter.counts, { vocabSize: 600 });

  it('counts the same words however the text is chunked', () => {
    const whole = new WordCounter();
    whole.add(corpus);
    whole.flush();
    assert.deepEqual([...counter.counts].sort(), [...whole.counts].sort());
    assert.ok(!counter.counts.has('<|endoftext|>') && ![...counter.counts.keys()].some((w) => w.includes('<|endoftext|>')));
  });

  it('learns merges and compresses the training text', () => {
    assert.ok(merges > 100, `only ${merges} merges`);
    assert.equal(bpe.vocabSize, 256 + merges + 1);
    assert.equal(bpe.eotId, bpe.vocabSize - 1);
    const ids = bpe.encode(corpus);
    assert.ok(ids.length < Buffer.byteLength(corpus) / 2.5, `${ids.length} tokens for ${Buffer.byteLength(corpus)} bytes`);
    assert.ok(ids.every((id) => id >= 0 && id < bpe.vocabSize));
  });

  it('round-trips any UTF-8, including text it never saw', () => {
    for (const s of [corpus, '', ' ', '\n\n\n', '日本語のテキストと한국어', '👩‍👩‍👧‍👦 family 🏳️‍🌈', 'a'.repeat(1000), '\u0000\u0001\u007f', 'x<|endoftext|>', '<|endoftext', 'mixed🙂中文and English\r\n']) {
      assert.equal(bpe.decode(bpe.encode(s)), s, JSON.stringify(s.slice(0, 40)));
    }
  });

  it('never splits <|endoftext|> and never produces it from ordinary text', () => {
    const ids = bpe.encode('the end.<|endoftext|>the end.');
    assert.equal(ids.filter((id) => id === bpe.eotId).length, 1);
    assert.deepEqual(bpe.encode('<|endoftext|>'), [bpe.eotId]);
    const near = bpe.encode('<|endoftext| > <|endof');
    assert.ok(!near.includes(bpe.eotId));
  });

  it('is deterministic and saves/loads as one JSON file', () => {
    const again = trainBpe(counter.counts, { vocabSize: 600 }).tokenizer;
    assert.deepEqual(again.toJSON(), bpe.toJSON());
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'tok.json');
      writeFileSync(path, JSON.stringify(bpe.toJSON()));
      const loaded = loadTokenizer(path);
      assert.equal(loaded.kind, 'bpe');
      assert.deepEqual(loaded.encode(SAMPLE_TEXT), bpe.encode(SAMPLE_TEXT));
      assert.equal(loaded.vocabSize, bpe.vocabSize);
    } finally {
      cleanup();
    }
  });

  it('a lowercasing tokenizer lowercases its input', () => {
    const lc = new WordCounter({ lowercase: true });
    lc.add('Hello HELLO hello World');
    lc.flush();
    const tok = trainBpe(lc.counts, { vocabSize: 300, lowercase: true }).tokenizer;
    assert.equal(tok.decode(tok.encode('HeLLo')), 'hello');
    assert.equal(BpeTokenizer.fromJSON(tok.toJSON()).lowercase, true);
  });

  it('rejects malformed tokenizer files with a clear error', () => {
    const { dir, cleanup } = tempDir();
    try {
      const notJson = join(dir, 'bad.json');
      writeFileSync(notJson, '{"kind": "bpe", merges: oops');
      assert.throws(() => loadTokenizer(notJson), (e: Error) => e instanceof TernlmError && e.message.includes('not valid JSON') && e.message.includes(notJson));
      const badMerge = { ...bpe.toJSON(), merges: [[300, 1]] };
      assert.throws(() => tokenizerFromJSON(badMerge, 'x.json'), /merge 0 .* ids below 256/);
      assert.throws(() => tokenizerFromJSON({ kind: 'sentencepiece' }), /unknown tokenizer kind/);
      assert.throws(() => loadTokenizer(join(dir, 'missing.json')), /neither 'gpt2' nor an existing file/);
    } finally {
      cleanup();
    }
  });

  it('rejects vocabulary sizes outside [257, 2^20]', () => {
    assert.throws(() => trainBpe(counter.counts, { vocabSize: 256 }), RangeError);
  });
});

describe('llama2.c tokenizer', { skip: needsShared(LLAMA2C_TOKENIZER) }, () => {
  const tok = () => loadTokenizer(LLAMA2C_TOKENIZER) as Llama2cTokenizer;

  it('reads tok512.bin', () => {
    const t = tok();
    assert.equal(t.kind, 'llama2c');
    assert.equal(t.vocabSize, 512);
    assert.equal(t.bosId, 1);
    assert.equal(t.eotId, 2);
    assert.equal(t.piece(3), '<0x00>');
  });

  it('encodes like llama2.c: BOS, dummy prefix, best-score merges, byte fallback', () => {
    const t = tok();
    const ids = t.encode('Once upon a time', { bos: true, eos: true });
    assert.equal(ids[0], 1);
    assert.equal(ids[ids.length - 1], 2);
    assert.equal(t.piece(ids[1])[0], ' ', 'first piece carries the dummy-prefix space');
    assert.equal(ids.slice(1, -1).map((id) => t.piece(id)).join(''), ' Once upon a time');
    // A character outside the 512-piece vocabulary falls back to its UTF-8 bytes.
    const zh = t.encode('猫');
    assert.deepEqual(zh.slice(-3), [...Buffer.from('猫')].map((b) => b + 3));
  });

  it('agrees with a direct port of llama2.c encode() on varied text', () => {
    const t = tok();
    const samples = [SAMPLE_TEXT, 'the  cat   sat', 'aaaaaaaaaaaaaaaaaaaaaa', 'Lily and Ben played in the park.\nThey were happy.'];
    for (const s of samples) assert.deepEqual(t.encode(s), naiveLlama2cEncode(t, s), JSON.stringify(s.slice(0, 30)));
  });

  it('round-trips through decode and survives toJSON', () => {
    const t = tok();
    for (const s of [SAMPLE_TEXT, 'Once upon a time, there was a dog.', ' leading space', '']) {
      assert.equal(t.decode(t.encode(s)), s);
      assert.equal(t.decode(t.encode(s, { bos: true })).replace('\n<s>\n', ''), s);
    }
    const again = tokenizerFromJSON(JSON.parse(JSON.stringify(t.toJSON())));
    assert.deepEqual(again.encode(SAMPLE_TEXT), t.encode(SAMPLE_TEXT));
    assert.deepEqual(Buffer.from(t.decodeToken(t.encode('Once')[0], 1)), Buffer.from('Once'));
  });

  it('rejects a truncated file', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'tok.bin');
      writeFileSync(path, readFileSync(LLAMA2C_TOKENIZER).subarray(0, 1000));
      assert.throws(() => loadTokenizer(path), (e: Error) => e instanceof TernlmError && e.message.includes(path));
    } finally {
      cleanup();
    }
  });
});

/** llama2.c's encode(): per-code-point lookup with byte fallback, then O(n²) best-score merges. */
function naiveLlama2cEncode(t: Llama2cTokenizer, text: string): number[] {
  const pieces = (t.toJSON() as { pieces: string[]; scores: number[] }).pieces;
  const scores = (t.toJSON() as { pieces: string[]; scores: number[] }).scores;
  const lookup = (s: string): number => pieces.indexOf(s);
  const ids: number[] = [];
  for (const ch of ' ' + text) {
    const id = lookup(ch);
    if (id !== -1) ids.push(id);
    else for (const b of Buffer.from(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < ids.length; i++) {
      const id = lookup(pieces[ids[i]] + pieces[ids[i + 1]]);
      if (id !== -1 && scores[id] > best) {
        best = scores[id];
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    ids.splice(bestIdx, 2, bestId);
  }
  return ids;
}
