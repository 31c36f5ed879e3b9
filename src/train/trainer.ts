// The training loop: batches -> forward -> backward -> clip -> optimizer step, with periodic
// evaluation, samples, metrics.jsonl and checkpoints. The pieces live beside it: the run folder
// and its lock (run-dir.ts), the plan that makes resume exact (plan.ts), one step (step.ts),
// recovery from a non-finite loss (recovery.ts), evaluation (evaluate.ts), samples (samples.ts);
// the plots it leaves in the run folder at the end come from ../report/.
import { startSectionTiming, takeSectionTimes, timed, zeroGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { rt } from '../core/runtime.js';
import { BatchLoader, type LoaderState } from '../data/loader.js';
import { checkpointTokenizerFingerprint, datasetTokenizerFingerprint, tokenizerFingerprint, type SplitMeta } from '../data/meta.js';
import { countTokens } from '../data/split-tokens.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { Sampler } from '../heads/sampling.js';
import { CHECKPOINT_FORMAT, openLatestGoodCheckpoint, readCheckpointMeta, saveCheckpoint, type LoadedCheckpoint } from '../io/checkpoint.js';
import { loadLlmcInto } from '../models/llmc.js';
import { createModel, modelPrecision, withVocabulary, type LanguageModel, type ModelConfig } from '../models/index.js';
import type { NamedParam } from '../nn/module.js';
import { ternaryStats } from '../ops/ternary.js';
import { writeRunReport } from '../report/report.js';
import { seqLenAt, type TrainConfig } from './config.js';
import { initializeEmbeddings } from './embeddings.js';
import { baseModelConfig, loadBaseWeights } from './init.js';
import { evaluateSplit, type EvalResult } from './evaluate.js';
import { TrainingObjective } from './fsp.js';
import { RunPlan } from './plan.js';
import { StateSnapshot } from './recovery.js';
import { RunDir } from './run-dir.js';
import { sampleText } from './samples.js';
import { createOptimizer, learningRate, type Optimizer } from './setup.js';
import { applyGradients, forwardBackward } from './step.js';

export type { EvalResult };

export interface TrainOptions {
  config: TrainConfig;
  dataDir: string;
  outDir: string;
  tokenizer: Tokenizer;
  /** Stop after this many optimizer steps... */
  steps?: number;
  /** ...or plan the steps that fit this many seconds of training (a resumed run may give neither: it keeps its plan). */
  timeSeconds?: number;
  /** Continue from the run's checkpoint (or start one, when the folder holds none). */
  resume?: boolean;
  /** Delete a run already in the folder and start again. */
  overwrite?: boolean;
  /** A new run starts from these weights: an llm.c GPT-2 checkpoint of the config's shape. */
  initFrom?: string;
  /**
   * A new run starts from this base model's training checkpoint (fine-tuning): its weights, the
   * vocabulary grown by the data's chat tokens (see init.ts; the CLI checks it first with
   * checkInitCheckpoint and takes the config's model from it).
   */
  initCheckpoint?: string;
  /** Called with each log line (the CLI draws a progress bar from these). */
  onLog?: (line: TrainLog) => void;
  onMessage?: (text: string) => void;
  /** Polled after each step: true stops the run (checkpoint, then return). */
  shouldStop?: () => boolean;
}

export interface TrainLog {
  type: 'train';
  step: number;
  progress: number;
  loss: number;
  lr: number;
  seqLen: number;
  tokens: number;
  tokensPerSecond: number;
  elapsed: number;
  gradNorm: number;
  /** Share of step time spent in the output head, from the latest profiled step (null before the first). */
  headShare: number | null;
  /** Mean future-set-prediction loss of the window (null when the objective is off); `loss` is the cross-entropy alone. */
  fsp: number | null;
}

export interface TrainResult {
  steps: number;
  tokens: number;
  elapsed: number;
  finalTrainLoss: number;
  lastEval: EvalResult | null;
  stoppedEarly: boolean;
  checkpoint: string;
  /** Steps whose gradient was not finite and was not applied, over the whole run. */
  skippedSteps: number;
}

/** Consecutive non-finite losses or gradients after which a run gives up. */
const MAX_NONFINITE_STREAK = 8;

/** Where a run is: everything a checkpoint stores besides tensors. */
interface Progress {
  step: number;
  tokensSeen: number;
  elapsed: number;
  lrScale: number;
  skippedSteps: number;
}

/** Train (or resume) and return a summary. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  if (!o.resume && !o.steps && !o.timeSeconds) throw new TernlmError('give a training budget: --steps N or --time 60m');
  const msg = o.onMessage ?? (() => {});
  const trainLoader = new BatchLoader(o.dataDir, 'train', { seed: o.config.seed, mode: 'random' });
  const valLoader = new BatchLoader(o.dataDir, 'val', { seed: o.config.seed, mode: 'sequential' });
  const meta = trainLoader.meta;
  if (meta.vocabSize !== o.tokenizer.vocabSize) {
    throw new TernlmError(`the dataset ${o.dataDir} was tokenized with ${meta.vocabSize} tokens but the tokenizer has ${o.tokenizer.vocabSize}`);
  }
  const run = new RunDir(o.outDir);
  run.open({ resume: o.resume ?? false, overwrite: o.overwrite ?? false }, msg);
  try {
    const ck = o.resume ? openLatestGoodCheckpoint(run.checkpoint, msg) : null;
    try {
      const result = await trainInRun(o, run, ck, trainLoader, valLoader, msg);
      // report.html and report.png of the run, at its end and when stopped; a failure to draw
      // them is one warning, never the run's failure.
      if (o.config.report) await writeRunReport(run.dir, msg);
      return result;
    } finally {
      ck?.close();
    }
  } finally {
    run.unlock();
  }
}

function trainInRun(
  o: TrainOptions, run: RunDir, ck: LoadedCheckpoint | null, trainLoader: BatchLoader, valLoader: BatchLoader, msg: (t: string) => void,
): Promise<TrainResult> {
  const c = o.config;
  const meta = trainLoader.meta;
  const dataFingerprint = datasetTokenizerFingerprint(meta, o.dataDir);
  if (ck) checkSameTokenizer(ck, dataFingerprint, o.dataDir);
  if (o.resume && !ck) msg(`no checkpoint in ${o.outDir}: starting a new run`);
  if (!ck && !o.steps && !o.timeSeconds) throw new TernlmError(`${o.outDir} has no checkpoint to resume: give a training budget, --steps N or --time 60m`);

  const modelConfig = withVocabulary(c.model, meta.vocabSize);
  // Frequency-based heads build their tree/clusters from the training tokens' counts; a resumed
  // run takes the counts saved in its checkpoint so that it rebuilds exactly the same head.
  // A fine-tuning run keeps its base's counts, so that the head's structure matches its weights.
  const baseMeta = o.initCheckpoint !== undefined ? readCheckpointMeta(o.initCheckpoint) : null;
  const counts = modelConfig.head.type === 'softmax' ? null : (ck?.meta.tokenCounts ?? baseMeta?.tokenCounts ?? countTokens(o.dataDir, meta.vocabSize));
  const model = createModel(modelConfig, new Rng(c.seed), counts ?? undefined);
  const objective = new TrainingObjective(model, c.fsp, c.seed);
  // The objective's parameters (the FSP projection) train, save and restore with the model's.
  const named = [...model.namedParameters(), ...objective.namedParameters()];
  const optimizer: Optimizer = createOptimizer(c, named);

  const at: Progress = { step: 0, tokensSeen: 0, elapsed: 0, lrScale: 1, skippedSteps: 0 };
  let plan: RunPlan;
  if (ck) {
    ck.restoreParams(named.map((p) => ({ name: p.name, tensor: p.tensor })));
    ck.restoreOptimizer(optimizer.stateTensors());
    Object.assign(at, { step: ck.meta.step, tokensSeen: ck.meta.tokensSeen, elapsed: ck.meta.elapsed, lrScale: ck.meta.lrScale, skippedSteps: ck.meta.skippedSteps ?? 0 });
    optimizer.stepCount = at.step;
    // A checkpoint written before any training (`ternlm ternarize`) has read no data and has no plan yet.
    if (ck.meta.loader !== null) trainLoader.restore(ck.meta.loader as LoaderState);
    if (!ck.meta.plan && !o.steps && !o.timeSeconds) throw new TernlmError(`${ck.path} holds no training plan (it was written before any training) — give a budget: --steps N or --time 60m`);
    plan = RunPlan.resumed(ck.meta.plan, { steps: o.steps, timeSeconds: o.timeSeconds });
    run.truncateLogsAfter(at.step);
    msg(`resumed ${ck.path} at step ${at.step} (${at.tokensSeen.toLocaleString('en-US')} tokens, ${at.elapsed.toFixed(0)} s)`);
  } else {
    plan = o.steps ? RunPlan.steps(o.steps) : RunPlan.time(o.timeSeconds!);
    if (o.initFrom !== undefined) {
      loadLlmcInto(model, o.initFrom);
      msg(`weights: ${o.initFrom} (llm.c GPT-2 checkpoint)`);
    }
    if (o.initCheckpoint !== undefined && baseMeta) {
      loadBaseWeights(model, o.initCheckpoint);
      msg(`weights: ${o.initCheckpoint} (base model${modelConfig.vocabSize > baseModelConfig(baseMeta).vocabSize ? ', vocabulary grown by the chat tokens' : ''})`);
    }
    if (c.initEmbeddings !== 'random') initializeEmbeddings(model, c.initEmbeddings, o.dataDir, msg);
  }
  run.writeConfig({ ...c, model: modelConfig });
  msg(`training ${c.name} (${modelConfig.family}, ${modelPrecision(modelConfig)}) on ${o.dataDir} with ${rt().threads} threads, ${rt().kernels} → ${o.outDir}` +
    (plan.totalSteps !== null ? `, ${plan.totalSteps.toLocaleString('en-US')} steps` : ''));

  // What every save writes besides the progress: worked out once, not at each save.
  const paramTensors = named.map((p) => ({ name: p.name, tensor: p.tensor }));
  const tokenizerJSON = o.tokenizer.toJSON();
  const fingerprint = tokenizerFingerprint(tokenizerJSON);
  const save = (): void => {
    timed('checkpoint', () => saveCheckpoint(run.checkpoint, paramTensors, optimizer.stateTensors(), {
      format: CHECKPOINT_FORMAT, config: { ...c, model: modelConfig }, tokenizer: tokenizerJSON,
      tokenizerFingerprint: fingerprint, step: at.step, tokensSeen: at.tokensSeen, elapsed: at.elapsed,
      loader: trainLoader.state(), lrScale: at.lrScale, tokenCounts: counts, valSplit: scoredSplit(meta.splits.val),
      plan: plan.record(), skippedSteps: at.skippedSteps,
    }));
  };
  return runLoop(o, run, model, objective, named, optimizer, plan, at, trainLoader, valLoader, save, msg);
}

/** A split's scored tokens and their bytes, for bits per byte (chat data scores the replies only). */
function scoredSplit(split: SplitMeta): { tokens: number; bytes: number } {
  return { tokens: split.scoredTokens ?? split.tokens, bytes: split.bytes };
}

/** Refuse to resume on data whose tokenizer differs from the one the checkpoint was trained with. */
function checkSameTokenizer(ck: LoadedCheckpoint, dataFingerprint: string, dataDir: string): void {
  const trained = checkpointTokenizerFingerprint(ck.meta, ck.path);
  if (trained !== dataFingerprint) {
    throw new TernlmError(`${ck.path} was trained on tokens of a different tokenizer than ${dataDir} (fingerprint ${trained}, the data's ${dataFingerprint}) — resume on the data it was trained on, or start a new run with another --out`);
  }
}

async function runLoop(
  o: TrainOptions, run: RunDir, model: LanguageModel<ModelConfig>, objective: TrainingObjective, named: NamedParam[], optimizer: Optimizer,
  plan: RunPlan, at: Progress, trainLoader: BatchLoader, valLoader: BatchLoader, save: () => void, msg: (t: string) => void,
): Promise<TrainResult> {
  const c = o.config;
  const params = named.filter((p) => p.tensor.requiresGrad).map((p) => p.tensor);
  const snapshot = new StateSnapshot([...named.map((p) => p.tensor), ...optimizer.stateTensors().map((s) => s.tensor)], at.step);
  const sampler = new Sampler(trainLoader.meta.vocabSize, { temperature: 0.8, seed: c.seed + 1 });
  const valSplit = scoredSplit(trainLoader.meta.splits.val);
  const bitLayers = model.bitLayers();
  const B = c.batchSize;

  let lastEval: EvalResult | null = null;
  const evaluateAndSample = (): void => {
    lastEval = evaluateSplit(model, valLoader, c.evalBatches, B, seqLenAt(c, 1), valSplit);
    const ternary: Record<string, { alpha: number; neg: number; zero: number; pos: number; weights: number }> = {};
    for (const { name, layer } of bitLayers) if (layer.opts.precision === 'ternary') ternary[name] = { ...ternaryStats(layer.weight), weights: layer.weight.size };
    run.log({ type: 'eval', step: at.step, tokens: at.tokensSeen, elapsed: at.elapsed, val_loss: lastEval.loss, val_ppl: lastEval.ppl, val_bpb: lastEval.bpb, ternary });
    msg(`eval at step ${at.step}: val loss ${lastEval.loss.toFixed(4)}, ppl ${lastEval.ppl.toFixed(2)}` + (lastEval.bpb !== null ? `, ${lastEval.bpb.toFixed(4)} bits/byte` : ''));
    if (c.sampleTokens > 0) run.appendSample(at.step, sampleText(model, o.tokenizer, [o.tokenizer.eotId], c.sampleTokens, sampler));
  };

  let finalTrainLoss = NaN;
  let lastCheckpoint = performance.now();
  let window = { tokens: 0, loss: 0, fsp: 0, steps: 0, start: performance.now() };
  const pace = { tokens: 0, seconds: 0 };
  let stoppedEarly = false, nonFiniteStreak = 0, headShare: number | null = null;

  while (!plan.done(at.step, at.elapsed)) {
    // Let signal handlers (Ctrl-C) and I/O run between steps.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const t0 = performance.now();
    const T = seqLenAt(c, plan.scheduleProgress(at.step));
    const lr = learningRate(c, at.step, plan.totalSteps) * at.lrScale;
    for (const { layer } of bitLayers) layer.ternaryActive = at.step >= c.ternaryStart;
    // Profile one step in a hundred (not the first: it pays for warm-up).
    const profile = at.step % 100 === 50;
    if (profile) startSectionTiming();
    const losses = forwardBackward(model, objective, trainLoader, B, T, c.gradAccumulation, c.seed, at.step);
    if (!Number.isFinite(losses.total)) {
      // Nothing was applied: restore the last good state (the step before may have broken it).
      snapshot.restore();
      at.lrScale *= 0.5;
      msg(`warning: non-finite loss at step ${at.step}; restored the state of step ${snapshot.step} and halved the learning rate (scale ${at.lrScale})`);
      run.log({ type: 'nan', step: at.step, restored_step: snapshot.step, lr_scale: at.lrScale });
      zeroGrad(named.map((p) => p.tensor));
      if (++nonFiniteStreak >= MAX_NONFINITE_STREAK) throw new TernlmError(`the loss stayed non-finite for ${nonFiniteStreak} attempts at step ${at.step} even at ${at.lrScale} x the learning rate — check the data and the config`);
      continue;
    }
    const { applied, gradNorm } = timed('optimizer', () => applyGradients(params, optimizer, c.gradClip, lr));
    if (!applied) {
      at.skippedSteps++;
      msg(`warning: non-finite gradient norm at step ${at.step}; the step was skipped (${at.skippedSteps} so far)`);
      run.log({ type: 'skip', step: at.step, reason: 'non-finite gradient norm', skipped_steps: at.skippedSteps });
      if (++nonFiniteStreak >= MAX_NONFINITE_STREAK) throw new TernlmError(`the gradient stayed non-finite for ${nonFiniteStreak} steps at step ${at.step} — check the data and the config (a lower lr or gradClip)`);
      continue;
    }
    nonFiniteStreak = 0;
    const times = profile ? takeSectionTimes() : null;

    at.step++;
    const tokens = B * T * c.gradAccumulation;
    at.tokensSeen += tokens;
    const dt = (performance.now() - t0) / 1000;
    at.elapsed += dt;
    finalTrainLoss = losses.ce;
    window = { ...window, tokens: window.tokens + tokens, loss: window.loss + losses.ce, fsp: window.fsp + (losses.fsp ?? 0), steps: window.steps + 1 };
    if (at.step > 1) {
      pace.tokens += tokens;
      pace.seconds += dt;
    }
    const total = plan.calibrate(c, at.step, at.elapsed, pace);
    if (total !== null) {
      run.log({ type: 'plan', step: at.step, total_steps: total, tokens_per_second: pace.tokens / pace.seconds, seconds: plan.seconds });
      msg(`plan: ${total.toLocaleString('en-US')} steps fit the ${plan.seconds} s budget at ${Math.round(pace.tokens / pace.seconds).toLocaleString('en-US')} tok/s; the run now follows it exactly (and so does --resume)`);
    }

    if (times) {
      const sum = [...times.values()].reduce((a, b) => a + b, 0);
      const share: Record<string, number> = {};
      for (const [k, v] of times) share[k] = Number((v / sum).toFixed(4));
      headShare = share.head ?? 0;
      run.log({ type: 'profile', step: at.step, ms: Object.fromEntries([...times].map(([k, v]) => [k, Number(v.toFixed(2))])), share });
    }
    const progress = plan.displayProgress(at.step, at.elapsed);
    if (at.step % c.logEvery === 0 || plan.done(at.step, at.elapsed)) {
      const now = performance.now();
      const line: TrainLog = {
        type: 'train', step: at.step, progress, loss: window.loss / window.steps, lr, seqLen: T, tokens: at.tokensSeen,
        tokensPerSecond: window.tokens / ((now - window.start) / 1000), elapsed: at.elapsed, gradNorm, headShare,
        fsp: objective.fsp ? window.fsp / window.steps : null,
      };
      run.log(line);
      o.onLog?.(line);
      window = { tokens: 0, loss: 0, fsp: 0, steps: 0, start: now };
    }
    if (at.step % c.evalEvery === 0) {
      evaluateAndSample();
      snapshot.take(at.step);
    }
    const stop = o.shouldStop?.() ?? false;
    if (stop || performance.now() - lastCheckpoint > c.checkpointMinutes * 60_000) {
      save();
      lastCheckpoint = performance.now();
    }
    if (stop) {
      stoppedEarly = true;
      msg(`stopped at step ${at.step}; checkpoint saved to ${run.checkpoint} — continue with --resume`);
      break;
    }
  }
  if (!stoppedEarly) {
    save(); // first, so that a failing evaluation cannot lose the run
    if (at.step % c.evalEvery !== 0 || !lastEval) evaluateAndSample();
  }
  return {
    steps: at.step, tokens: at.tokensSeen, elapsed: at.elapsed, finalTrainLoss, lastEval, stoppedEarly, checkpoint: run.checkpoint,
    skippedSteps: at.skippedSteps,
  };
}
