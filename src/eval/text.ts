// Bits per byte of any text. The rules (docs/eval.md):
//   - the text is split into documents: .txt files at a separator (default `<|endoftext|>`),
//     .jsonl/.parquet files one document per record's `text`;
//   - each document is scored from the start token (end-of-text for ternlm models, BOS for
//     llama2.c ones) as its only context, and its end counts: the start token predicted after
//     its last token, as training saw between documents;
//   - bytes are the documents' own UTF-8 bytes (after --lowercase, when given), separators
//     excluded; tokens are the predicted tokens, each document's end included;
//   - a document longer than the context is scored with sliding windows (sequences.ts).
import { TernlmError } from '../core/errors.js';
import { readDocuments, type Separator } from '../data/corpus.js';
import type { InputFile } from '../data/inputs.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { scoreSequences, type ScoreOptions } from './sequences.js';
import type { TokenScorer } from './scorer.js';

export interface TextDocument {
  /** File it came from and its index there (0-based). */
  file: string;
  index: number;
  text: string;
}

export interface DocumentScore {
  file: string;
  index: number;
  bytes: number;
  tokens: number;
  nats: number;
}

export interface TextScore {
  documents: number;
  bytes: number;
  /** Predicted tokens, each document's end included. */
  tokens: number;
  nats: number;
  /** Nats per token, perplexity, bits per UTF-8 byte. */
  loss: number;
  ppl: number;
  bpb: number;
  perDocument: DocumentScore[];
}

const utf8 = new TextEncoder();

/** The documents of some files: .txt split at `separator`, .jsonl/.parquet one per record's `text`. */
export async function readTextDocuments(files: readonly InputFile[], separator: Separator, lowercase: boolean): Promise<TextDocument[]> {
  const docs: TextDocument[] = [];
  for (const file of files) {
    let index = -1;
    for await (const piece of readDocuments(file, { separator, textField: 'text' })) {
      const text = lowercase ? piece.text.toLowerCase() : piece.text;
      if (piece.docStart) docs.push({ file: file.path, index: ++index, text });
      else docs[docs.length - 1].text += text;
    }
  }
  if (docs.length === 0) throw new TernlmError(`${files.map((f) => f.path).join(', ')} ${files.length === 1 ? 'has' : 'have'} no text to score`);
  return docs;
}

/** Loss, perplexity and bits per byte of documents under the rules above. */
export function scoreText(scorer: TokenScorer, tokenizer: Tokenizer, startToken: number, docs: readonly TextDocument[], opts: ScoreOptions = {}): TextScore {
  const sequences = docs.map((d) => ({ tokens: Int32Array.from([startToken, ...tokenizer.encode(d.text), startToken]), from: 1 }));
  const scores = scoreSequences(scorer, sequences, opts);
  const perDocument = docs.map((d, i): DocumentScore => ({
    file: d.file, index: d.index, bytes: utf8.encode(d.text).length, tokens: scores[i].tokens, nats: scores[i].nats,
  }));
  const sum = (f: (d: DocumentScore) => number): number => perDocument.reduce((s, d) => s + f(d), 0);
  const bytes = sum((d) => d.bytes), tokens = sum((d) => d.tokens), nats = sum((d) => d.nats);
  const loss = nats / tokens;
  return { documents: docs.length, bytes, tokens, nats, loss, ppl: Math.exp(loss), bpb: nats / Math.LN2 / bytes, perDocument };
}
