// `ternlm train --init <ckpt>`: a new run (fine-tuning) that starts from a base model's training
// checkpoint — its model config and weights — with a fresh optimizer and schedule. The data may
// use the base's tokenizer, or the base's grown by the chat template's special tokens
// (`ternlm prepare --chat`): then the token embedding, and an untied softmax head, grow by as many
// rows, each new row the mean of the base's rows (a token that starts out like an average token).
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { Tensor } from '../core/tensor.js';
import { withChatTokens } from '../data/chat.js';
import { checkpointTokenizerFingerprint, datasetTokenizerFingerprint, tokenizerFingerprint, type DatasetMeta } from '../data/meta.js';
import { tokenizerFromJSON } from '../data/tokenizer.js';
import { openCheckpoint, type CheckpointMeta } from '../io/checkpoint.js';
import { createModel, type DistributiveOmit, type LanguageModel, type ModelConfig } from '../models/index.js';
import { withOverrides, type TrainConfig } from './config.js';

type ModelFields = DistributiveOmit<ModelConfig, 'vocabSize'>;

/**
 * Model fields a fine-tuning run may set differently from its base: how it trains (dropout, what
 * is frozen), not what the weights are.
 */
const TRAINING_CHOICES = new Set(['dropout', 'frozenEmbeddings', 'frozenLayers']);

/** The model config a fine-tuning run takes from its base checkpoint. */
export function baseModelConfig(meta: CheckpointMeta): ModelConfig {
  return (meta.config as { model: ModelConfig }).model;
}

/** The training config a checkpoint holds (checked like a config file), its model without the vocabulary size. */
export function checkpointTrainConfig(meta: CheckpointMeta): TrainConfig {
  const { vocabSize: _, ...model } = baseModelConfig(meta);
  return withOverrides({ ...(meta.config as TrainConfig), model }, {});
}

/**
 * Check that a base checkpoint can start a run on `data`, before anything is written: the data's
 * tokenizer is the base's (or the base's plus the chat tokens), a growing vocabulary has a head
 * that can grow, and `asked` (the model fields of the run's config) matches the base but for the
 * training choices that leave the weights' shapes alone (TRAINING_CHOICES). Returns the run's
 * model fields.
 */
export function checkInitCheckpoint(path: string, meta: CheckpointMeta, data: DatasetMeta, dataDir: string, asked: ModelFields | null): ModelFields {
  const base = baseModelConfig(meta);
  const baseFingerprint = checkpointTokenizerFingerprint(meta, path);
  const dataFingerprint = datasetTokenizerFingerprint(data, dataDir);
  if (dataFingerprint !== baseFingerprint) {
    const chat = chatGrownFingerprint(meta.tokenizer, path);
    if (dataFingerprint !== chat) {
      throw new TernlmError(`${dataDir} was not tokenized with the tokenizer of ${path} (nor with it plus the chat tokens) — prepare the data with the base model's tokenizer: ternlm prepare --chat <jsonl> --tokenizer <its tok.json>`);
    }
  }
  if (data.vocabSize > base.vocabSize && base.head.type !== 'softmax') {
    throw new TernlmError(`${path} has a ${base.head.type} head, which cannot grow by the chat template's ${data.vocabSize - base.vocabSize} tokens — fine-tune a base model with a softmax head`);
  }
  const { vocabSize: _, ...fields } = base;
  if (asked) {
    const differ = [...new Set([...Object.keys(fields), ...Object.keys(asked)])]
      .filter((k) => !TRAINING_CHOICES.has(k) && JSON.stringify((fields as Record<string, unknown>)[k]) !== JSON.stringify((asked as Record<string, unknown>)[k]));
    if (differ.length > 0) {
      const show = (c: object, k: string): string => JSON.stringify((c as Record<string, unknown>)[k]);
      throw new TernlmError(`${path} holds a model whose ${differ.map((k) => `${k} is ${show(fields, k)} (the config says ${show(asked, k)})`).join(', ')} — leave out --config and model.* settings to take the checkpoint's model`);
    }
    return asked;
  }
  return fields;
}

/** The fingerprint of a checkpoint's tokenizer grown by the chat tokens, or null when it cannot grow. */
function chatGrownFingerprint(tokenizerJSON: unknown, path: string): string | null {
  try {
    return tokenizerFingerprint(withChatTokens(tokenizerFromJSON(tokenizerJSON, path)).toJSON());
  } catch (err) {
    if (err instanceof TernlmError) return null;
    throw err;
  }
}

/**
 * Load a base checkpoint's weights into `model` (of the base's config, perhaps with a larger
 * vocabulary): tensors of equal shape are copied; the vocabulary's rows of the token embedding
 * and the head are copied and the new rows set to the mean of the base's rows.
 */
export function loadBaseWeights(model: LanguageModel<ModelConfig>, path: string): void {
  const ck = openCheckpoint(path);
  try {
    const baseConfig = baseModelConfig(ck.meta);
    const base = createModel(baseConfig, new Rng(0), ck.meta.tokenCounts ?? undefined);
    ck.restoreParams(base.namedParameters().map((p) => ({ name: p.name, tensor: p.tensor })));
    const baseParams = new Map(base.namedParameters().map((p) => [p.name, p.tensor]));
    const vocabRows = new Set<Tensor>([...model.embed.parameters(), ...model.head.parameters()]);
    for (const { name, tensor } of model.namedParameters()) {
      const from = baseParams.get(name);
      if (!from) throw new TernlmError(`${path} has no parameter '${name}' — it holds a different model`);
      if (sameShape(from.shape, tensor.shape)) tensor.f32().set(from.f32());
      else if (vocabRows.has(tensor) && from.shape[0] === baseConfig.vocabSize && sameShape(from.shape.slice(1), tensor.shape.slice(1))) growRows(from, tensor);
      else throw new TernlmError(`${path}: '${name}' has shape [${from.shape.join(', ')}], the model expects [${tensor.shape.join(', ')}]`);
    }
  } finally {
    ck.close();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** to (V', ...) <- from (V, ...) with rows V.. V'-1 set to the mean of from's rows. */
function growRows(from: Tensor, to: Tensor): void {
  const src = from.f32(), dst = to.f32();
  const rowSize = src.length / from.shape[0];
  dst.set(src);
  const mean = new Float64Array(rowSize);
  for (let r = 0; r < from.shape[0]; r++) for (let j = 0; j < rowSize; j++) mean[j] += src[r * rowSize + j];
  for (let j = 0; j < rowSize; j++) mean[j] /= from.shape[0];
  for (let r = from.shape[0]; r < to.shape[0]; r++) for (let j = 0; j < rowSize; j++) dst[r * rowSize + j] = mean[j];
}
