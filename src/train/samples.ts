// Text samples written during training: the model re-run on its window for every new token
// (slow, but it needs no inference engine and shows exactly what the training model does).
import { noGrad } from '../core/autograd.js';
import { Tensor, scope } from '../core/tensor.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { Sampler } from '../heads/sampling.js';
import type { LanguageModel } from '../models/language-model.js';

/** Generate `n` tokens after `prompt` and decode them. */
export function sampleText(model: LanguageModel, tokenizer: Tokenizer, prompt: number[], n: number, sampler: Sampler): string {
  const ctx = model.config.contextLength;
  const out = [...prompt];
  noGrad(() => {
    for (let i = 0; i < n; i++) {
      const window = out.slice(-ctx);
      out.push(scope(() => {
        const h = model.hidden(Tensor.from(window, [1, window.length], 'i32'));
        return sampler.sample(model.head.logProbs(h.rows(window.length - 1, 1)).f32(), out);
      }));
    }
  });
  return tokenizer.decode(out.slice(prompt.length));
}
