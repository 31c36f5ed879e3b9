// One optimizer step's pieces: forward + backward over the micro-batches, then the update,
// which is skipped when the gradient is not finite.
import { backward, zeroGrad } from '../core/autograd.js';
import type { Tensor } from '../core/tensor.js';
import { scope } from '../core/tensor.js';
import type { LanguageModel } from '../models/language-model.js';
import { nextBatch, splitBatch, type BatchSource } from './batch.js';
import type { TrainingObjective } from './fsp.js';
import { clipGradNorm, type Optimizer } from './optim.js';

/** The dropout seed of one micro-batch: a function of the run's seed and position only. */
export function dropoutSeed(seed: number, step: number, micro: number): number {
  return (Math.imul(seed, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77) ^ Math.imul(micro + 1, 0xc2b2ae3d)) >>> 0;
}

/** One step's mean losses: the total minimised, its next-token cross-entropy, and FSP (null when off). */
export interface StepLosses {
  total: number;
  ce: number;
  fsp: number | null;
}

/**
 * Mean losses of `micro` micro-batches of B x T tokens under the run's objective, with the
 * gradients of a finite total accumulated into the parameters (each scaled by 1 / micro). A
 * non-finite total leaves the gradients of that micro-batch out and is returned as it is.
 */
export function forwardBackward(
  model: LanguageModel, objective: TrainingObjective, loader: BatchSource, B: number, T: number, micro: number, seed: number, step: number,
): StepLosses {
  const mean: StepLosses = { total: 0, ce: 0, fsp: null };
  for (let m = 0; m < micro; m++) {
    const { rows, scored } = nextBatch(loader, B, T);
    scope(() => {
      const { ids, targets } = splitBatch(rows, B, T, scored);
      model.setDropoutSeed(dropoutSeed(seed, step, m));
      const l = objective.loss(model, ids, targets);
      model.setDropoutSeed(null);
      const total = l.total.item();
      if (Number.isFinite(total)) backward(l.total, 1 / micro);
      mean.total += total / micro;
      mean.ce += l.ce.item() / micro;
      if (l.fsp) mean.fsp = (mean.fsp ?? 0) + l.fsp.item() / micro;
    });
  }
  return mean;
}

/**
 * Clip the gradients to `maxNorm` and take the optimizer step at `lr` — unless their norm is not
 * finite (an overflow in backward): then nothing is applied, neither to the parameters nor to
 * the optimizer's moments. The gradients are cleared either way.
 */
export function applyGradients(params: Tensor[], optimizer: Optimizer, maxNorm: number, lr: number): { applied: boolean; gradNorm: number } {
  const gradNorm = clipGradNorm(params, maxNorm);
  const applied = Number.isFinite(gradNorm);
  if (applied) optimizer.step(lr);
  zeroGrad(params);
  return { applied, gradNorm };
}
