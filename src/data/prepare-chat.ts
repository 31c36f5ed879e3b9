// `ternlm prepare --chat`: conversations (JSONL) -> token shards, mask shards and meta.json, in the
// layout of every prepared dataset (data/prepare.ts), so that the loader, the trainer and resume
// work on them unchanged. The tokenizer is the base model's, grown by the chat template's special
// tokens (data/chat.ts); meta.json stores the grown one.
//
// Rows are packed: conversations follow each other in the token stream, each after the EOT token,
// as documents do; the loader cuts training windows anywhere in that stream, so a conversation
// longer than the context is seen in pieces and no window is padded. The mask shards say which
// tokens the loss scores (assistant replies); the rest are context only.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { ensureDir } from '../io/fs.js';
import { parseConversation, renderConversation, withChatTokens, type ChatMessage } from './chat.js';
import { expandInputs } from './inputs.js';
import { tokenizerFingerprint, type DatasetMeta, type SourceMeta } from './meta.js';
import { publish, SplitWriter } from './prepare.js';
import { readJsonlRecords } from './records.js';
import { dtypeForVocab } from './shards.js';
import { loadTokenizer } from './tokenizer.js';

export interface PrepareChatOptions {
  /** .jsonl files, directories and globs, one conversation per line. */
  inputs: string[];
  /** The base model's tokenizer: a ternlm BPE tok.json. */
  tokenizer: string;
  outDir: string;
  /** Fraction of conversations for val, evenly spaced as in `prepare`. Default 0.05. */
  valFraction?: number;
  /** Tokens per shard file. Default 100,000,000. */
  shardTokens?: number;
}

const utf8 = new TextEncoder();

/** The conversations of a .jsonl file, each checked; a bad line is an error naming file:line. */
export async function* readConversations(path: string): AsyncGenerator<{ where: string; messages: ChatMessage[] }> {
  for await (const { where, record } of readJsonlRecords(path)) yield { where, messages: parseConversation(record, where) };
}

/** Tokenize conversations into train/val token and mask shards plus meta.json in `outDir`. */
export async function prepareChat(opts: PrepareChatOptions): Promise<DatasetMeta> {
  const valFraction = opts.valFraction ?? 0.05;
  if (!(valFraction >= 0 && valFraction < 1)) throw new TernlmError(`--val-fraction must be in [0, 1), got ${valFraction}`);
  const shardTokens = opts.shardTokens ?? 100_000_000;
  const tokenizer = withChatTokens(loadTokenizer(opts.tokenizer));
  const files = expandInputs(opts.inputs);
  if (files.length === 0) throw new TernlmError('no input files — pass --input <conversations.jsonl>');
  const notJsonl = files.find((f) => f.format !== 'jsonl');
  if (notJsonl) throw new TernlmError(`${notJsonl.path} is not a .jsonl file — --chat reads conversations, one JSON object {"messages": [...]} per line`);

  // Every line is checked before anything is written: a bad line leaves the output untouched.
  const sources: SourceMeta[] = [];
  const conversations: ChatMessage[][] = [];
  for (const file of files) {
    const source: SourceMeta = { path: file.path, format: 'jsonl', bytes: file.bytes, documents: 0 };
    for await (const c of readConversations(file.path)) {
      conversations.push(c.messages);
      source.documents++;
    }
    sources.push(source);
  }
  if (conversations.length === 0) throw new TernlmError(`no conversations in ${files.length} input file(s) — each line must be {"messages": [...]}`);

  ensureDir(opts.outDir);
  const staging = join(opts.outDir, `.prepare-${process.pid}.tmp`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  const V = tokenizer.vocabSize;
  const splits = (['train', 'val'] as const).map((name) => ({
    tokens: new SplitWriter(name, staging, V, shardTokens),
    masks: new SplitWriter(name, staging, 2, shardTokens, '.mask.bin'),
    scored: 0,
  }));
  try {
    conversations.forEach((messages, d) => {
      const split = splits[Math.floor((d + 1) * valFraction) > Math.floor(d * valFraction) ? 1 : 0];
      const { tokens, scored } = renderConversation(tokenizer, messages);
      split.tokens.write(Uint32Array.from(tokens));
      split.masks.write(Uint32Array.from(scored));
      split.tokens.meta.documents++;
      split.scored += scored.reduce((a, b) => a + b, 0);
      for (const m of messages) if (m.role === 'assistant') split.tokens.meta.bytes += utf8.encode(m.content).length;
    });
    for (const s of splits) {
      s.tokens.close();
      s.masks.close();
    }
  } catch (err) {
    for (const s of splits) {
      s.tokens.abort();
      s.masks.abort();
    }
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  const [train, val] = splits.map((s) => ({ ...s.tokens.meta, masks: s.masks.meta.shards, scoredTokens: s.scored }));
  const json = tokenizer.toJSON();
  const meta: DatasetMeta = {
    format: 'ternlm-shards',
    version: 1,
    tokenizer: { spec: opts.tokenizer, kind: tokenizer.kind, json, fingerprint: tokenizerFingerprint(json) },
    vocabSize: V,
    eotId: tokenizer.eotId,
    dtype: dtypeForVocab(V),
    splits: { train, val },
    options: { valFraction, textField: 'messages', lowercase: (json as { lowercase?: boolean }).lowercase === true, collapseBlankLines: false, separator: 'conversation (--chat)', shardTokens },
    sources,
  };
  publish(staging, opts.outDir, meta);
  return meta;
}
