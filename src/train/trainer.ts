// The training loop: batches -> forward -> backward -> clip -> optimizer step, with evaluation,
// samples, metrics.jsonl, atomic checkpoints, Ctrl-C handling, NaN recovery and exact resume.
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { backward, noGrad, startSectionTiming, takeSectionTimes, timed, zeroGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor, scope } from '../core/tensor.js';
import { BatchLoader, type LoaderState } from '../data/loader.js';
import { bitsPerByte, readMeta } from '../data/meta.js';
import { ShardReader } from '../data/shards.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { writeTextAtomic } from '../io/atomic.js';
import { Sampler } from '../heads/sampling.js';
import { FlashLM, type FlashLMConfig } from '../models/flashlm.js';
import { corpusEmbeddings, gpt2Embeddings } from '../nn/init-embeddings.js';
import { ternaryStats } from '../ops/ternary.js';
import { CHECKPOINT_FORMAT, openCheckpoint, readCheckpointMeta, saveCheckpoint, type CheckpointMeta } from '../io/checkpoint.js';
import { seqLenAt, type TrainConfig } from './config.js';
import { clipGradNorm } from './optim.js';
import { createOptimizer, learningRate, type Optimizer } from './setup.js';

export interface TrainOptions {
  config: TrainConfig;
  dataDir: string;
  outDir: string;
  tokenizer: Tokenizer;
  /** Stop after this many optimizer steps... */
  steps?: number;
  /** ...or after this many seconds of training. */
  timeSeconds?: number;
  resume?: boolean;
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
}

export interface EvalResult {
  loss: number;
  ppl: number;
  bpb: number | null;
  tokens: number;
}

export interface TrainResult {
  steps: number;
  tokens: number;
  elapsed: number;
  finalTrainLoss: number;
  lastEval: EvalResult | null;
  stoppedEarly: boolean;
  checkpoint: string;
}

/**
 * The first `limit` tokens of the training split, as consecutive chunks of at most 2^20 tokens
 * read into one reused buffer (valid until the next chunk).
 */
function* trainTokenChunks(dataDir: string, limit: number): Generator<Int32Array> {
  const meta = readMeta(dataDir);
  const buffer = new Int32Array(Math.min(1 << 20, Math.max(1, limit)));
  let left = limit;
  for (const s of meta.splits.train.shards) {
    const r = new ShardReader(join(dataDir, s.file));
    try {
      for (let start = 0; start < r.tokens && left > 0; start += buffer.length) {
        const n = Math.min(buffer.length, r.tokens - start, left);
        r.read(start, n, buffer);
        left -= n;
        yield buffer.subarray(0, n);
      }
    } finally {
      r.close();
    }
  }
}

/** Token frequencies of (up to the first `limit` tokens of) the training split. */
export function countTokens(dataDir: string, vocabSize: number, limit = 20_000_000): number[] {
  const counts = new Array<number>(vocabSize).fill(0);
  for (const chunk of trainTokenChunks(dataDir, limit)) for (let i = 0; i < chunk.length; i++) counts[chunk[i]]++;
  return counts;
}

/** Overwrite the token embedding with GPT-2's (projected by SVD) or with PPMI-SVD vectors of the corpus. */
function initializeEmbeddings(model: FlashLM, spec: string, dataDir: string, msg: (t: string) => void): void {
  const { vocabSize: V, dim: d } = model.config;
  const w = model.embed.weight;
  const std = Math.sqrt(K.reduce('sumsq', w.ptr, w.size) / w.size);
  let values: Float32Array;
  if (spec.startsWith('gpt2:')) {
    const path = spec.slice(5);
    if (V !== 50257) throw new TernlmError(`--init-embeddings gpt2 needs the GPT-2 tokenizer (50,257 tokens); this dataset has ${V}`);
    values = gpt2Embeddings(path, d, { std });
    msg(`embeddings: GPT-2 token embeddings from ${path}, projected to ${d} dimensions by truncated SVD`);
  } else {
    const tokens = readTrainTokens(dataDir, 5_000_000);
    values = corpusEmbeddings(tokens, V, d, { std });
    msg(`embeddings: PPMI co-occurrence + randomized SVD of ${tokens.length.toLocaleString('en-US')} training tokens`);
  }
  w.f32().set(values);
}

/** The first `limit` tokens of the training split, in one array. */
function readTrainTokens(dataDir: string, limit: number): Int32Array {
  const out = new Int32Array(Math.min(limit, readMeta(dataDir).splits.train.tokens));
  let filled = 0;
  for (const chunk of trainTokenChunks(dataDir, out.length)) {
    out.set(chunk, filled);
    filled += chunk.length;
  }
  return out;
}

/**
 * Mean loss over up to `batches` B x T windows of the val split, from its start (the same windows
 * every time). A split too small for that is scored whole, once: fewer batches, rows or positions.
 */
export function evaluate(model: FlashLM, loader: BatchLoader, batches: number, B: number, T: number, valSplit: { tokens: number; bytes: number } | null): EvalResult {
  const available = loader.tokens - 1;
  if (available < 1) throw new TernlmError(`the ${loader.split} split has ${loader.tokens} token(s): too few to evaluate`);
  T = Math.min(T, available);
  B = Math.min(B, Math.floor(available / T));
  batches = Math.min(batches, Math.floor(available / (B * T)));
  loader.restore({ ...loader.state(), shard: 0, offset: 0 });
  let total = 0, n = 0;
  noGrad(() => {
    for (let i = 0; i < batches; i++) {
      const rows = loader.next(B, T);
      scope(() => {
        const { ids, targets } = splitBatch(rows, B, T);
        total += model.loss(ids, targets).item() * B * T;
        n += B * T;
      });
    }
  });
  const loss = total / n;
  return { loss, ppl: Math.exp(loss), bpb: valSplit ? bitsPerByte(loss, valSplit) : null, tokens: n };
}

/** The dropout seed of one micro-batch: a function of the run's seed and position only. */
function dropoutSeed(seed: number, step: number, micro: number): number {
  return (Math.imul(seed, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77) ^ Math.imul(micro + 1, 0xc2b2ae3d)) >>> 0;
}

/** (B, T+1) token rows -> input ids (B, T) and next-token targets (B*T). */
export function splitBatch(rows: Int32Array, B: number, T: number): { ids: Tensor; targets: Tensor } {
  const ids = Tensor.empty([B, T], 'i32');
  const targets = Tensor.empty([B * T], 'i32');
  const iv = ids.typed(), tv = targets.typed();
  for (let b = 0; b < B; b++) {
    const row = rows.subarray(b * (T + 1), (b + 1) * (T + 1));
    iv.set(row.subarray(0, T), b * T);
    tv.set(row.subarray(1), b * T);
  }
  return { ids, targets };
}

/** Generate `n` tokens after `prompt` by re-running the model on the window (samples during training). */
export function sampleText(model: FlashLM, tokenizer: Tokenizer, prompt: number[], n: number, sampler: Sampler): string {
  const ctx = model.config.contextLength;
  const out = [...prompt];
  noGrad(() => {
    for (let i = 0; i < n; i++) {
      const window = out.slice(-ctx);
      out.push(scope(() => {
        const h = model.hidden(Tensor.from(window, [1, window.length], 'i32'));
        return sampler.sample(model.head.logProbs(h.rows(window.length - 1, 1)).f32(), out);
      }));
    }
  });
  return tokenizer.decode(out.slice(prompt.length));
}

/** Train (or resume) and return a summary. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const c = o.config;
  if (!o.steps && !o.timeSeconds) throw new TernlmError('give a budget: --steps N or --time 60m');
  mkdirSync(o.outDir, { recursive: true });
  const ckptPath = join(o.outDir, 'ckpt.safetensors');
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  const samplesPath = join(o.outDir, 'samples.txt');
  const msg = o.onMessage ?? (() => {});

  const trainLoader = new BatchLoader(o.dataDir, 'train', { seed: c.seed, mode: 'random' });
  const valLoader = new BatchLoader(o.dataDir, 'val', { seed: c.seed, mode: 'sequential' });
  const meta = trainLoader.meta;
  const valSplit = { tokens: meta.splits.val.tokens, bytes: meta.splits.val.bytes };
  if (meta.vocabSize !== o.tokenizer.vocabSize) {
    throw new TernlmError(`the dataset ${o.dataDir} was tokenized with ${meta.vocabSize} tokens but the tokenizer has ${o.tokenizer.vocabSize}`);
  }
  const modelConfig: FlashLMConfig = { ...c.model, vocabSize: meta.vocabSize };
  const rng = new Rng(c.seed);
  // Frequency-based heads build their tree/clusters from the training tokens' counts; a resumed
  // run takes the counts saved in its checkpoint so that it rebuilds exactly the same head.
  let counts: number[] | null = null;
  if (modelConfig.head.type !== 'softmax') {
    counts = o.resume && existsSync(ckptPath) ? readCheckpointMeta(ckptPath).tokenCounts : null;
    counts ??= countTokens(o.dataDir, meta.vocabSize);
  }
  const model = new FlashLM(modelConfig, rng, counts ?? undefined);
  const named = model.namedParameters();
  const optimizer: Optimizer = createOptimizer(c, named);
  const sampler = new Sampler(meta.vocabSize, { temperature: 0.8, seed: c.seed + 1 });

  let step = 0, tokensSeen = 0, elapsed = 0, lrScale = 1;
  if (o.resume && existsSync(ckptPath)) {
    const ck = openCheckpoint(ckptPath);
    try {
      ck.restoreParams(named.map((p) => ({ name: p.name, tensor: p.tensor })));
      ck.restoreOptimizer(optimizer.stateTensors());
    } finally {
      ck.close();
    }
    step = ck.meta.step;
    tokensSeen = ck.meta.tokensSeen;
    elapsed = ck.meta.elapsed;
    lrScale = ck.meta.lrScale;
    optimizer.stepCount = step;
    trainLoader.restore(ck.meta.loader as LoaderState);
    msg(`resumed ${ckptPath} at step ${step} (${tokensSeen.toLocaleString('en-US')} tokens, ${elapsed.toFixed(0)} s)`);
  } else {
    if (o.resume) msg(`no checkpoint in ${o.outDir}: starting a new run`);
    if (c.initEmbeddings !== 'random') initializeEmbeddings(model, c.initEmbeddings, o.dataDir, msg);
  }
  writeTextAtomic(join(o.outDir, 'config.json'), JSON.stringify({ ...c, model: modelConfig }, null, 2) + '\n');

  const progressOf = (s: number, t: number): number => Math.min(1, o.steps ? s / o.steps : t / o.timeSeconds!);
  const save = (): void => {
    const m: CheckpointMeta = {
      format: CHECKPOINT_FORMAT, config: { ...c, model: modelConfig }, tokenizer: o.tokenizer.toJSON(), step, tokensSeen, elapsed,
      loader: trainLoader.state(), lrScale, tokenCounts: counts, valSplit,
    };
    timed('checkpoint', () => saveCheckpoint(ckptPath, named.map((p) => ({ name: p.name, tensor: p.tensor })), optimizer.stateTensors(), m));
  };
  const log = (obj: object): void => appendFileSync(metricsPath, JSON.stringify(obj) + '\n');

  // In-memory copy of the last good state, restored after a non-finite loss.
  const stateTensors = [...named.map((p) => p.tensor), ...optimizer.stateTensors().map((s) => s.tensor)];
  let snapshot = stateTensors.map((t) => Float32Array.from(t.f32()));
  let snapshotStep = step;

  let lastEval: EvalResult | null = null;
  let finalTrainLoss = NaN;
  let lastCheckpoint = performance.now();
  let windowTokens = 0, windowStart = performance.now(), windowLoss = 0, windowSteps = 0;
  let stoppedEarly = false;
  const B = c.batchSize;
  const bitLayers = model.bitLayers();

  const runEval = (): void => {
    const T = seqLenAt(c, 1);
    lastEval = evaluate(model, valLoader, c.evalBatches, B, T, valSplit);
    const ternary: Record<string, { alpha: number; neg: number; zero: number; pos: number }> = {};
    for (const { name, layer } of bitLayers) if (layer.opts.precision === 'ternary') ternary[name] = ternaryStats(layer.weight);
    log({ type: 'eval', step, tokens: tokensSeen, elapsed, val_loss: lastEval.loss, val_ppl: lastEval.ppl, val_bpb: lastEval.bpb, ternary });
    msg(`eval at step ${step}: val loss ${lastEval.loss.toFixed(4)}, ppl ${lastEval.ppl.toFixed(2)}` +
      (lastEval.bpb !== null ? `, ${lastEval.bpb.toFixed(4)} bits/byte` : ''));
    if (c.sampleTokens > 0) {
      const text = sampleText(model, o.tokenizer, [o.tokenizer.eotId], c.sampleTokens, sampler);
      appendFileSync(samplesPath, `--- step ${step}\n${text}\n`);
    }
  };

  let nanStreak = 0;
  let headShare: number | null = null;
  while (progressOf(step, elapsed) < 1) {
    // Let signal handlers (Ctrl-C) and I/O run between steps.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const t0 = performance.now();
    const progress = progressOf(step, elapsed);
    const T = seqLenAt(c, progress);
    const lr = learningRate(c, step, progress, o.steps) * lrScale;
    for (const { layer } of bitLayers) layer.ternaryActive = step >= c.ternaryStart;
    // Profile one step in a hundred (not the first: it pays for warm-up).
    const profile = step % 100 === 50;
    if (profile) startSectionTiming();
    let loss = 0;
    for (let micro = 0; micro < c.gradAccumulation; micro++) {
      const rows = trainLoader.next(B, T);
      loss += scope(() => {
        const { ids, targets } = splitBatch(rows, B, T);
        model.setDropoutSeed(dropoutSeed(c.seed, step, micro));
        const l = model.loss(ids, targets);
        model.setDropoutSeed(null);
        const value = l.item();
        if (Number.isFinite(value)) backward(l, 1 / c.gradAccumulation);
        return value;
      }) / c.gradAccumulation;
    }
    if (!Number.isFinite(loss)) {
      // Nothing was applied: restore the last good state (the step before may have broken it).
      stateTensors.forEach((t, i) => t.f32().set(snapshot[i]));
      lrScale *= 0.5;
      msg(`warning: non-finite loss at step ${step}; restored the state of step ${snapshotStep} and halved the learning rate (scale ${lrScale})`);
      log({ type: 'nan', step, restored_step: snapshotStep, lr_scale: lrScale });
      zeroGrad(named.map((p) => p.tensor));
      if (++nanStreak >= 8) throw new TernlmError(`the loss stayed non-finite for ${nanStreak} attempts at step ${step} even at ${lrScale} x the learning rate — check the data and the config`);
      continue;
    }
    nanStreak = 0;
    const params = named.filter((p) => p.tensor.requiresGrad).map((p) => p.tensor);
    const gradNorm = timed('optimizer', () => clipGradNorm(params, c.gradClip));
    timed('optimizer', () => optimizer.step(lr));
    zeroGrad(params);
    const times = profile ? takeSectionTimes() : null;

    step++;
    tokensSeen += B * T * c.gradAccumulation;
    const dt = (performance.now() - t0) / 1000;
    elapsed += dt;
    finalTrainLoss = loss;
    windowTokens += B * T * c.gradAccumulation;
    windowLoss += loss;
    windowSteps++;

    if (times) {
      const total = [...times.values()].reduce((a, b) => a + b, 0);
      const share: Record<string, number> = {};
      for (const [k, v] of times) share[k] = Number((v / total).toFixed(4));
      headShare = share.head ?? 0;
      log({ type: 'profile', step, ms: Object.fromEntries([...times].map(([k, v]) => [k, Number(v.toFixed(2))])), share });
    }
    if (step % c.logEvery === 0 || progressOf(step, elapsed) >= 1) {
      const now = performance.now();
      const line: TrainLog = {
        type: 'train', step, progress: progressOf(step, elapsed), loss: windowLoss / windowSteps, lr, seqLen: T, tokens: tokensSeen,
        tokensPerSecond: windowTokens / ((now - windowStart) / 1000), elapsed, gradNorm, headShare,
      };
      log(line);
      o.onLog?.(line);
      windowTokens = 0; windowLoss = 0; windowSteps = 0; windowStart = now;
    }
    if (step % c.evalEvery === 0) {
      runEval();
      snapshot = stateTensors.map((t) => Float32Array.from(t.f32()));
      snapshotStep = step;
    }
    const stop = o.shouldStop?.() ?? false;
    if (stop || performance.now() - lastCheckpoint > c.checkpointMinutes * 60_000) {
      save();
      lastCheckpoint = performance.now();
    }
    if (stop) {
      stoppedEarly = true;
      msg(`stopped at step ${step}; checkpoint saved to ${ckptPath} — continue with --resume`);
      break;
    }
  }
  if (!stoppedEarly) {
    save(); // first, so that a failing evaluation cannot lose the run
    if (step % c.evalEvery !== 0 || !lastEval) runEval();
  }
  return { steps: step, tokens: tokensSeen, elapsed, finalTrainLoss, lastEval, stoppedEarly, checkpoint: ckptPath };
}
