// A llama2.c checkpoint imported as a bitnet-family training model computes what the Llama
// inference engine computes on the same file: the same next-token log-probabilities at every
// position of a prompt (stories260K, and a tiny random checkpoint with a separate classifier).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { noGrad } from '../../src/core/autograd.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { loadLlama2c } from '../../src/infer/load.js';
import { loadLlama2cAsBitNet } from '../../src/models/llama2c.js';
import { assertClose } from '../helpers.js';
import { needsStories, STORIES260K, tempDir, TOK512, writeTinyLlama2c } from '../infer/fixtures.js';
import { logSoftmax } from '../infer/logprobs.js';

/** The engine's and the imported model's log-probabilities after each token of `tokens`, side by side. */
function bothLogProbs(path: string, tokens: number[]): { engine: Float64Array[]; imported: Float32Array[] } {
  const engine = loadLlama2c(path);
  const state = engine.newState();
  const fromEngine = tokens.map((t) => logSoftmax(engine.step(state, t)));
  state.dispose();
  engine.dispose();
  const model = loadLlama2cAsBitNet(path);
  const V = model.config.vocabSize;
  const lp = noGrad(() => scope(() => Float32Array.from(model.head.logProbs(model.hidden(Tensor.from(Int32Array.from(tokens), [1, tokens.length], 'i32'))).f32())));
  model.dispose();
  return { engine: fromEngine, imported: tokens.map((_, i) => lp.subarray(i * V, (i + 1) * V)) };
}

describe('llama2.c checkpoints as bitnet models', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('stories260K: the imported model gives the Llama engine\'s log-probabilities on a prompt', { skip: needsStories }, () => {
    const tok = loadTokenizer(TOK512);
    const tokens = [tok.bosId!, ...tok.encode('Once upon a time, there was a little girl named Lily. She liked to play outside.')];
    const model = loadLlama2cAsBitNet(STORIES260K);
    const c = model.config;
    assert.deepEqual([c.dim, c.layers, c.heads, c.kvHeads, c.ffnHidden, c.inputNorm, c.normEps, c.head.tied], [64, 5, 8, 4, 172, false, 1e-5, true]);
    model.dispose();
    const { engine, imported } = bothLogProbs(STORIES260K, tokens);
    for (let i = 0; i < tokens.length; i++) assertClose(imported[i], engine[i], 2e-4, `position ${i}`);
  });

  it('a checkpoint with a separate classifier and grouped KV heads maps every weight', () => {
    const { dir, cleanup } = tempDir('ternlm-llama2c-');
    try {
      const path = join(dir, 'tiny.bin');
      writeTinyLlama2c(path, { dim: 32, hidden: 40, layers: 2, heads: 4, kvHeads: 2, vocab: 37, seqLen: 24, unshared: true }, 5);
      const { engine, imported } = bothLogProbs(path, [1, 5, 9, 30, 2, 17, 36, 0]);
      for (let i = 0; i < engine.length; i++) assertClose(imported[i], engine[i], 2e-4, `position ${i}`);
    } finally {
      cleanup();
    }
  });
});
