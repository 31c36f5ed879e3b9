// The trainer's validation: the mean next-token loss of a model over the first windows of a
// prepared split, without gradients, B rows per forward pass. (`ternlm eval` scores any model
// file on any text with src/eval/.)
import { noGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import { Tensor, scope } from '../core/tensor.js';
import type { BatchLoader } from '../data/loader.js';
import { bitsPerByte } from '../data/meta.js';

/** What evaluation needs of a model: the mean next-token loss of (B, T) ids against B*T targets. */
export interface ScoredModel {
  loss(ids: Tensor, targets: Tensor): Tensor;
}

export interface EvalResult {
  /** Mean loss in nats per token. */
  loss: number;
  ppl: number;
  /** Bits per UTF-8 byte, where the text's byte count is known. */
  bpb: number | null;
  tokens: number;
}

/**
 * (B, T+1) token rows -> input ids (B, T) and next-token targets (B*T), and how many targets
 * count. With `scored` (chat data: the rows' mask, 1 = a target of the loss) every other target
 * is -1, which the heads ignore.
 */
export function splitBatch(rows: Int32Array, B: number, T: number, scored?: Uint8Array): { ids: Tensor; targets: Tensor; counted: number } {
  const ids = Tensor.empty([B, T], 'i32');
  const targets = Tensor.empty([B * T], 'i32');
  const iv = ids.typed(), tv = targets.typed();
  let counted = B * T;
  for (let b = 0; b < B; b++) {
    const row = rows.subarray(b * (T + 1), (b + 1) * (T + 1));
    iv.set(row.subarray(0, T), b * T);
    tv.set(row.subarray(1), b * T);
    if (scored) {
      for (let t = 0; t < T; t++) {
        if (scored[b * (T + 1) + t + 1] === 0) {
          tv[b * T + t] = -1;
          counted--;
        }
      }
    }
  }
  return { ids, targets, counted };
}

/** A loader's next batch with its mask when the data has one (chat data). */
export function nextBatch(loader: BatchLoader, B: number, T: number): { rows: Int32Array; scored: Uint8Array | undefined } {
  const scored = loader.masked ? new Uint8Array(B * (T + 1)) : undefined;
  return { rows: loader.next(B, T, undefined, scored), scored };
}

/** Total loss in nats of B rows of T+1 tokens (each row predicts its last T tokens) and the tokens it counts. */
function rowsLoss(model: ScoredModel, rows: Int32Array, B: number, T: number, scored: Uint8Array | undefined): { nats: number; counted: number } {
  return noGrad(() => scope(() => {
    const { ids, targets, counted } = splitBatch(rows, B, T, scored);
    return { nats: counted > 0 ? model.loss(ids, targets).item() * counted : 0, counted };
  }));
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
