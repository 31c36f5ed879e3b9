// The model configs the page offers: small enough that a tab trains them in minutes on two
// threads. Each is a config of a ternlm family (src/models/) with the training settings of
// configs/*.json that the page uses (`ternlm bench page` times them in the page and in Node).
import { BITNET_DEFAULTS } from '../../models/bitnet.js';
import { FLASHLM_DEFAULTS } from '../../models/flashlm.js';
import { GPT2_DEFAULTS } from '../../models/gpt2.js';
import type { DistributiveOmit, ModelConfig } from '../../models/index.js';
import type { OptimizerSettings, ScheduleSettings } from '../../train/setup.js';

export interface Preset {
  id: string;
  /** One line for the model menu. */
  label: string;
  model: DistributiveOmit<ModelConfig, 'vocabSize'>;
  train: OptimizerSettings & ScheduleSettings & { batchSize: number; seqLen: number; gradClip: number };
}

/** Tokens of the byte-level BPE the page trains on the text (256 bytes, <|endoftext|>, merges). */
export const PAGE_VOCAB = 512;

const TRAIN = {
  optimizer: 'adamw', lr: 3e-3, muonLr: 0.02, beta1: 0.9, beta2: 0.95, weightDecay: 0.1,
  schedule: 'cosine', warmupSteps: 20, decayFraction: 0.2, minLrRatio: 0.1, gradClip: 1,
} as const;

export const PRESETS: readonly Preset[] = [
  {
    id: 'flashlm-micro',
    label: 'FlashLM micro (ternary, 2 layers, dim 128)',
    model: { ...FLASHLM_DEFAULTS, dim: 128, layers: 2, dilations: [1, 4], gluMult: 2, recurrence: 1, contextLength: 128 },
    train: { ...TRAIN, batchSize: 8, seqLen: 64 },
  },
  {
    id: 'flashlm-tiny',
    label: 'FlashLM tiny (ternary, 3 layers, dim 256: configs/flashlm-tiny)',
    model: { ...FLASHLM_DEFAULTS, dim: 256, layers: 3, dilations: [1, 4, 64], gluMult: 2, recurrence: 1, contextLength: 256 },
    train: { ...TRAIN, batchSize: 8, seqLen: 128 },
  },
  {
    id: 'bitnet-micro',
    label: 'BitNet b1.58 micro (ternary attention, 2 layers, dim 128)',
    model: { ...BITNET_DEFAULTS, dim: 128, layers: 2, heads: 4, kvHeads: 2, contextLength: 128 },
    train: { ...TRAIN, batchSize: 8, seqLen: 64 },
  },
  {
    id: 'gpt2-micro',
    label: 'GPT-2 micro (fp32, 2 layers, dim 128)',
    model: { ...GPT2_DEFAULTS, dim: 128, layers: 2, heads: 4, contextLength: 128 },
    train: { ...TRAIN, lr: 2e-3, batchSize: 8, seqLen: 64 },
  },
];

/** The preset of `id`; the page only sends ids it listed. */
export function presetOf(id: string): Preset {
  const p = PRESETS.find((x) => x.id === id);
  if (!p) throw new Error(`unknown preset '${id}'`);
  return p;
}
