// Checkpoints: one safetensors file holding the parameters, the optimizer state and, in its
// metadata, everything else a bit-exact resume needs (config, tokenizer, step, data position,
// the run's plan). What a save guarantees:
// - atomic: written to a temp file, fsynced, read back and checked, then renamed into place;
// - the previous checkpoint is kept as `<name>.prev.safetensors` until the new one is on disk;
// - a checksum per tensor (see safetensors.ts): a flipped byte is refused, naming the tensor;
// - parameters and optimizer state are finite: a load refuses NaN or infinity, naming the tensor.
import { existsSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { openSafetensors, writeSafetensors, type SafetensorsFile, type TensorToWrite } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'ternlm-checkpoint-1';

/** How long a run lasts, stored so that a resumed run follows the same plan. */
export interface PlanRecord {
  /** What the run was given: a number of steps or a time budget. */
  budget: 'steps' | 'time';
  /** The time budget in seconds (budget 'time'). */
  seconds: number | null;
  /** Total optimizer steps; null while a time-budget run is still measuring its pace. */
  totalSteps: number | null;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  /** The training config (model config inside, vocabSize filled in). */
  config: unknown;
  /** tokenizer.toJSON() */
  tokenizer: unknown;
  /** Fingerprint of the tokenizer (data/meta.ts `tokenizerFingerprint`); absent in older checkpoints. */
  tokenizerFingerprint?: string;
  step: number;
  tokensSeen: number;
  /** Seconds of training so far. */
  elapsed: number;
  /** The loader's state after the last step; null before any training (a checkpoint from `ternlm ternarize`). */
  loader: unknown;
  /** Multiplier on the schedule's LR (lowered after a non-finite loss). */
  lrScale: number;
  /** Token frequencies for frequency-based heads, or null. */
  tokenCounts: number[] | null;
  /** Size of the dataset's val split in tokens and bytes, for bits per byte. */
  valSplit: { tokens: number; bytes: number } | null;
  /** The run's plan; absent in older checkpoints. */
  plan?: PlanRecord;
  /** Steps skipped so far because their gradient was not finite. */
  skippedSteps?: number;
}

export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

/** Where the checkpoint before the latest one is kept. */
export function previousCheckpointPath(path: string): string {
  return path.replace(/(\.safetensors)?$/, '.prev.safetensors');
}

/**
 * Write params (as `param.<name>`) and optimizer state (as `optim.<name>`) with meta. The new
 * file is read back and verified before it replaces the old one, which stays as the previous
 * checkpoint. Returns the file size in bytes.
 */
export function saveCheckpoint(path: string, params: NamedTensor[], optimState: NamedTensor[], meta: CheckpointMeta): number {
  const tensors: TensorToWrite[] = [];
  for (const { name, tensor } of params) tensors.push({ name: `param.${name}`, dtype: 'F32', shape: tensor.shape, data: Float32Array.from(tensor.f32()) });
  for (const { name, tensor } of optimState) tensors.push({ name: `optim.${name}`, dtype: 'F32', shape: tensor.shape, data: Float32Array.from(tensor.f32()) });
  for (const t of tensors) {
    const bad = firstNonFinite(t.data as Float32Array);
    if (bad >= 0) throw new TernlmError(`refusing to save ${path}: tensor '${t.name}' holds a non-finite value at element ${bad}`);
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) metadata[k] = JSON.stringify(v);
  const verify = (tmp: string): void => {
    const f = openSafetensors(tmp);
    try {
      f.verifyAll();
    } finally {
      f.close();
    }
  };
  return writeSafetensors(path, tensors, metadata, { verify, keepPreviousAs: previousCheckpointPath(path) }).bytes;
}

export interface LoadedCheckpoint {
  /** The file these came from (the previous checkpoint when the latest was damaged). */
  path: string;
  meta: CheckpointMeta;
  /** Copy the stored values into these tensors (names without prefix); missing or mis-shaped -> error. */
  restoreParams(params: NamedTensor[]): void;
  restoreOptimizer(state: NamedTensor[]): void;
  close(): void;
}

function parseMeta(path: string, metadata: Readonly<Record<string, string>>): CheckpointMeta {
  const meta: Record<string, unknown> = {};
  try {
    for (const [k, v] of Object.entries(metadata)) meta[k] = JSON.parse(v);
  } catch {
    throw new TernlmError(`checkpoint ${path} has corrupt metadata`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new TernlmError(`${path} is not a ternlm training checkpoint (format ${JSON.stringify(meta.format ?? 'missing')})`);
  return meta as unknown as CheckpointMeta;
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/**
 * Open a checkpoint and check all of it before anything is restored: every tensor's checksum,
 * and that every value is finite.
 */
export function openCheckpoint(path: string): LoadedCheckpoint {
  const f = openSafetensors(path);
  let meta: CheckpointMeta;
  try {
    meta = parseMeta(path, f.metadata);
    checkAll(f);
  } catch (err) {
    f.close();
    throw err;
  }
  const restore = (prefix: string, list: NamedTensor[]): void => {
    for (const { name, tensor } of list) {
      const key = `${prefix}.${name}`;
      if (!f.has(key)) throw new TernlmError(`checkpoint ${path} has no tensor '${key}' — it was written by a different model or optimizer`);
      const info = f.info(key);
      if (info.shape.length !== tensor.shape.length || info.shape.some((d, i) => d !== tensor.shape[i])) {
        throw new TernlmError(`checkpoint ${path}: '${key}' has shape [${info.shape.join(', ')}], the model expects [${tensor.shape.join(', ')}]`);
      }
      tensor.f32().set(f.readF32(key));
    }
  };
  return {
    path,
    meta,
    restoreParams: (params) => restore('param', params),
    restoreOptimizer: (state) => restore('optim', state),
    close: () => f.close(),
  };
}

/**
 * Every tensor's checksum (read checks it) and finiteness, before anything is restored, so that
 * a bad file can be refused (or the previous checkpoint taken) with the model untouched. The
 * values are not kept: restoring reads them again, which costs a second read of the file but
 * never holds a second copy of a large model in memory.
 */
function checkAll(f: SafetensorsFile): void {
  for (const t of f.tensors) {
    if (t.dtype !== 'F32') continue;
    const bad = firstNonFinite(f.readF32(t.name));
    if (bad >= 0) {
      throw new TernlmError(`${f.path}: tensor '${t.name}' holds non-finite values (NaN or infinity, first at element ${bad}) — the run diverged before this save; use the previous checkpoint or retrain`);
    }
  }
}

/** The metadata of a checkpoint (checked like `openCheckpoint`). */
export function readCheckpointMeta(path: string): CheckpointMeta {
  const ck = openCheckpoint(path);
  ck.close();
  return ck.meta;
}

/**
 * The checkpoint a resumed run continues from: `path`, or, when it is missing, damaged, cut off
 * or not finite, the previous checkpoint beside it (`warn` says why). Null when neither exists.
 */
export function openLatestGoodCheckpoint(path: string, warn: (text: string) => void): LoadedCheckpoint | null {
  const previous = previousCheckpointPath(path);
  if (!existsSync(path)) {
    if (!existsSync(previous)) return null;
    warn(`warning: ${path} is missing (a save was interrupted); resuming from the previous checkpoint ${previous}`);
    return openCheckpoint(previous);
  }
  try {
    return openCheckpoint(path);
  } catch (err) {
    if (!(err instanceof TernlmError) || !existsSync(previous)) throw err;
    const ck = openCheckpoint(previous);
    warn(`warning: ${err.message.split(' — ')[0]}; resuming from the previous checkpoint ${previous} (step ${ck.meta.step})`);
    return ck;
  }
}
