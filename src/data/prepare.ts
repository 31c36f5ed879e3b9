import { availableParallelism } from 'node:os';
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { writeTextAtomic } from '../io/atomic.js';
import { ensureDir } from '../io/fs.js';
import { collapseBlankLines, describeSeparator, readDocuments, type Separator } from './corpus.js';
import { expandInputs } from './inputs.js';
import { META_FILE, stringifyMeta, tokenizerFingerprint, type DatasetMeta, type SourceMeta, type SplitMeta } from './meta.js';
import { dtypeForVocab, ShardWriter } from './shards.js';
import { loadTokenizer } from './tokenizer.js';
import { TokenizePool } from './tokenize-pool.js';
import type { TokenizeResult } from './tokenize-worker.js';

export interface PrepareOptions {
  /** Files, directories and globs (see expandInputs). */
  inputs: string[];
  /** `gpt2`, a tok.json or a llama2.c tokenizer.bin. */
  tokenizer: string;
  outDir: string;
  /** Fraction of documents that go to val, evenly spaced: document d is val when ⌊(d+1)f⌋ > ⌊df⌋. Default 0.005. */
  valFraction?: number;
  /** JSONL field / Parquet column holding the text. Default "text". */
  textField?: string;
  lowercase?: boolean;
  /** Inside documents, turn each run of blank lines into one line break. Default false. */
  collapseBlankLines?: boolean;
  /** How .txt files split into documents. Default auto. */
  separator?: Separator;
  /** Tokens per shard file. Default 100,000,000 (llm.c's size). */
  shardTokens?: number;
  /** Tokenizer worker threads. Default: all cores. */
  threads?: number;
  onProgress?: (p: PrepareProgress) => void;
  /** Non-fatal problems (empty files, empty val split). */
  onWarning?: (message: string) => void;
}

export interface PrepareProgress {
  bytesDone: number;
  bytesTotal: number;
  tokens: number;
  file: string;
}

/** Characters of text per job sent to a worker: large enough to amortise messaging. */
const JOB_CHARS = 512 * 1024;
const SHARD_NAME = /^(train|val)_\d{3,}(\.mask)?\.bin$/;

/** One split's shard files being written, rotating to a new file every `shardTokens`. */
export class SplitWriter {
  readonly meta: SplitMeta = { shards: [], tokens: 0, bytes: 0, documents: 0 };
  private writer: ShardWriter | undefined;

  constructor(
    private readonly name: 'train' | 'val',
    private readonly dir: string,
    private readonly vocabSize: number,
    private readonly shardTokens: number,
    /** File name ending: `.bin` for tokens, `.mask.bin` for the scored-token masks of chat data. */
    private readonly suffix = '.bin',
  ) {}

  write(tokens: Uint32Array): void {
    let i = 0;
    while (i < tokens.length) {
      if (this.writer === undefined) {
        const file = `${this.name}_${String(this.meta.shards.length).padStart(3, '0')}${this.suffix}`;
        this.writer = new ShardWriter(join(this.dir, file), { vocabSize: this.vocabSize });
        this.meta.shards.push({ file, tokens: 0 });
      }
      const n = Math.min(tokens.length - i, this.shardTokens - this.writer.tokens);
      this.writer.write(tokens, i, i + n);
      i += n;
      this.meta.tokens += n;
      if (this.writer.tokens === this.shardTokens) this.closeShard();
    }
  }

  private closeShard(): void {
    this.meta.shards[this.meta.shards.length - 1].tokens = this.writer!.close();
    this.writer = undefined;
  }

  close(): void {
    if (this.writer) this.closeShard();
  }

  abort(): void {
    this.writer?.abort();
  }
}

/**
 * Tokenize a corpus into train/val shards plus meta.json in `outDir`. Files are read in
 * chunks and tokenized on worker threads; shards are written into a staging directory and
 * moved into place only when everything succeeded, meta.json last.
 */
export async function prepare(opts: PrepareOptions): Promise<DatasetMeta> {
  const valFraction = opts.valFraction ?? 0.005;
  if (!(valFraction >= 0 && valFraction < 1)) throw new TernlmError(`--val-fraction must be in [0, 1), got ${valFraction}`);
  const shardTokens = opts.shardTokens ?? 100_000_000;
  if (!Number.isInteger(shardTokens) || shardTokens < 1 || shardTokens > 0xffffffff) throw new TernlmError(`--shard-tokens must be an integer in [1, 2^32), got ${shardTokens}`);
  const threads = Math.max(1, opts.threads ?? availableParallelism());
  const textField = opts.textField ?? 'text';
  const separator = opts.separator ?? { kind: 'auto' };
  const collapse = opts.collapseBlankLines ?? false;
  const warn = opts.onWarning ?? (() => {});

  const tokenizer = loadTokenizer(opts.tokenizer);
  const tokenizerJSON = tokenizer.toJSON();
  const lowercase = (opts.lowercase ?? false) || (tokenizerJSON as { lowercase?: boolean }).lowercase === true;
  const files = expandInputs(opts.inputs);
  if (files.length === 0) throw new TernlmError('no input files — pass --input <files|dirs|globs>');
  const bytesTotal = files.reduce((s, f) => s + f.bytes, 0);

  ensureDir(opts.outDir);
  const staging = join(opts.outDir, `.prepare-${process.pid}.tmp`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  const splits = [new SplitWriter('train', staging, tokenizer.vocabSize, shardTokens), new SplitWriter('val', staging, tokenizer.vocabSize, shardTokens)];
  const pool = new TokenizePool(threads, tokenizerJSON, lowercase);
  const sources: SourceMeta[] = [];

  try {
    let bytesDone = 0;
    let docIndex = 0;
    let jobId = 0;
    let tokens = 0;
    const inFlight: Promise<TokenizeResult>[] = [];
    const maxInFlight = 2 * threads + 1;
    let batch = { texts: [] as string[], starts: [] as number[], splits: [] as number[], chars: 0 };

    const collect = async (): Promise<void> => {
      const r = await inFlight.shift()!;
      for (const s of [0, 1] as const) {
        splits[s].write(r.tokens[s]);
        splits[s].meta.bytes += r.bytes[s];
        splits[s].meta.documents += r.documents[s];
        tokens += r.tokens[s].length;
      }
    };
    const submit = async (): Promise<void> => {
      if (batch.texts.length === 0) return;
      inFlight.push(pool.run({ id: jobId++, texts: batch.texts, docStart: Uint8Array.from(batch.starts), split: Uint8Array.from(batch.splits) }));
      batch = { texts: [], starts: [], splits: [], chars: 0 };
      while (inFlight.length >= maxInFlight) await collect();
    };

    for (const file of files) {
      const source: SourceMeta = { path: file.path, format: file.format, bytes: file.bytes, documents: 0 };
      sources.push(source);
      if (file.bytes === 0) {
        warn(`input ${file.path} is empty — skipped`);
        continue;
      }
      let fileBytes = 0;
      const report = (n: number): void => {
        fileBytes += n;
        bytesDone += n;
        opts.onProgress?.({ bytesDone, bytesTotal, tokens, file: file.path });
      };
      const docs = readDocuments(file, {
        separator,
        textField,
        onBytes: report,
        onSeparator: (s) => (source.separator = describeSeparator(s)),
      });
      let split = 0;
      for await (const piece of docs) {
        if (piece.docStart) {
          split = Math.floor((docIndex + 1) * valFraction) > Math.floor(docIndex * valFraction) ? 1 : 0;
          docIndex++;
          source.documents++;
        }
        const text = collapse ? collapseBlankLines(piece.text) : piece.text;
        batch.texts.push(text);
        batch.starts.push(piece.docStart ? 1 : 0);
        batch.splits.push(split);
        batch.chars += text.length;
        if (batch.chars >= JOB_CHARS) await submit();
      }
      if (source.documents === 0) warn(`input ${file.path} has no documents — skipped`);
      report(file.bytes - fileBytes); // Parquet reports compressed row-group sizes only
    }
    await submit();
    while (inFlight.length > 0) await collect();
    for (const s of splits) s.close();
  } catch (err) {
    for (const s of splits) s.abort();
    rmSync(staging, { recursive: true, force: true });
    throw err;
  } finally {
    await pool.close();
  }

  const [train, val] = splits.map((s) => s.meta);
  if (train.documents === 0 && val.documents === 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new TernlmError(`no documents found in ${files.length} input file(s) — check --text-field and --separator`);
  }
  if (val.documents === 0 && valFraction > 0) {
    warn(`val split is empty: ${train.documents} documents at --val-fraction ${valFraction} gives none — use a larger --val-fraction or split the text into more documents (--separator)`);
  }

  const meta: DatasetMeta = {
    format: 'ternlm-shards',
    version: 1,
    tokenizer: { spec: opts.tokenizer, kind: tokenizer.kind, json: tokenizerJSON, fingerprint: tokenizerFingerprint(tokenizerJSON) },
    vocabSize: tokenizer.vocabSize,
    eotId: tokenizer.eotId,
    dtype: dtypeForVocab(tokenizer.vocabSize),
    splits: { train, val },
    options: { valFraction, textField, lowercase, collapseBlankLines: collapse, separator: describeSeparator(separator), shardTokens },
    sources,
  };
  publish(staging, opts.outDir, meta);
  return meta;
}

/** Move the staged shards into `outDir`, write meta.json, then drop shards of an earlier run. */
export function publish(staging: string, outDir: string, meta: DatasetMeta): void {
  const { train, val } = meta.splits;
  const fresh = new Set([...train.shards, ...val.shards, ...(train.masks ?? []), ...(val.masks ?? [])].map((s) => s.file));
  for (const file of fresh) renameSync(join(staging, file), join(outDir, file));
  rmSync(staging, { recursive: true, force: true });
  writeTextAtomic(join(outDir, META_FILE), stringifyMeta(meta));
  for (const name of readdirSync(outDir)) {
    if (SHARD_NAME.test(name) && !fresh.has(name)) rmSync(join(outDir, name));
  }
}
