// An exported model's engine, by the family its metadata names: the one switch that both
// `loadExport` (a file, load.ts) and the browser page (bytes in memory) go through.
import { TernlmError } from '../core/errors.js';
import { MODEL_FAMILIES } from '../models/index.js';
import { BitNetInference } from './bitnet.js';
import { CpuflowInference } from './cpuflow.js';
import { FlashLMInference } from './flashlm.js';
import { FlashLMMlpInference } from './flashlm-mlp.js';
import { GPT2Inference } from './gpt2.js';
import { MmfreeInference } from './mmfree.js';
import { MofInference } from './mof.js';
import type { InferenceModel } from './model.js';
import type { PackedSource } from './packed-format.js';

/** The engine of an opened export's family; it takes over the source's file (and closes it on a refusal). */
export function exportedModel(source: PackedSource): InferenceModel {
  const family = (source.meta.config as { family?: unknown }).family;
  switch (family) {
    case 'flashlm':
      return new FlashLMInference(source);
    case 'gpt2':
      return new GPT2Inference(source);
    case 'bitnet':
      return new BitNetInference(source);
    case 'mmfree':
      return new MmfreeInference(source);
    case 'flashlm-mlp':
      return new FlashLMMlpInference(source);
    case 'cpuflow':
      return new CpuflowInference(source);
    case 'mof':
      return new MofInference(source);
    default:
      source.file.close();
      throw new TernlmError(`${source.file.path} holds a model of family '${String(family)}', which this version of ternlm cannot run (it runs ${MODEL_FAMILIES.join(', ')}) — update ternlm`);
  }
}
