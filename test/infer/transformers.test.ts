// The KV-cache engines of the transformer families (GPT-2, BitNet b1.58) on exported files equal
// the training models: the engine's next-token log-probabilities, one token at a time and a
// prompt at a time, match the training forward pass over the whole sequence, and stepBatch matches
// step. Then the context limit, and export + generate through the real CLI on tiny trained checkpoints.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { BitNetInference } from '../../src/infer/bitnet.js';
import { GPT2Inference } from '../../src/infer/gpt2.js';
import { loadInferenceModel } from '../../src/infer/load.js';
import { exportPacked, openExport } from '../../src/infer/packed.js';
import { openSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { BITNET_DEFAULTS, type BitNetConfig } from '../../src/models/bitnet.js';
import { GPT2_DEFAULTS, type GPT2Config } from '../../src/models/gpt2.js';
import type { ModelConfig } from '../../src/models/index.js';
import { assertRefused, ternlm } from '../cli/run-cli.js';
import {
  assertContextLimit, assertGreedyGeneration, assertRefusalsAndReset, checkExportedEngine, exportedEngine, makeModel, randomTokens, TOLERANCE, trainingLogProbs,
} from './engine-check.js';
import { prepareTinyDataset, trainAndExportTiny } from '../cli/tiny-data.js';
import { logSoftmax, maxDiff } from './logprobs.js';

/** The byte-level tokenizer with no merges: 256 bytes + end-of-text. */
const tokenizer = new BpeTokenizer(new Int32Array(0));
const V = tokenizer.vocabSize;
const CONTEXT = 48;

const GPT2: GPT2Config = { ...GPT2_DEFAULTS, vocabSize: V, dim: 48, layers: 2, heads: 4, contextLength: CONTEXT, dropout: 0.2 };
const BITNET: BitNetConfig = {
  ...BITNET_DEFAULTS, vocabSize: V, dim: 48, layers: 2, heads: 4, kvHeads: 2, ffnMult: 2, contextLength: CONTEXT, dropout: 0.2,
};

describe('GPT-2 and BitNet engines reproduce the training forward pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-transformers-'));
  before(async () => {
    await initRuntime({ threads: 2 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, ModelConfig][] = [
    ['gpt2, tied softmax head', GPT2],
    ['gpt2, untied softmax head', { ...GPT2, head: { type: 'softmax', tied: false } }],
    ['gpt2, hierarchical head', { ...GPT2, head: { type: 'hierarchical' } }],
    ['gpt2 partly ternarized: attention ternary (8-bit activations), one fc int8, the rest fp32', { ...GPT2, precisionOverrides: { 'blocks.*.attn.*': 'ternary', 'blocks.1.mlp.fc': 'int8' } }],
    ['bitnet ternary, 8-bit activations, GQA (4 heads over 2), SwiGLU', BITNET],
    ['bitnet ternary, float activations', { ...BITNET, quantizeActivations: false }],
    ['bitnet int8', { ...BITNET, precision: 'int8', quantizeActivations: false }],
    ['bitnet fp32 (the float twin)', { ...BITNET, precision: 'fp32', quantizeActivations: false }],
    ['bitnet ternary, ReLU² GLU', { ...BITNET, ffn: 'relu2' }],
    ['bitnet ternary, one KV head (multi-query)', { ...BITNET, kvHeads: 1 }],
    ['bitnet ternary, as many KV heads as heads', { ...BITNET, kvHeads: 4 }],
    ['bitnet ternary, untied softmax head', { ...BITNET, head: { type: 'softmax', tied: false } }],
    ['bitnet ternary, adaptive head', { ...BITNET, head: { type: 'adaptive' } }],
  ];
  let seed = 1;
  for (const [title, config] of cases) {
    const modelSeed = seed++;
    it(title, (t) => {
      const engineClass = config.family === 'gpt2' ? GPT2Inference : BitNetInference;
      const worst = checkExportedEngine(config, modelSeed, dir, tokenizer, { engineClass, contextLength: CONTEXT });
      t.diagnostic(`worst |log-probability difference| ${worst.toExponential(2)}`);
    });
  }

  it('an f16 export stays close (floats rounded to 11 bits)', () => {
    const model = makeModel(GPT2, 40);
    const engine = exportedEngine(model, tokenizer, join(dir, 'gpt2-f16.safetensors'), {});
    const tokens = randomTokens(16, V, 41);
    const reference = trainingLogProbs(model, tokens);
    const state = engine.newState();
    for (let t = 0; t < tokens.length; t++) assert.ok(maxDiff(logSoftmax(engine.step(state, tokens[t])), reference[t]) < 0.05);
    state.dispose();
    engine.dispose();
    model.dispose();
  });

  for (const config of [GPT2, BITNET] as ModelConfig[]) {
    it(`${config.family}: a full context is refused with a clear error, and a refused prompt changes nothing`, () => {
      const model = makeModel({ ...config, contextLength: 8 }, 42);
      const engine = exportedEngine(model, tokenizer, join(dir, `${config.family}-short.safetensors`));
      assertContextLimit(engine, 8);
      assertRefusalsAndReset(engine);
      engine.dispose();
      model.dispose();
    });
  }

  for (const config of [GPT2, BITNET] as ModelConfig[]) {
    it(`${config.family}: a batch of 40 sequences (the workspace grows) gives each the logits step gives it; a batched state then steps and prefills alone`, () => {
      const model = makeModel(config, 46);
      const engine = exportedEngine(model, tokenizer, join(dir, `${config.family}-batch.safetensors`));
      const stepBatch = engine.stepBatch!.bind(engine);
      const prompts = Array.from({ length: 40 }, (_, i) => randomTokens(1 + (i % 7), V, 200 + i));
      const open = (p: number[]) => { const s = engine.newState(); engine.prefill(s, p); return s; };
      const batched = prompts.map(open), alone = prompts.map(open);
      const close = (got: Float32Array, expected: Float32Array, what: string) => {
        const diff = maxDiff(logSoftmax(got), logSoftmax(expected));
        assert.ok(diff <= TOLERANCE, `${what}: max |log-probability difference| ${diff} > ${TOLERANCE}`);
      };
      try {
        for (const n of [4, 40]) {
          const tokens = batched.slice(0, n).map((_, i) => (i * 17 + n) % V);
          const out = stepBatch(batched.slice(0, n), tokens);
          tokens.forEach((token, i) => close(out[i], engine.step(alone[i], token), `batch of ${n}, sequence ${i}`));
        }
        assert.deepEqual(batched.map((s) => s.pos), alone.map((s) => s.pos));
        close(engine.step(batched[5], 9), engine.step(alone[5], 9), 'a step alone after the batches');
        const prompt = randomTokens(6, V, 47);
        close(engine.prefill(batched[5], prompt), engine.prefill(alone[5], prompt), 'a prefill alone after the batches');

        const before = batched.map((s) => s.pos);
        const twice = (e: unknown) => e instanceof TernlmError && /a state appears twice in one batch/.test(e.message);
        assert.throws(() => stepBatch([batched[0], batched[1], batched[0]], [1, 2, 3]), twice);
        assert.throws(() => stepBatch(batched.slice(0, 2), [1]), (e: unknown) => e instanceof TernlmError && /2 states but 1 tokens/.test(e.message));
        assert.deepEqual(batched.map((s) => s.pos), before, 'a refused batch moves no state');
      } finally {
        for (const s of [...batched, ...alone]) s.dispose();
        engine.dispose();
        model.dispose();
      }
    });
  }

  it('refuses a file of another family by name, and a family this version cannot run', () => {
    const model = makeModel(GPT2, 45);
    const path = join(dir, 'gpt2-for-bitnet.safetensors');
    exportPacked(model, tokenizer.toJSON(), path, { floatDtype: 'f32' });
    assert.throws(() => new BitNetInference(openExport(path)), (e: unknown) => e instanceof TernlmError && /holds a gpt2 model, not a BitNet/.test(e.message));
    const file = openSafetensors(path);
    const tensors = file.tensors.map(({ name }) => ({ name, ...file.read(name) }));
    const config = { ...(JSON.parse(file.metadata.config) as object), family: 'mamba' };
    const future = join(dir, 'mamba.safetensors');
    writeSafetensors(future, tensors, { ...file.metadata, config: JSON.stringify(config) });
    file.close();
    assert.throws(() => loadInferenceModel(future), (e: unknown) => e instanceof TernlmError && /family 'mamba', which this version of ternlm cannot run/.test(e.message));
    model.dispose();
  });
});

describe('ternlm export and generate on tiny trained transformers', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-transformers-cli-'));
  let data = '';
  before(async () => {
    data = (await prepareTinyDataset(root, 3)).data;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const config of ['gpt2-4m', 'bitnet-4m']) {
    it(`${config}: train 2 steps, export, generate greedily; generation stops at the full context`, async () => {
      const { file, report } = await trainAndExportTiny(root, data, config);
      assert.equal(report.ternary_weights > 0, config.startsWith('bitnet'));

      const gen = await assertGreedyGeneration(file);
      // The tiny models hold 32 positions: generation ends there instead of failing.
      const full = await ternlm([...gen, '--max-tokens', '100']);
      assert.equal(full.code, 0, full.stderr);
      assert.match(full.stderr, /\((context full|end of text)\)/);
      assertRefused(await ternlm([...gen, '--prompt', 'the cat sat on the mat '.repeat(10)]), /the prompt is \d+ tokens but the model's context holds 32/);
    });
  }
});
