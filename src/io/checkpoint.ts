// Checkpoints: one safetensors file holding the parameters, the optimizer state and, in its
// metadata, everything else a bit-exact resume needs (config, tokenizer, step, data position,
// RNG state). Written atomically: a crash leaves the previous checkpoint intact.
import { TernlmError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { openSafetensors, writeSafetensors, type TensorToWrite } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'ternlm-checkpoint-1';

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  /** The training config (model config inside, vocabSize filled in). */
  config: unknown;
  /** tokenizer.toJSON() */
  tokenizer: unknown;
  step: number;
  tokensSeen: number;
  /** Seconds of training so far (the time budget of --time counts these). */
  elapsed: number;
  /** The loader's state after the last step. */
  loader: unknown;
  /** Multiplier on the schedule's LR (lowered after a non-finite loss). */
  lrScale: number;
  /** Token frequencies for frequency-based heads, or null. */
  tokenCounts: number[] | null;
  /** Size of the dataset's val split in tokens and bytes, for bits per byte. */
  valSplit: { tokens: number; bytes: number } | null;
}

export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

/** Write params (as `param.<name>`) and optimizer state (as `optim.<name>`) with meta. */
export function saveCheckpoint(path: string, params: NamedTensor[], optimState: NamedTensor[], meta: CheckpointMeta): number {
  const tensors: TensorToWrite[] = [];
  for (const { name, tensor } of params) tensors.push({ name: `param.${name}`, dtype: 'F32', shape: tensor.shape, data: Float32Array.from(tensor.f32()) });
  for (const { name, tensor } of optimState) tensors.push({ name: `optim.${name}`, dtype: 'F32', shape: tensor.shape, data: Float32Array.from(tensor.f32()) });
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) metadata[k] = JSON.stringify(v);
  return writeSafetensors(path, tensors, metadata).bytes;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  /** Copy the stored values into these tensors (names without prefix); missing or mis-shaped -> error. */
  restoreParams(params: NamedTensor[]): void;
  restoreOptimizer(state: NamedTensor[]): void;
  close(): void;
}

export function readCheckpointMeta(path: string): CheckpointMeta {
  const f = openSafetensors(path);
  try {
    return parseMeta(path, f.metadata);
  } finally {
    f.close();
  }
}

function parseMeta(path: string, metadata: Readonly<Record<string, string>>): CheckpointMeta {
  const format = metadata.format ? JSON.parse(metadata.format) : undefined;
  if (format !== CHECKPOINT_FORMAT) throw new TernlmError(`${path} is not a ternlm training checkpoint (format ${JSON.stringify(format ?? 'missing')})`);
  const meta: Record<string, unknown> = {};
  try {
    for (const [k, v] of Object.entries(metadata)) meta[k] = JSON.parse(v);
  } catch {
    throw new TernlmError(`checkpoint ${path} has corrupt metadata`);
  }
  return meta as unknown as CheckpointMeta;
}

export function openCheckpoint(path: string): LoadedCheckpoint {
  const f = openSafetensors(path);
  let meta: CheckpointMeta;
  try {
    meta = parseMeta(path, f.metadata);
  } catch (err) {
    f.close();
    throw err;
  }
  const restore = (prefix: string, list: NamedTensor[]) => {
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
    meta,
    restoreParams: (params) => restore('param', params),
    restoreOptimizer: (state) => restore('optim', state),
    close: () => f.close(),
  };
}
