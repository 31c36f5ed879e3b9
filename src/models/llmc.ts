// GPT-2 <-> llm.c's checkpoint (src/io/llmc.ts): the file's tensors are our GPT-2's parameters
// under the same names, so converting is checking the shape and copying.
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { paddedVocab, readLlmcGpt2, readLlmcGpt2Shape, writeLlmcGpt2, type LlmcDtype, type LlmcGpt2Shape } from '../io/llmc.js';
import { GPT2, GPT2_DEFAULTS, type GPT2Config } from './gpt2.js';
import type { ModelConfig } from './index.js';
import type { LanguageModel } from './language-model.js';
import { describeProjections } from './precision.js';

/** The GPT-2 model config an llm.c checkpoint's header describes. */
export function gpt2ConfigFromLlmc(shape: LlmcGpt2Shape): GPT2Config {
  return { ...GPT2_DEFAULTS, vocabSize: shape.vocabSize, dim: shape.channels, layers: shape.layers, heads: shape.heads, contextLength: shape.maxSeqLen };
}

/** Why `model` cannot be written as an llm.c GPT-2 checkpoint, or null when it can. */
function llmcIncompatibility(c: ModelConfig): string | null {
  if (c.family !== 'gpt2') return `it is a ${c.family} model; llm.c's checkpoint holds GPT-2 models only`;
  if (c.head.type !== 'softmax' || !c.head.tied) return `its head is ${c.head.type}${c.head.type === 'softmax' ? ' (untied)' : ''}; llm.c's GPT-2 reads its logits off the token embedding (a tied softmax head)`;
  return null;
}

/**
 * Write a trained GPT-2 as llm.c's checkpoint (fp32: version 3; bf16: version 5). Its projections
 * must all be fp32: llm.c's file holds float weights only, and the master weights of a ternary or
 * int8 projection are not what the model multiplies by.
 */
export function writeModelAsLlmc(model: LanguageModel<ModelConfig>, path: string, dtype: LlmcDtype): { bytes: number; shape: LlmcGpt2Shape } {
  const c = model.config;
  const why = llmcIncompatibility(c);
  if (why !== null || c.family !== 'gpt2') throw new TernlmError(`cannot write an llm.c checkpoint: ${why}`);
  const quantized = model.bitLayers().filter((p) => p.layer.opts.precision !== 'fp32');
  if (quantized.length > 0) {
    throw new TernlmError(`cannot write an llm.c checkpoint: the model's projections ${describeProjections(quantized.map((p) => p.name))} are not fp32, and llm.c's GPT-2 holds float weights only — export it as ternlm's packed file instead (ternlm export without --format)`);
  }
  const shape: LlmcGpt2Shape = {
    maxSeqLen: c.contextLength, vocabSize: c.vocabSize, paddedVocabSize: paddedVocab(c.vocabSize),
    layers: c.layers, heads: c.heads, channels: c.dim,
  };
  const params = new Map(model.namedParameters().map((p) => [p.name, p.tensor]));
  const { bytes } = writeLlmcGpt2(path, shape, (name) => {
    const t = params.get(name);
    if (!t) throw new Error(`GPT-2 model has no parameter ${name}`);
    return t.f32();
  }, dtype);
  return { bytes, shape };
}

/** Read an llm.c GPT-2 checkpoint into a new gpt2-family model with its weights (every projection fp32). */
export function loadLlmcAsGpt2(path: string): GPT2 {
  const model = new GPT2(gpt2ConfigFromLlmc(readLlmcGpt2Shape(path).shape), new Rng(0));
  try {
    loadLlmcInto(model, path);
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * Copy an llm.c checkpoint's weights into a GPT-2 model of the same shape (a new run that starts
 * from llm.c's weights). The model's vocabulary must be the file's.
 */
export function loadLlmcInto(model: LanguageModel<ModelConfig>, path: string): LlmcGpt2Shape {
  const ck = readLlmcGpt2(path);
  const c = model.config;
  const want = gpt2ConfigFromLlmc(ck.shape);
  const why = llmcIncompatibility(c);
  if (why !== null || c.family !== 'gpt2') throw new TernlmError(`cannot start from ${path}: the run's model is not llm.c's GPT-2 (${why})`);
  for (const k of ['vocabSize', 'dim', 'layers', 'heads', 'contextLength'] as const) {
    if (c[k] !== want[k]) {
      const hint = k === 'vocabSize' ? ' — prepare the data with the tokenizer the checkpoint was trained with' : '';
      throw new TernlmError(`${path} has ${k} ${want[k]}, the run's model ${c[k]}${hint}`);
    }
  }
  for (const { name, tensor } of model.namedParameters()) {
    const t = ck.tensors.get(name);
    if (!t || t.data.length !== tensor.size) throw new TernlmError(`${path}: tensor ${name} is missing or has the wrong size`);
    tensor.f32().set(t.data);
  }
  return ck.shape;
}
