// Training batches: where a step reads its token windows from, and how a batch of windows
// becomes the model's inputs and targets. Browser-safe (the page of `ternlm serve` trains from
// tokens in memory; the trainer from shard files through data/loader.ts).
import { noGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { Tensor, scope } from '../core/tensor.js';

/**
 * What a training step reads: B windows of T + 1 tokens as one (B, T+1) row-major array
 * (`BatchLoader.next`), with the mask of scored tokens for chat data (`masked`).
 */
export interface BatchSource {
  readonly masked: boolean;
  next(B: number, T: number, out?: Int32Array, scored?: Uint8Array): Int32Array;
}

/** Windows drawn uniformly at random, seeded, from tokens in memory (BatchLoader's random mode without files). */
export class TokenWindows implements BatchSource {
  readonly masked = false;
  private readonly rng: Rng;

  constructor(private readonly tokens: Int32Array, seed: number) {
    this.rng = new Rng(seed);
  }

  next(B: number, T: number, out: Int32Array = new Int32Array(B * (T + 1))): Int32Array {
    const row = T + 1;
    if (row > this.tokens.length) throw new TernlmError(`sequence length ${T} needs ${row} tokens but there are only ${this.tokens.length}`);
    for (let b = 0; b < B; b++) {
      const start = this.rng.int(this.tokens.length - T);
      out.set(this.tokens.subarray(start, start + row), b * row);
    }
    return out;
  }
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
export function nextBatch(loader: BatchSource, B: number, T: number): { rows: Int32Array; scored: Uint8Array | undefined } {
  const scored = loader.masked ? new Uint8Array(B * (T + 1)) : undefined;
  return { rows: loader.next(B, T, undefined, scored), scored };
}

/** What evaluation needs of a model: the mean next-token loss of (B, T) ids against B*T targets. */
export interface ScoredModel {
  loss(ids: Tensor, targets: Tensor): Tensor;
}

/** Total loss in nats of B rows of T+1 tokens (each row predicts its last T tokens) and the tokens it counts. */
export function rowsLoss(model: ScoredModel, rows: Int32Array, B: number, T: number, scored: Uint8Array | undefined): { nats: number; counted: number } {
  return noGrad(() => scope(() => {
    const { ids, targets, counted } = splitBatch(rows, B, T, scored);
    return { nats: counted > 0 ? model.loss(ids, targets).item() * counted : 0, counted };
  }));
}
