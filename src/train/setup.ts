// From a TrainConfig to the optimizer and the learning rate of each step.
import type { NamedParam } from '../nn/module.js';
import type { TrainConfig } from './config.js';
import { AdamW, MuonWithAdamW, type Optimizer } from './optim.js';
import { learningRateAt, type ScheduleConfig } from './schedule.js';

export type { Optimizer };

/** AdamW for everything, or Muon/NorMuon for the hidden matrices with AdamW for the rest. */
export function createOptimizer(c: TrainConfig, params: NamedParam[]): Optimizer {
  const trainable = params.filter((p) => p.tensor.requiresGrad);
  const adamw = { beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay };
  if (c.optimizer === 'adamw') return new AdamW(trainable, adamw);
  return new MuonWithAdamW(trainable, {
    adamw,
    muon: { normuon: c.optimizer === 'normuon', weightDecay: c.weightDecay * c.lr / c.muonLr },
    muonLrScale: c.muonLr / c.lr,
  });
}

/**
 * Learning rate of `step` at run progress `progress` in [0, 1]. With a step budget the schedule
 * runs over those steps; with a time budget the total is estimated from the pace so far
 * (step / progress), so the decay ends when the time does.
 */
export function learningRate(c: TrainConfig, step: number, progress: number, totalSteps?: number): number {
  const schedule: ScheduleConfig = c.schedule === 'wsd'
    ? { kind: 'wsd', warmupSteps: c.warmupSteps, decayFraction: c.decayFraction, minRatio: c.minLrRatio }
    : { kind: 'cosine', warmupSteps: c.warmupSteps, minRatio: c.minLrRatio };
  const total = totalSteps ?? (progress > 0 ? Math.max(step + 1, Math.round(step / progress)) : Math.max(step + 1, c.warmupSteps * 10));
  return learningRateAt(schedule, c.lr, Math.min(step, total), total);
}
