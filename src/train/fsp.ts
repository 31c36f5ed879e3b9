// Future-set prediction (FSP), the auxiliary objective of FlashLM's CPUFlow, for any family: at
// every `rate`-th position p (p = 0, rate, 2·rate, … < T − tau) the final hidden state, through
// its own d × d projection, scores every token of the vocabulary against the token embedding E,
// and a multi-label binary cross-entropy asks which tokens occur among the next `tau` targets
// (a set: a repeated token counts once):
//
//   z_p = (W_fsp h_p) · Eᵀ                                         (V logits per sampled position)
//   FSP = mean over (p, v) of −[posWeight · y log σ(z) + (1 − y) log(1 − σ(z))],  y_v = [v ∈ targets[p .. p+tau−1]]
//   training loss = CE + alpha · FSP
//
// The projection belongs to the objective, not to the model: the trainer saves it in the
// checkpoint (prefixed `fsp.`, so that resume is exact) and the export leaves it out. Evaluation
// and the validation loss are next-token cross-entropy alone.
import { section } from '../core/autograd.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { LanguageModel } from '../models/language-model.js';
import { Linear } from '../nn/layers.js';
import { Module, type NamedParam } from '../nn/module.js';
import * as ops from '../ops/index.js';

export interface FspConfig {
  /** Weight of FSP in the training loss; 0 turns the objective off. */
  alpha: number;
  /** Future window: the targets p .. p + tau − 1 form position p's set. */
  tau: number;
  /** Every rate-th position is scored. */
  rate: number;
  /** Weight of the positive term of the binary cross-entropy (positives are rare: ≤ tau of V). */
  posWeight: number;
}

/** Off by default; the window, rate and weight are the author's. */
export const FSP_DEFAULTS: FspConfig = { alpha: 0, tau: 64, rate: 16, posWeight: 50 };

/** The projection's init std (the author's, as every linear layer of CPUFlow). */
const INIT_STD = 0.02;

/** Name prefix of the objective's parameters in a checkpoint. */
export const FSP_PREFIX = 'fsp';

/** The sampled rows of a batch of B rows of T targets: flat row indices (N) and their windows (N, tau). */
export function futureWindows(targets: Int32Array, B: number, T: number, c: Pick<FspConfig, 'tau' | 'rate'>): { rows: Int32Array; labels: Int32Array } {
  const perRow = T > c.tau ? Math.ceil((T - c.tau) / c.rate) : 0;
  const rows = new Int32Array(B * perRow), labels = new Int32Array(B * perRow * c.tau);
  let n = 0;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < T - c.tau; p += c.rate, n++) {
      rows[n] = b * T + p;
      labels.set(targets.subarray(b * T + p, b * T + p + c.tau), n * c.tau);
    }
  }
  return { rows, labels };
}

export class FutureSetPrediction extends Module {
  readonly proj: Linear;
  constructor(dim: number, readonly config: FspConfig, rng: Rng) {
    super();
    this.proj = this.child('proj', new Linear(dim, dim, rng, { std: INIT_STD }));
  }

  /**
   * FSP of final hidden states h (B*T, d) against targets int32 (B*T), with the token embedding
   * E (V, d); null when no position has tau targets after it (T ≤ tau).
   */
  loss(h: Tensor, targets: Tensor, embedding: Tensor, B: number, T: number): Tensor | null {
    const { rows, labels } = futureWindows(targets.typed() as Int32Array, B, T, this.config);
    const N = rows.length;
    if (N === 0) return null;
    const hp = ops.embedding(h, Tensor.from(rows, [N], 'i32')); // the sampled rows of h
    const logits = ops.linear(this.proj.forward(hp), embedding); // (N, V)
    return ops.multilabelBce(logits, Tensor.from(labels, [N, this.config.tau], 'i32'), this.config.posWeight);
  }
}

/** The objective of a training run: next-token cross-entropy, plus alpha · FSP when it is on. */
export class TrainingObjective {
  readonly fsp: FutureSetPrediction | null;

  /** The FSP projection draws from its own stream, so the model's init is the same with FSP on or off. */
  constructor(model: LanguageModel, fsp: FspConfig, seed: number) {
    this.fsp = fsp.alpha > 0 ? new FutureSetPrediction(model.config.dim, fsp, new Rng((seed ^ 0x46535021) >>> 0)) : null;
  }

  /** The objective's own parameters, named as the checkpoint stores them. */
  namedParameters(): NamedParam[] {
    return this.fsp ? this.fsp.namedParameters(`${FSP_PREFIX}.`) : [];
  }

  /** ids int32 (B, T), targets int32 (B*T) -> the loss to minimise, and its CE and FSP parts (FSP null when off). */
  loss(model: LanguageModel, ids: Tensor, targets: Tensor): { total: Tensor; ce: Tensor; fsp: Tensor | null } {
    if (!this.fsp) {
      const ce = model.loss(ids, targets);
      return { total: ce, ce, fsp: null };
    }
    const [B, T] = ids.shape;
    const h = model.hidden(ids);
    const ce = section('head', () => model.head.loss(h, targets));
    const fsp = section('fsp', () => this.fsp!.loss(h, targets, model.embed.weight, B, T));
    return { total: fsp ? ops.add(ce, ops.scale(fsp, this.fsp.config.alpha)) : ce, ce, fsp };
  }
}
