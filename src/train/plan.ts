// How long a run lasts, as a function of the step alone, so that a resumed run follows exactly
// the schedule of the run that was never interrupted.
//
// A --steps run knows its total from the start. A --time run first measures its pace, for the
// first 30 s of training (or 5% of the budget when that is shorter), at the schedule's start
// (progress 0: the first curriculum phase, LR warming up or at its peak). It then fixes the
// total number of steps that fit the budget and keeps it in every checkpoint: from there the
// learning rate and the curriculum depend on the step only, and the run ends at that step
// (a little before or after the time if the machine's pace changes).
import type { PlanRecord } from '../io/checkpoint.js';
import type { TrainConfig } from './config.js';

/** Seconds of measuring before a --time run fixes its total (at most; 5% of the budget if less). */
export const CALIBRATION_SECONDS = 30;

export class RunPlan {
  private constructor(
    readonly budget: 'steps' | 'time',
    readonly seconds: number | null,
    private total: number | null,
  ) {}

  static steps(total: number): RunPlan {
    return new RunPlan('steps', null, total);
  }

  static time(seconds: number): RunPlan {
    return new RunPlan('time', seconds, null);
  }

  /**
   * The plan of a resumed run: the stored one when the budget is unchanged; a new step budget
   * replaces it; a new time budget scales a fixed total by the ratio of the budgets.
   */
  static resumed(stored: PlanRecord | undefined, given: { steps?: number; timeSeconds?: number }): RunPlan {
    if (given.steps !== undefined) return RunPlan.steps(given.steps);
    if (!stored) {
      if (given.timeSeconds !== undefined) return RunPlan.time(given.timeSeconds);
      throw new Error('RunPlan.resumed: no budget given and none stored');
    }
    if (given.timeSeconds === undefined || (stored.budget === 'time' && given.timeSeconds === stored.seconds)) {
      return new RunPlan(stored.budget, stored.seconds, stored.totalSteps);
    }
    if (stored.budget === 'time' && stored.totalSteps !== null && stored.seconds) {
      return new RunPlan('time', given.timeSeconds, Math.max(1, Math.round((stored.totalSteps * given.timeSeconds) / stored.seconds)));
    }
    return RunPlan.time(given.timeSeconds);
  }

  /** Total steps, or null while a --time run is measuring its pace. */
  get totalSteps(): number | null {
    return this.total;
  }

  /** Where the schedule is: step / total, or 0 while measuring. */
  scheduleProgress(step: number): number {
    return this.total === null ? 0 : Math.min(1, step / this.total);
  }

  /** How far the run is, for progress bars: by steps, or by time while measuring. */
  displayProgress(step: number, elapsed: number): number {
    return this.total === null ? Math.min(1, elapsed / this.seconds!) : Math.min(1, step / this.total);
  }

  /** The run is over: its total reached, or, while still measuring, its whole time budget spent. */
  done(step: number, elapsed: number): boolean {
    return this.total === null ? elapsed >= this.seconds! : step >= this.total;
  }

  /**
   * While measuring: once enough time has passed, fix the total from the pace (tokens per
   * second since `since`). Returns the total when it was fixed by this call.
   */
  calibrate(c: TrainConfig, step: number, elapsed: number, pace: { tokens: number; seconds: number }): number | null {
    if (this.total !== null || this.seconds === null) return null;
    if (elapsed < Math.min(CALIBRATION_SECONDS, 0.05 * this.seconds) || pace.seconds <= 0 || step < 2) return null;
    const tokensPerSecond = pace.tokens / pace.seconds;
    const tokensLeft = Math.max(0, this.seconds - elapsed) * tokensPerSecond;
    this.total = step + Math.max(1, Math.round(tokensLeft / (c.batchSize * c.gradAccumulation * meanSeqLen(c))));
    return this.total;
  }

  record(): PlanRecord {
    return { budget: this.budget, seconds: this.seconds, totalSteps: this.total };
  }
}

/** Mean sequence length over a run's curriculum (each phase weighted by its share of the run). */
export function meanSeqLen(c: TrainConfig): number {
  if (c.curriculum.length === 0) return c.seqLen;
  let mean = 0, from = 0;
  for (const [i, p] of c.curriculum.entries()) {
    const until = i === c.curriculum.length - 1 ? 1 : Math.min(1, p.until);
    mean += p.seqLen * Math.max(0, until - from);
    from = Math.max(from, until);
  }
  return mean;
}
