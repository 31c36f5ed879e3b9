// Learning-rate schedules: pure functions of (step, total steps) giving a multiplier of the peak
// lr. `step` is the 0-based index of the step about to run; warmup ramps linearly so the first
// step already moves (multiplier 1 / warmupSteps), and every decay reaches minRatio at
// step == total.

export interface CosineOptions {
  /** Linear warmup steps (default 0). */
  warmupSteps?: number;
  /** Final multiplier (default 0.1). */
  minRatio?: number;
}

export type DecayShape = 'linear' | 'sqrt' | 'cosine';

export interface WsdOptions {
  /** Linear warmup steps (default 0). */
  warmupSteps?: number;
  /** Fraction of the run, at its end, spent decaying (default 0.2). */
  decayFraction?: number;
  /** Final multiplier (default 0). */
  minRatio?: number;
  /**
   * Decay curve from 1 to minRatio over progress p in [0, 1]: 'linear' 1 - p, 'sqrt' 1 - sqrt(p)
   * (Hägele et al. 2024 find it slightly better), 'cosine' (1 + cos(pi p)) / 2. Default 'linear'.
   */
  decayShape?: DecayShape;
}

export type ScheduleConfig =
  | ({ kind: 'cosine' } & CosineOptions)
  | ({ kind: 'wsd' } & WsdOptions)
  | { kind: 'constant'; warmupSteps?: number };

function check(step: number, total: number): void {
  if (!(total > 0) || !(step >= 0)) throw new Error(`schedule: need step >= 0 and total > 0 (got step ${step}, total ${total})`);
}

/** Linear ramp (step + 1) / warmupSteps, then 1. */
export function warmup(step: number, warmupSteps: number): number {
  return warmupSteps > 0 && step < warmupSteps ? (step + 1) / warmupSteps : 1;
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));

/** Warmup, then cosine from 1 down to minRatio at step == total. */
export function warmupCosine(step: number, total: number, opts: CosineOptions = {}): number {
  check(step, total);
  const w = opts.warmupSteps ?? 0, minRatio = opts.minRatio ?? 0.1;
  if (step < w) return warmup(step, w);
  const p = clamp01((step - w) / Math.max(1, total - w));
  return minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * p));
}

/** Warmup-stable-decay: warmup, hold 1, then decay to minRatio over the last decayFraction of total. */
export function wsd(step: number, total: number, opts: WsdOptions = {}): number {
  check(step, total);
  const w = opts.warmupSteps ?? 0, minRatio = opts.minRatio ?? 0, frac = opts.decayFraction ?? 0.2;
  if (!(frac >= 0 && frac <= 1)) throw new Error(`wsd: decayFraction must lie in [0, 1], got ${frac}`);
  const decaySteps = Math.round(frac * total);
  const decayStart = Math.max(w, total - decaySteps);
  if (step < w) return warmup(step, w);
  if (step < decayStart || decaySteps === 0) return 1;
  const p = clamp01((step - decayStart) / Math.max(1, total - decayStart));
  let f: number;
  switch (opts.decayShape ?? 'linear') {
    case 'linear': f = 1 - p; break;
    case 'sqrt': f = 1 - Math.sqrt(p); break;
    case 'cosine': f = 0.5 * (1 + Math.cos(Math.PI * p)); break;
    default: throw new Error(`wsd: decayShape must be linear, sqrt or cosine, got ${opts.decayShape}`);
  }
  return minRatio + (1 - minRatio) * f;
}

/** The multiplier of a schedule config at `step` of `total`. */
export function scheduleMultiplier(cfg: ScheduleConfig, step: number, total: number): number {
  switch (cfg.kind) {
    case 'cosine': return warmupCosine(step, total, cfg);
    case 'wsd': return wsd(step, total, cfg);
    case 'constant': check(step, total); return warmup(step, cfg.warmupSteps ?? 0);
    default: throw new Error(`unknown schedule ${(cfg as { kind: string }).kind}: expected cosine, wsd or constant`);
  }
}

/** The learning rate at `step` of `total`: peakLr times the schedule's multiplier. */
export function learningRateAt(cfg: ScheduleConfig, peakLr: number, step: number, total: number): number {
  return peakLr * scheduleMultiplier(cfg, step, total);
}
