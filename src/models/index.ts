// The model families, by config: `model.family` picks the class and its defaults.
import { Rng } from '../core/rng.js';
import type { HeadConfig as HeadStructure } from '../heads/index.js';
import { BITNET_DEFAULTS, BitNet, type BitNetConfig } from './bitnet.js';
import { CPUFLOW_DEFAULTS, Cpuflow, type CpuflowConfig } from './cpuflow.js';
import { FLASHLM_DEFAULTS, FlashLM, type FlashLMConfig } from './flashlm.js';
import { FLASHLM_MLP_DEFAULTS, FlashLMMlp, type FlashLMMlpConfig } from './flashlm-mlp.js';
import { GPT2, GPT2_DEFAULTS, type GPT2Config } from './gpt2.js';
import { MMFREE_DEFAULTS, Mmfree, type MmfreeConfig } from './mmfree.js';
import { MOF_DEFAULTS, Mof, type MofConfig } from './mof.js';
import type { LanguageModel } from './language-model.js';
import { applyPrecisionOverrides } from './precision.js';

export type ModelConfig = FlashLMConfig | GPT2Config | BitNetConfig | MmfreeConfig | FlashLMMlpConfig | CpuflowConfig | MofConfig;
export type ModelFamily = ModelConfig['family'];

/** Each family's defaults (everything but the vocabulary, which the data sets). */
export const MODEL_DEFAULTS: { [F in ModelFamily]: Omit<Extract<ModelConfig, { family: F }>, 'vocabSize'> } = {
  flashlm: FLASHLM_DEFAULTS,
  gpt2: GPT2_DEFAULTS,
  bitnet: BITNET_DEFAULTS,
  mmfree: MMFREE_DEFAULTS,
  'flashlm-mlp': FLASHLM_MLP_DEFAULTS,
  cpuflow: CPUFLOW_DEFAULTS,
  mof: MOF_DEFAULTS,
};

export const MODEL_FAMILIES = Object.keys(MODEL_DEFAULTS) as ModelFamily[];

/**
 * Build a model of the config's family. `tokenCounts` (the training tokens' frequencies) build a
 * hierarchical or adaptive head; `headStructure` rebuilds one saved in an exported model instead.
 */
export function createModel(config: ModelConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure): LanguageModel<ModelConfig> {
  const model = createFamilyModel(config, rng, tokenCounts, headStructure);
  applyPrecisionOverrides(model.bitLayers(), config.precisionOverrides, config.family);
  return model;
}

/** The model of the config's family, every projection at the family's `precision`. */
function createFamilyModel(config: ModelConfig, rng: Rng, tokenCounts?: ArrayLike<number>, headStructure?: HeadStructure): LanguageModel<ModelConfig> {
  switch (config.family) {
    case 'flashlm':
      return new FlashLM(config, rng, tokenCounts, headStructure);
    case 'gpt2':
      return new GPT2(config, rng, tokenCounts, headStructure);
    case 'bitnet':
      return new BitNet(config, rng, tokenCounts, headStructure);
    case 'mmfree':
      return new Mmfree(config, rng, tokenCounts, headStructure);
    case 'flashlm-mlp':
      return new FlashLMMlp(config, rng, tokenCounts, headStructure);
    case 'cpuflow':
      return new Cpuflow(config, rng, tokenCounts, headStructure);
    case 'mof':
      return new Mof(config, rng, tokenCounts, headStructure);
    default:
      throw new Error(`unknown model family '${(config as { family: string }).family}': expected ${MODEL_FAMILIES.join(', ')}`);
  }
}

/** A config's model fields with the data's vocabulary size. */
export function withVocabulary(model: DistributiveOmit<ModelConfig, 'vocabSize'>, vocabSize: number): ModelConfig {
  return { ...model, vocabSize } as ModelConfig;
}

export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export { LanguageModel } from './language-model.js';
export type { FlashLMConfig, GPT2Config, BitNetConfig, MmfreeConfig, FlashLMMlpConfig, CpuflowConfig, MofConfig };

/** The precision of a model's projections, for logs: a GPT-2's is fp32; overrides after it ('fp32, blocks.*.attn.* ternary'). */
export function modelPrecision(c: ModelConfig): string {
  return ['precision' in c ? c.precision : 'fp32', ...Object.entries(c.precisionOverrides ?? {}).map(([pattern, p]) => `${pattern} ${p}`)].join(', ');
}
