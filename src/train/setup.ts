// From a TrainConfig to the optimizer and the learning rate of each step (browser-safe: the page
// of `ternlm serve` trains with them too).
import type { NamedParam } from '../nn/module.js';
import type { TrainConfig } from './config.js';
import { AdamW, MuonWithAdamW, type Optimizer } from './optim.js';
import { learningRateAt, type ScheduleConfig } from './schedule.js';

export type { Optimizer };

/** The fields of a TrainConfig that pick the optimizer. */
export type OptimizerSettings = Pick<TrainConfig, 'optimizer' | 'lr' | 'muonLr' | 'beta1' | 'beta2' | 'weightDecay'>;
/** The fields of a TrainConfig that set the learning rate of each step. */
export type ScheduleSettings = Pick<TrainConfig, 'lr' | 'schedule' | 'warmupSteps' | 'decayFraction' | 'minLrRatio'>;

/** AdamW for everything, or Muon/NorMuon for the hidden matrices with AdamW for the rest. */
export function createOptimizer(c: OptimizerSettings, params: NamedParam[]): Optimizer {
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
 * Learning rate of `step` of a run of `totalSteps` steps. While a --time run is still measuring
 * its pace (`totalSteps` null) the schedule stands at its start: warmup, then the peak.
 */
export function learningRate(c: ScheduleSettings, step: number, totalSteps: number | null): number {
  const schedule: ScheduleConfig = c.schedule === 'wsd'
    ? { kind: 'wsd', warmupSteps: c.warmupSteps, decayFraction: c.decayFraction, minRatio: c.minLrRatio }
    : { kind: 'cosine', warmupSteps: c.warmupSteps, minRatio: c.minLrRatio };
  const total = totalSteps ?? Number.MAX_SAFE_INTEGER;
  return learningRateAt(schedule, c.lr, Math.min(step, total), total);
}
