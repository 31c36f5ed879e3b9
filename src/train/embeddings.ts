// Token embeddings at the start of a run: GPT-2's (projected by SVD) or PPMI-SVD vectors of the
// training corpus, scaled to the standard deviation of the random initialisation they replace.
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { readSplitTokens } from '../data/split-tokens.js';
import type { LanguageModel } from '../models/language-model.js';
import { corpusEmbeddings, gpt2Embeddings } from '../nn/init-embeddings.js';

/** Overwrite the model's token embedding as `spec` says ('corpus' or 'gpt2:<model.safetensors>'). */
export function initializeEmbeddings(model: LanguageModel, spec: string, dataDir: string, msg: (t: string) => void): void {
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
    const tokens = readSplitTokens(dataDir, 'train', 5_000_000);
    values = corpusEmbeddings(tokens, V, d, { std });
    msg(`embeddings: PPMI co-occurrence + randomized SVD of ${tokens.length.toLocaleString('en-US')} training tokens`);
  }
  w.f32().set(values);
}
