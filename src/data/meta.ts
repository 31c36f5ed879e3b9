import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import type { CheckpointMeta } from '../io/checkpoint.js';
import type { TokenDtype } from './shards.js';
import { tokenizerFromJSON } from './tokenizer.js';

/** One split (train or val) of a prepared dataset. */
export interface SplitMeta {
  /** Shard files (relative to the dataset directory) in stream order, with token counts. */
  shards: { file: string; tokens: number }[];
  /** Tokens in all shards, including one EOT before every document. */
  tokens: number;
  /** UTF-8 bytes of the documents' text (after --lowercase), without separators; chat data: of the assistants' replies only. */
  bytes: number;
  documents: number;
  /**
   * Chat data (`ternlm prepare --chat`): one mask shard per token shard, the same token counts,
   * each value 1 where the token is a target of the loss (an assistant's reply) and 0 elsewhere.
   */
  masks?: { file: string; tokens: number }[];
  /** Chat data: how many tokens are scored. */
  scoredTokens?: number;
}

export interface SourceMeta {
  path: string;
  format: string;
  bytes: number;
  documents: number;
  /** How a .txt file was split into documents. */
  separator?: string;
}

/** meta.json of a dataset directory written by `ternlm prepare` (see docs/data.md). */
export interface DatasetMeta {
  format: 'ternlm-shards';
  version: 1;
  tokenizer: {
    /** What was passed to --tokenizer. */
    spec: string;
    kind: string;
    /** The tokenizer's toJSON(): restore it with tokenizerFromJSON, without the original file. */
    json: object;
    /** `tokenizerFingerprint` of it (absent in datasets prepared before it was stored). */
    fingerprint?: string;
  };
  vocabSize: number;
  eotId: number;
  dtype: TokenDtype;
  splits: { train: SplitMeta; val: SplitMeta };
  options: {
    valFraction: number;
    textField: string;
    lowercase: boolean;
    collapseBlankLines: boolean;
    separator: string;
    shardTokens: number;
  };
  sources: SourceMeta[];
}

export const META_FILE = 'meta.json';

/** Read and sanity-check `<dir>/meta.json`. */
export function readMeta(dir: string): DatasetMeta {
  const path = join(dir, META_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new TernlmError(`${path} not found — ${dir} is not a prepared dataset; run ternlm prepare --out ${dir}`);
  }
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(text) as DatasetMeta;
  } catch (err) {
    throw new TernlmError(`${path} is not valid JSON (${(err as Error).message}) — re-run ternlm prepare`);
  }
  if (meta.format !== 'ternlm-shards' || meta.version !== 1 || !meta.splits?.train || !meta.splits?.val) {
    throw new TernlmError(`${path} is not a ternlm dataset description (format ${JSON.stringify(meta.format)}, version ${JSON.stringify(meta.version)}) — re-run ternlm prepare`);
  }
  return meta;
}

/**
 * A short hash of a tokenizer's `toJSON()` form, as rebuilt by `tokenizerFromJSON` (so the same
 * tokenizer gives the same fingerprint wherever its JSON was stored). Two tokenizers of one
 * vocabulary size but different tokens differ here.
 */
export function tokenizerFingerprint(tokenizerJSON: unknown, origin = 'tokenizer JSON'): string {
  const canonical = JSON.stringify(tokenizerFromJSON(tokenizerJSON, origin).toJSON());
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** The fingerprint of the tokenizer a dataset was prepared with. */
export function datasetTokenizerFingerprint(meta: DatasetMeta, dir: string): string {
  return meta.tokenizer.fingerprint ?? tokenizerFingerprint(meta.tokenizer.json, join(dir, META_FILE));
}

/** The fingerprint of the tokenizer a checkpoint was trained with (worked out for checkpoints older than it). */
export function checkpointTokenizerFingerprint(meta: Pick<CheckpointMeta, 'tokenizer' | 'tokenizerFingerprint'>, path: string): string {
  return meta.tokenizerFingerprint ?? tokenizerFingerprint(meta.tokenizer, path);
}

/**
 * Bits per UTF-8 byte from a mean loss in nats per token over a split: the split's
 * tokens-per-byte ratio converts, so tokenizers of any granularity compare.
 */
export function bitsPerByte(lossNatsPerToken: number, split: Pick<SplitMeta, 'tokens' | 'bytes'>): number {
  return (lossNatsPerToken * split.tokens) / (split.bytes * Math.LN2);
}

/**
 * JSON for files people read: objects indented, but arrays of numbers/strings (or of such
 * arrays, like BPE merges) kept on one line so a 4,096-token vocabulary stays compact.
 */
export function stringifyMeta(value: unknown): string {
  return pretty(value, '') + '\n';
}

function isFlat(v: unknown): boolean {
  return v === null || typeof v !== 'object' || (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object'));
}

function pretty(v: unknown, indent: string): string {
  if (isFlat(v) || (Array.isArray(v) && v.every(isFlat))) return JSON.stringify(v);
  const inner = indent + '  ';
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + pretty(x, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(v as object).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${pretty(x, inner)}`).join(',\n')}\n${indent}}`;
}
