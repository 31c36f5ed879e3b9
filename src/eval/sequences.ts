// The one path every score takes: token sequences -> sliding windows no longer than the
// model's context -> rows packed into batches of similar length -> nats per sequence.
//
// A sequence is scored from token `from` on: each of tokens[from..] is predicted from the
// tokens before it. A sequence longer than the context is never cut: it is covered by windows
// of `context` inputs that advance by `stride` tokens, each scoring only targets no earlier
// window scored, so every target is scored exactly once and (past the first window) with at
// least context - stride + 1 tokens of history.
import { TernlmError } from '../core/errors.js';
import type { TokenScorer } from './scorer.js';

export interface ScoredSequence {
  tokens: Int32Array;
  /** First scored token (>= 1: token 0 is only ever context). */
  from: number;
}

export interface SequenceScore {
  /** Sum of -log p over the scored tokens. */
  nats: number;
  /** Scored tokens. */
  tokens: number;
}

export interface ScoreOptions {
  /** Tokens a window advances by (default half the context). */
  stride?: number;
  /** Input positions per forward pass, padding included (default 8,192). */
  tokensPerPass?: number;
  /** Called after each pass with scored rows so far and all rows. */
  onProgress?: (rowsDone: number, rows: number) => void;
}

/** One row of the model's input: tokens[start, end) predict tokens start+1..end; those >= scoreFrom count. */
export interface Window {
  start: number;
  end: number;
  scoreFrom: number;
}

/** The windows covering tokens[from..n-1] of a sequence of n tokens (see the file comment). */
export function windowsOf(n: number, from: number, context: number, stride: number): Window[] {
  const last = n - 1;
  if (from > last) return [];
  let end = Math.min(last, Math.max(context, from + stride - 1));
  const windows: Window[] = [{ start: Math.max(0, end - context), end, scoreFrom: from }];
  while (end < last) {
    const next = Math.min(last, end + stride);
    windows.push({ start: next - context, end: next, scoreFrom: end + 1 });
    end = next;
  }
  return windows;
}

/** The stride to use: `stride` when given (checked against the context), else half the context. */
export function strideFor(context: number, stride?: number): number {
  if (stride === undefined) return Math.max(1, Math.floor(context / 2));
  if (!(Number.isInteger(stride) && stride >= 1 && stride <= context)) {
    throw new TernlmError(`the stride must be a whole number from 1 to the model's context (${context}), got ${stride}`);
  }
  return stride;
}

/** Nats and scored-token count of each sequence, batching rows of all sequences together. */
export function scoreSequences(scorer: TokenScorer, sequences: readonly ScoredSequence[], opts: ScoreOptions = {}): SequenceScore[] {
  const context = scorer.contextLength;
  const stride = strideFor(context, opts.stride);
  const budget = Math.max(context, opts.tokensPerPass ?? 8192);
  const rows: { seq: number; w: Window }[] = [];
  sequences.forEach((s, seq) => {
    if (!(s.from >= 1)) throw new Error(`a scored sequence starts at token ${s.from}: token 0 is context only`);
    for (const w of windowsOf(s.tokens.length, s.from, context, stride)) rows.push({ seq, w });
  });
  // Longest first, so each batch pads its rows to nearly their own length.
  rows.sort((a, b) => (b.w.end - b.w.start) - (a.w.end - a.w.start));
  const scores = sequences.map((): SequenceScore => ({ nats: 0, tokens: 0 }));
  for (let r0 = 0; r0 < rows.length;) {
    const T = rows[r0].w.end - rows[r0].w.start;
    const B = Math.max(1, Math.min(rows.length - r0, Math.floor(budget / T)));
    const ids = new Int32Array(B * T);
    const targets = new Int32Array(B * T).fill(-1);
    for (let b = 0; b < B; b++) {
      const { seq, w } = rows[r0 + b];
      const tokens = sequences[seq].tokens;
      ids.set(tokens.subarray(w.start, w.end), b * T);
      for (let j = Math.max(w.scoreFrom, w.start + 1); j <= w.end; j++) targets[b * T + j - w.start - 1] = tokens[j];
    }
    const nats = scorer.nats(ids, targets, B, T);
    for (let b = 0; b < B; b++) {
      const s = scores[rows[r0 + b].seq];
      for (let j = 0; j < T; j++) {
        if (targets[b * T + j] < 0) continue;
        s.nats += nats[b * T + j];
        s.tokens++;
      }
    }
    r0 += B;
    opts.onProgress?.(r0, rows.length);
  }
  return scores;
}
