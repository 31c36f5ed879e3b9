// The trainer's validation: the mean next-token loss of a model over the first windows of a
// prepared split, without gradients, B rows per forward pass. (`ternlm eval` scores any model
// file on any text with src/eval/.)
import { TernlmError } from '../core/errors.js';
import type { BatchLoader } from '../data/loader.js';
import { bitsPerByte } from '../data/meta.js';
import { nextBatch, rowsLoss, type ScoredModel } from './batch.js';

export interface EvalResult {
  /** Mean loss in nats per token. */
  loss: number;
  ppl: number;
  /** Bits per UTF-8 byte, where the text's byte count is known. */
  bpb: number | null;
  tokens: number;
}

function result(nats: number, tokens: number, bytes: number | null): EvalResult {
  const loss = nats / tokens;
  return { loss, ppl: Math.exp(loss), bpb: bytes === null ? null : nats / Math.LN2 / bytes, tokens };
}

/**
 * Mean loss over up to `batches` B x T windows of a loader's split, from its start (the same
 * windows every time). A split too small for that is scored whole, once: fewer batches, rows or
 * positions. Bits per byte use the split's tokens-per-byte ratio. On chat data only the scored
 * tokens (assistant replies) count.
 */
export function evaluateSplit(
  model: ScoredModel, loader: BatchLoader, batches: number, B: number, T: number,
  split: { tokens: number; bytes: number } | null,
): EvalResult {
  const available = loader.tokens - 1;
  if (available < 1) throw new TernlmError(`the ${loader.split} split has ${loader.tokens} token(s): too few to evaluate`);
  T = Math.min(T, available);
  B = Math.min(B, Math.floor(available / T));
  batches = Math.min(batches, Math.floor(available / (B * T)));
  loader.restore({ ...loader.state(), shard: 0, offset: 0 });
  let nats = 0, n = 0;
  for (let i = 0; i < batches; i++) {
    const { rows, scored } = nextBatch(loader, B, T);
    const r = rowsLoss(model, rows, B, T, scored);
    nats += r.nats;
    n += r.counted;
  }
  if (n === 0) throw new TernlmError(`the first ${batches * B * T} tokens of the ${loader.split} split hold no assistant reply to score — prepare more conversations for val (--val-fraction)`);
  const r = result(nats, n, null);
  return { ...r, bpb: split ? bitsPerByte(r.loss, split) : null };
}
