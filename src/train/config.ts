// Training configuration: a JSON file in configs/, every field overridable from the CLI.
import { readFileSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { FLASHLM_DEFAULTS, type FlashLMConfig } from '../models/flashlm.js';

export interface CurriculumPhase {
  /** Sequence length of this phase. */
  seqLen: number;
  /** The phase lasts until this fraction of the run (by steps, or by time with --time). */
  until: number;
}

export interface TrainConfig {
  name: string;
  model: Omit<FlashLMConfig, 'vocabSize'>;
  batchSize: number;
  /** Sequence length when there is no curriculum. */
  seqLen: number;
  curriculum: CurriculumPhase[];
  optimizer: 'adamw' | 'muon' | 'normuon';
  /** Peak learning rate of AdamW (and of everything AdamW updates under Muon). */
  lr: number;
  /** Peak learning rate of the Muon-updated matrices. */
  muonLr: number;
  schedule: 'cosine' | 'wsd';
  warmupSteps: number;
  minLrRatio: number;
  /** WSD: the final fraction of the run that decays. */
  decayFraction: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  gradClip: number;
  gradAccumulation: number;
  /** Train in float until this step, then ternarize (BitNet's float warm-up). */
  ternaryStart: number;
  logEvery: number;
  evalEvery: number;
  evalBatches: number;
  /** Tokens per sample written at each eval (0: none). */
  sampleTokens: number;
  checkpointMinutes: number;
  seed: number;
  /** Token embeddings at the start: random, from the corpus (PPMI + SVD), or 'gpt2:<model.safetensors>'. */
  initEmbeddings: string;
}

export const TRAIN_DEFAULTS: TrainConfig = {
  name: 'flashlm',
  model: FLASHLM_DEFAULTS,
  batchSize: 16,
  seqLen: 128,
  curriculum: [],
  optimizer: 'adamw',
  lr: 3e-3,
  muonLr: 0.02,
  schedule: 'cosine',
  warmupSteps: 100,
  minLrRatio: 0.1,
  decayFraction: 0.2,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.95,
  gradClip: 1,
  gradAccumulation: 1,
  ternaryStart: 0,
  logEvery: 10,
  evalEvery: 200,
  evalBatches: 16,
  sampleTokens: 64,
  checkpointMinutes: 10,
  seed: 1,
  initEmbeddings: 'random',
};

/** Deep-merge b over a (plain objects merge, arrays and values replace). */
function merge<T>(a: T, b: unknown): T {
  if (b === undefined) return a;
  if (a && typeof a === 'object' && !Array.isArray(a) && b && typeof b === 'object' && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
    for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = merge(out[k], v);
    return out as T;
  }
  return b as T;
}

/** Read a config JSON file over the defaults. */
export function loadTrainConfig(path: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new TernlmError(e.code === 'ENOENT' ? `config ${path} not found` : `config ${path} is not valid JSON: ${e.message}`);
  }
  return withOverrides(TRAIN_DEFAULTS, raw);
}

export function withOverrides(base: TrainConfig, overrides: unknown): TrainConfig {
  const c = merge(base, overrides);
  validate(c);
  return c;
}

/**
 * `key.path=value` overrides from the CLI (`--set model.dim=128 --set lr=0.001`): values parse
 * as JSON when they can (numbers, booleans, arrays), else stay strings.
 */
export function parseOverrides(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new TernlmError(`--set expects key=value, got '${pair}'`);
    const keys = pair.slice(0, eq).split('.');
    let value: unknown = pair.slice(eq + 1);
    try {
      value = JSON.parse(value as string);
    } catch {
      /* a plain string */
    }
    let node = out;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[keys[keys.length - 1]] = value;
  }
  return out;
}

function validate(c: TrainConfig): void {
  const positive: (keyof TrainConfig)[] = ['batchSize', 'seqLen', 'lr', 'gradAccumulation', 'evalBatches'];
  for (const k of positive) {
    if (typeof c[k] !== 'number' || !((c[k] as number) > 0)) throw new TernlmError(`config: ${k} must be a positive number, got ${JSON.stringify(c[k])}`);
  }
  if (!['adamw', 'muon', 'normuon'].includes(c.optimizer)) throw new TernlmError(`config: optimizer must be adamw, muon or normuon, got ${c.optimizer}`);
  if (!['cosine', 'wsd'].includes(c.schedule)) throw new TernlmError(`config: schedule must be cosine or wsd, got ${c.schedule}`);
  if (!['ternary', 'int8', 'fp32'].includes(c.model.precision)) throw new TernlmError(`config: model.precision must be ternary, int8 or fp32`);
  if (!(c.initEmbeddings === 'random' || c.initEmbeddings === 'corpus' || c.initEmbeddings.startsWith('gpt2:'))) {
    throw new TernlmError(`config: initEmbeddings must be random, corpus or gpt2:<model.safetensors>, got ${c.initEmbeddings}`);
  }
  if (!(c.model.dropout >= 0 && c.model.dropout < 1)) throw new TernlmError(`config: model.dropout must be in [0, 1), got ${JSON.stringify(c.model.dropout)}`);
  for (const p of c.curriculum) {
    if (!(p.seqLen > 0) || !(p.until > 0 && p.until <= 1)) throw new TernlmError(`config: curriculum phases need seqLen > 0 and 0 < until <= 1`);
  }
  const maxT = Math.max(c.seqLen, ...c.curriculum.map((p) => p.seqLen));
  if (maxT > c.model.contextLength) throw new TernlmError(`config: sequence length ${maxT} exceeds model.contextLength ${c.model.contextLength}`);
}

/** Sequence length at run progress p in [0, 1]. */
export function seqLenAt(c: TrainConfig, progress: number): number {
  for (const phase of c.curriculum) if (progress < phase.until) return phase.seqLen;
  return c.curriculum.length > 0 ? c.curriculum[c.curriculum.length - 1].seqLen : c.seqLen;
}
