// Post-training ternarization (`ternlm ternarize`): a float model's chosen projections become
// ternary BitLinear layers — AbsMean ternary weights whose fp32 master copy is the float weights,
// 8-bit activations as the family's ternary models have them — expressed in the model config as
// `precisionOverrides` (src/models/precision.ts), so nothing else about the model changes. The
// result is written as a training checkpoint at step 0, which `ternlm train --init` fine-tunes
// and `--resume` continues, and `eval`, `export` and `generate` take like any other.
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { tokenizerFingerprint } from '../data/meta.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../io/checkpoint.js';
import { createModel, MODEL_DEFAULTS, type LanguageModel, type ModelConfig } from '../models/index.js';
import { describeProjections, matchingProjections, type PrecisionOverrides } from '../models/precision.js';
import type { TrainConfig } from './config.js';
import { TrainingObjective } from './fsp.js';
import { createOptimizer } from './setup.js';

/**
 * The model config of `float` with the projections `pattern` matches (default: all) ternary.
 * Refuses a pattern that matches none (listing them) and a choice whose projections are all
 * ternary already.
 */
export function ternarizedConfig(float: LanguageModel<ModelConfig>, pattern: string | undefined): ModelConfig {
  const c = float.config;
  const projections = float.bitLayers();
  const key = pattern ?? '*';
  const chosen = matchingProjections(projections, key);
  if (chosen.length === 0) {
    throw new TernlmError(`--layers '${key}' matches no projection of this ${c.family} model — its projections are ${describeProjections(projections.map((p) => p.name))}`);
  }
  if (chosen.every((p) => p.layer.opts.precision === 'ternary')) {
    throw new TernlmError(`the ${chosen.length} projection(s) --layers '${key}' matches are ternary already — ternarize takes a float model (a -float config's checkpoint, an llm.c GPT-2 .bin, a llama2.c .bin)`);
  }
  return hybridConfig(float, { [key]: 'ternary' });
}

/**
 * The model config of `float` with `overrides` (pattern -> precision) after its own, and the
 * activations its family's ternary models have (8-bit where they quantize them; a float layer
 * ignores the setting, so the model computes what `float` does until a projection turns ternary).
 * GPT-2 has no such setting: its ternary projections always take 8-bit activations.
 */
export function hybridConfig(float: LanguageModel<ModelConfig>, overrides: PrecisionOverrides): ModelConfig {
  const c = float.config;
  const defaults = MODEL_DEFAULTS[c.family];
  const activations = 'quantizeActivations' in defaults ? { quantizeActivations: defaults.quantizeActivations } : {};
  // The new patterns go last, so that they win over any earlier one that matches the same projections.
  const earlier = Object.fromEntries(Object.entries(c.precisionOverrides ?? {}).filter(([pattern]) => !(pattern in overrides)));
  return { ...c, ...activations, precisionOverrides: { ...earlier, ...overrides } };
}

/** A new model of `config` (from ternarizedConfig) holding `float`'s weights. */
export function ternarizedModel(float: LanguageModel<ModelConfig>, config: ModelConfig, tokenCounts?: ArrayLike<number>): LanguageModel<ModelConfig> {
  const model = createModel(config, new Rng(0), tokenCounts);
  const weights = new Map(float.namedParameters().map((p) => [p.name, p.tensor]));
  for (const { name, tensor } of model.namedParameters()) tensor.f32().set(weights.get(name)!.f32());
  return model;
}

/**
 * Write `model` as a training checkpoint at step 0 under the training config `train` (whose
 * model is the model's): its weights, a fresh optimizer's state and objective's parameters, no
 * data position yet and no plan. Atomic, like every checkpoint save. Returns the file's bytes.
 */
export function saveStepZeroCheckpoint(path: string, model: LanguageModel<ModelConfig>, train: TrainConfig, tokenizerJSON: object, tokenCounts: number[] | null): number {
  const objective = new TrainingObjective(model, train.fsp, train.seed);
  const named = [...model.namedParameters(), ...objective.namedParameters()];
  const optimizer = createOptimizer(train, named);
  const state = optimizer.stateTensors();
  try {
    return saveCheckpoint(path, named.map((p) => ({ name: p.name, tensor: p.tensor })), state, {
      format: CHECKPOINT_FORMAT, config: { ...train, model: model.config }, tokenizer: tokenizerJSON,
      tokenizerFingerprint: tokenizerFingerprint(tokenizerJSON), step: 0, tokensSeen: 0, elapsed: 0,
      loader: null, lrScale: 1, tokenCounts, valSplit: null, skippedSteps: 0,
    });
  } finally {
    for (const t of [...state, ...objective.namedParameters()]) t.tensor.dispose();
  }
}
