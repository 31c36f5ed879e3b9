import { readFileSync, statSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { BpeTokenizer } from './bpe-tokenizer.js';
import { Gpt2Tokenizer } from './gpt2-tokenizer.js';
import { Llama2cTokenizer } from './llama2c-tokenizer.js';

/**
 * What the trainer, the evaluator and the inference engine know about a tokenizer. Every
 * implementation is lossless on valid Unicode text: `decode(encode(s)) === s` (after the
 * tokenizer's own normalisation, e.g. a lowercasing BPE).
 */
export interface Tokenizer {
  /** 'gpt2' | 'bpe' | 'llama2c' — the `kind` field of `toJSON()`. */
  readonly kind: string;
  /** Number of token ids; every id is in [0, vocabSize). */
  readonly vocabSize: number;
  /** The token that separates documents in prepared shards (and ends generation). */
  readonly eotId: number;
  /** Beginning-of-sequence token, where the tokenizer has one (llama2c: 1). */
  readonly bosId?: number;
  /** Token ids of `text`, from the start of a document. */
  encode(text: string): number[];
  /**
   * Token ids of `text` with special-token strings encoded as ordinary text (user content can
   * then never inject a special token). Tokenizers with no special tokens in text omit it.
   */
  encodePlain?(text: string): number[];
  /** The chat template whose markers are this tokenizer's special tokens (data/chat.ts), when it has one. */
  readonly chatTemplate?: ChatTemplate;
  /**
   * Token ids of `text` that continues a document already being encoded: no start-of-text
   * handling (sentencepiece's dummy-prefix space). Tokenizers without such handling omit it.
   */
  encodeContinuation?(text: string): number[];
  /** Text of a token sequence; bytes that are not valid UTF-8 become U+FFFD. */
  decode(ids: ArrayLike<number>): string;
  /**
   * Raw bytes of one token, for streaming output (a multi-byte character may be split over
   * several tokens). `prevId` lets tokenizers that strip a leading space after BOS do so.
   */
  decodeToken?(id: number, prevId?: number): Uint8Array;
  /** Everything needed to rebuild this tokenizer with `tokenizerFromJSON` (plain JSON). */
  toJSON(): object;
}

/**
 * The special tokens that frame a conversation: `<|user|>hi<|end|><|assistant|>hello<|end|>`.
 * Each is one special token of the tokenizer (see data/chat.ts).
 */
export interface ChatTemplate {
  system: string;
  user: string;
  assistant: string;
  end: string;
}

/**
 * Load a tokenizer from a spec: `gpt2`, a path to a ternlm BPE `tok.json`, or a path to a
 * llama2.c `tokenizer.bin`.
 */
export function loadTokenizer(spec: string): Tokenizer {
  if (spec === 'gpt2' || spec === 'r50k_base') return new Gpt2Tokenizer();
  let isFile = false;
  try {
    isFile = statSync(spec).isFile();
  } catch {
    throw new TernlmError(`tokenizer '${spec}' is neither 'gpt2' nor an existing file — pass --tokenizer gpt2, a tok.json from \`ternlm tokenizer train\`, or a llama2.c tokenizer.bin`);
  }
  if (!isFile) throw new TernlmError(`tokenizer '${spec}' is a directory, not a file — pass the path of tok.json or tokenizer.bin`);
  if (spec.endsWith('.bin')) return Llama2cTokenizer.fromFile(spec);
  const text = readFileSync(spec, 'utf8');
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new TernlmError(`tokenizer file ${spec} is not valid JSON (${(err as Error).message}) — re-create it with \`ternlm tokenizer train\``);
  }
  return tokenizerFromJSON(obj, spec);
}

/**
 * Rebuild a tokenizer from its `toJSON()` form (as embedded in meta.json or a checkpoint
 * header). `origin` names where the object came from, for error messages.
 */
export function tokenizerFromJSON(obj: unknown, origin = 'tokenizer JSON'): Tokenizer {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new TernlmError(`${origin} is not a tokenizer object — expected {"kind": "gpt2" | "bpe" | "llama2c", ...}`);
  }
  const kind = (obj as { kind?: unknown }).kind;
  switch (kind) {
    case 'gpt2':
      return new Gpt2Tokenizer();
    case 'bpe':
      return BpeTokenizer.fromJSON(obj, origin);
    case 'llama2c':
      return Llama2cTokenizer.fromJSON(obj, origin);
    default:
      throw new TernlmError(`${origin} has unknown tokenizer kind ${JSON.stringify(kind)} — expected "gpt2", "bpe" or "llama2c"`);
  }
}
