import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { TernlmError } from '../../src/core/errors.js';
import { trainBpe, WordCounter } from '../../src/data/bpe.js';
import { collapseBlankLines, DocumentSplitter, parseSeparator, pieces, resolveAutoSeparator, type DocumentPiece } from '../../src/data/corpus.js';
import { readMeta, type DatasetMeta } from '../../src/data/meta.js';
import { prepare } from '../../src/data/prepare.js';
import { ShardReader } from '../../src/data/shards.js';
import { loadTokenizer, tokenizerFromJSON, type Tokenizer } from '../../src/data/tokenizer.js';
import { LLAMA2C_TOKENIZER, needsShared, SAMPLE_TEXT, tempDir } from './fixtures.js';

function split(sepName: string, text: string, chunk: number, maxPiece = 1 << 20): DocumentPiece[] {
  const sep = parseSeparator(sepName);
  const s = new DocumentSplitter((sep.kind === 'auto' ? resolveAutoSeparator(text) : sep) as never, maxPiece);
  const out: DocumentPiece[] = [];
  for (let i = 0; i < text.length; i += chunk) s.push(text.slice(i, i + chunk), out);
  return s.end(out);
}

const docs = (ps: DocumentPiece[]): string[] => {
  const out: string[] = [];
  for (const p of ps) if (p.docStart) out.push(p.text);
  else out[out.length - 1] += p.text;
  return out;
};

describe('document splitting', () => {
  it('splits on <|endoftext|>, blank lines, lines, or not at all, across any chunking', () => {
    const eot = 'first story.\n<|endoftext|>\nsecond 故事 🙂\n<|endoftext|>\n\n<|endoftext|>third';
    for (const chunk of [1, 3, 7, 1000]) {
      assert.deepEqual(docs(split('auto', eot, chunk)), ['first story.', 'second 故事 🙂', 'third']);
      assert.deepEqual(docs(split('blank-line', 'para one\nstill one\n\n  \npara two\r\n\r\npara three\n', chunk)), ['para one\nstill one', 'para two', 'para three']);
      assert.deepEqual(docs(split('line', 'a\nb\r\n\n c\n', chunk)), ['a', 'b', ' c']);
      assert.deepEqual(docs(split('none', 'whole\n\nfile\n', chunk)), ['whole\n\nfile']);
      const grouped = 'story one.\n\nits second paragraph.\nstory two.\n \nmore of two.\r\nstory three.\n';
      assert.deepEqual(docs(split('single-newline', grouped, chunk)), ['story one.\n\nits second paragraph.', 'story two.\n \nmore of two.', 'story three.']);
      assert.deepEqual(docs(split('##', 'x##y####z', chunk)), ['x', 'y', 'z']);
    }
    assert.equal(collapseBlankLines('a\n\n \n\nb\r\n\r\nc\nd'), 'a\nb\nc\nd');
    assert.equal(resolveAutoSeparator('a\n\nb').kind, 'blank-line');
    assert.equal(resolveAutoSeparator('a\nb').kind, 'line');
  });

  it('cuts long documents into pieces that encode exactly like the whole', () => {
    const long = Array.from({ length: 60 }, (_, i) => `${SAMPLE_TEXT}\n\nparagraph ${i}:  spaced   words\n`).join('');
    const counter = new WordCounter();
    counter.add(long);
    counter.flush();
    const tokenizers: Tokenizer[] = [loadTokenizer('gpt2'), trainBpe(counter.counts, { vocabSize: 400 }).tokenizer];
    if (!needsShared(LLAMA2C_TOKENIZER)) tokenizers.push(loadTokenizer(LLAMA2C_TOKENIZER));
    for (const tok of tokenizers) {
      const ps = [...pieces(long, 500)];
      assert.ok(ps.length > 20);
      assert.equal(ps.map((p) => p.text).join(''), long);
      const ids = ps.flatMap((p) => (p.docStart || !tok.encodeContinuation ? tok.encode(p.text) : tok.encodeContinuation(p.text)));
      assert.deepEqual(ids, tok.encode(long), tok.kind);
      // The splitter's pieces (none separator) are the same kind of cut.
      assert.equal(split('none', long, 333, 500).map((p) => p.text).join(''), long.replace(/\n+$/, ''));
    }
  });
});

/** Tokens of every shard of a split, in order. */
function readSplit(dir: string, meta: DatasetMeta, name: 'train' | 'val'): number[] {
  const all: number[] = [];
  for (const s of meta.splits[name].shards) {
    const r = new ShardReader(join(dir, s.file));
    const out = new Int32Array(r.tokens);
    r.read(0, r.tokens, out);
    r.close();
    all.push(...out);
  }
  return all;
}

/** Decode a split back into its documents (each one follows an EOT). */
function decodeDocs(tokens: number[], tok: Tokenizer): string[] {
  const docs: string[] = [];
  let cur: number[] | undefined;
  for (const t of [...tokens, tok.eotId]) {
    if (t === tok.eotId) {
      if (cur) docs.push(tok.decode(cur));
      cur = [];
    } else cur!.push(t);
  }
  return docs;
}

function writeFixtures(dir: string): string[] {
  const txtDocs = ['A fox jumped over the sleepy dog.', '小狐狸跳过了懒狗。🦊', 'Third story, with "quotes" and\nan inner newline.', 'Fourth: numbers 42 and 7.'];
  writeFileSync(join(dir, 'a.txt'), txtDocs.join('\n<|endoftext|>\n') + '\n');
  const jsonDocs = ['Line one of the JSON file.', 'Emoji 🎉 in JSON, and "escaped" quotes.', '第二行中文内容。'];
  writeFileSync(join(dir, 'b.jsonl'), [...jsonDocs.map((text, i) => JSON.stringify({ id: i, text })), JSON.stringify({ id: 9, text: null })].join('\n') + '\n');
  const parquetDocs = ['Parquet row zero.', 'Parquet row one has ünïcödé.', 'Parquet row two: 雨が降っている。', 'Row three.'];
  const buf = parquetWriteBuffer({ columnData: [{ name: 'text', data: parquetDocs, type: 'STRING' }, { name: 'n', data: Int32Array.from([0, 1, 2, 3]), type: 'INT32' }], rowGroupSize: 2 });
  writeFileSync(join(dir, 'c.parquet'), new Uint8Array(buf));
  writeFileSync(join(dir, 'd.txt'), '');
  return [...txtDocs, ...jsonDocs, ...parquetDocs];
}

describe('ternlm prepare', () => {
  for (const spec of ['gpt2', 'bpe', 'llama2c']) {
    it(`tokenizes .txt, .jsonl and .parquet into shards that decode to the documents (${spec})`, { skip: spec === 'llama2c' ? needsShared(LLAMA2C_TOKENIZER) : false }, async () => {
      const { dir, cleanup } = tempDir();
      try {
        const expected = writeFixtures(dir);
        let tokSpec = spec === 'llama2c' ? LLAMA2C_TOKENIZER : spec;
        if (spec === 'bpe') {
          const c = new WordCounter();
          c.add(expected.join('\n'));
          c.flush();
          tokSpec = join(dir, 'tok.json');
          writeFileSync(tokSpec, JSON.stringify(trainBpe(c.counts, { vocabSize: 300 }).tokenizer.toJSON()));
        }
        const out = join(dir, 'out');
        const warnings: string[] = [];
        const meta = await prepare({ inputs: [join(dir, 'a.txt'), join(dir, 'b.jsonl'), join(dir, 'c.parquet'), join(dir, 'd.txt')], tokenizer: tokSpec, outDir: out, valFraction: 0.25, shardTokens: 20, threads: 2, onWarning: (w) => warnings.push(w) });
        assert.deepEqual(readMeta(out), JSON.parse(JSON.stringify(meta)));
        assert.ok(warnings.some((w) => w.includes('d.txt is empty')));

        const isVal = (d: number): boolean => Math.floor((d + 1) * 0.25) > Math.floor(d * 0.25);
        const want = { train: expected.filter((_, d) => !isVal(d)), val: expected.filter((_, d) => isVal(d)) };
        const tok = tokenizerFromJSON(meta.tokenizer.json);
        for (const name of ['train', 'val'] as const) {
          const s = meta.splits[name];
          const tokens = readSplit(out, meta, name);
          assert.equal(tokens.length, s.tokens);
          assert.equal(tokens[0], meta.eotId, 'every document is preceded by EOT');
          assert.deepEqual(decodeDocs(tokens, tok), want[name]);
          assert.equal(s.documents, want[name].length);
          assert.equal(s.bytes, want[name].reduce((n, t) => n + Buffer.byteLength(t), 0));
          assert.ok(s.shards.every((sh, i) => sh.tokens === (i < s.shards.length - 1 ? 20 : s.tokens - 20 * i)));
        }
        assert.ok(meta.splits.train.shards.length > 1);
        assert.deepEqual(meta.sources.map((x) => [x.format, x.documents]), [['txt', 4], ['jsonl', 3], ['parquet', 4], ['txt', 0]]);
        assert.equal(meta.sources[0].separator, '"<|endoftext|>"');
        assert.deepEqual(readdirSync(out).sort(), ['meta.json', ...meta.splits.train.shards.map((s) => s.file), ...meta.splits.val.shards.map((s) => s.file)].sort());
      } finally {
        cleanup();
      }
    });
  }

  it('rejects invalid UTF-8 with file and byte offset, leaving the output untouched', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const good = Buffer.from('ok text. '.repeat(200_000)); // 1.8 MB: the bad byte is past the first read
      const bad = Buffer.concat([good, Buffer.from([0x61, 0xc3, 0x28, 0x62])]);
      const path = join(dir, 'bad.txt');
      writeFileSync(path, bad);
      const out = join(dir, 'out');
      await assert.rejects(prepare({ inputs: [path], tokenizer: 'gpt2', outDir: out, threads: 1 }), (e: Error) => e instanceof TernlmError && e.message.includes(path) && e.message.includes(`byte ${(good.length + 1).toLocaleString('en-US')}`));
      assert.deepEqual(readdirSync(out), [], 'no shards, no meta.json, no staging directory');
    } finally {
      cleanup();
    }
  });

  it('lowercases when asked and reports unusable inputs clearly', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'x.txt'), 'Hello World\n\nSecond PARAGRAPH\n');
      const out = join(dir, 'out');
      const meta = await prepare({ inputs: [dir], tokenizer: 'gpt2', outDir: out, lowercase: true, valFraction: 0, threads: 1 });
      assert.deepEqual(decodeDocs(readSplit(out, meta, 'train'), loadTokenizer('gpt2')), ['hello world', 'second paragraph']);
      assert.equal(meta.splits.val.tokens, 0);
      const metaText = readFileSync(join(out, 'meta.json'), 'utf8');
      writeFileSync(join(dir, 'rows.jsonl'), '{"body": "x"}\n');
      await assert.rejects(prepare({ inputs: [join(dir, 'rows.jsonl')], tokenizer: 'gpt2', outDir: out }), /rows\.jsonl:1 has no field "text"/);
      await assert.rejects(prepare({ inputs: [join(dir, 'missing.txt')], tokenizer: 'gpt2', outDir: out }), /missing\.txt does not exist/);
      writeFileSync(join(dir, 'empty.txt'), '\n\n');
      await assert.rejects(prepare({ inputs: [join(dir, 'empty.txt')], tokenizer: 'gpt2', outDir: join(dir, 'o2') }), /no documents found/);
      assert.equal(readFileSync(join(out, 'meta.json'), 'utf8'), metaText, 'failed runs keep the previous output');
      assert.ok(!existsSync(join(dir, 'o2', 'meta.json')));
      assert.deepEqual(readdirSync(out).sort(), ['meta.json', 'train_000.bin']);
    } finally {
      cleanup();
    }
  });
});
