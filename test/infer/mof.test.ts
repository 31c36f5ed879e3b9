// The mixture-of-frameworks engine on exported files equals the training model: its next-token
// log-probabilities, one token at a time and a prompt at a time, match the training forward pass
// (whole sequences through the recurrence kernel and the O(T²) linear attention) for every
// precision, softmax head and with the embedding mix on and off, past the trained context. Then
// export + generate through the real CLI on a tiny trained run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { MofInference } from '../../src/infer/mof.js';
import { MOF_DEFAULTS, type MofConfig } from '../../src/models/mof.js';
import { ternlm } from '../cli/run-cli.js';
import { checkLargeBatch } from './batch-check.js';
import { prepareTinyDataset, trainAndExportTiny } from '../cli/tiny-data.js';
import { assertGreedyGeneration, checkExportedEngine, exportedEngine, makeModel, randomTokens } from './engine-check.js';

/** The byte-level tokenizer with no merges: 256 bytes + end-of-text. */
const tokenizer = new BpeTokenizer(new Int32Array(0));
const V = tokenizer.vocabSize;

/** dim 40 in 4 heads of 10, GRU width 64 (gruMult 1.5 rounded up to 16), GLU hidden 48, router 12. */
const MOF: MofConfig = { ...MOF_DEFAULTS, vocabSize: V, dim: 40, layers: 2, heads: 4, gruMult: 1.5, ffnMult: 1.2, routerDim: 12, contextLength: 16, dropout: 0.2 };

describe('the mixture-of-frameworks engine reproduces the training forward pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-mof-'));
  before(async () => {
    await initRuntime({ threads: 2 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, MofConfig][] = [
    ['ternary, 8-bit activations, tied softmax head, embedding mix', MOF],
    ['ternary, float activations, untied softmax head, no embedding mix', { ...MOF, quantizeActivations: false, embeddingMix: false, head: { type: 'softmax', tied: false } }],
    ['int8', { ...MOF, precision: 'int8', quantizeActivations: false }],
    ['fp32 (the float twin)', { ...MOF, precision: 'fp32', quantizeActivations: false }],
    ['ternary, hierarchical head, one frozen layer', { ...MOF, head: { type: 'hierarchical' }, frozenLayers: 1 }],
  ];
  let seed = 1;
  for (const [title, config] of cases) {
    const modelSeed = seed++;
    // 40 tokens: past the trained context (16), which neither expert limits.
    it(title, (t) => {
      const worst = checkExportedEngine(config, modelSeed, dir, tokenizer, { engineClass: MofInference, contextLength: Infinity });
      t.diagnostic(`worst |log-probability difference| ${worst.toExponential(2)}`);
    });
  }

  it('a batch of 40 sequences (the workspace grows) gives each what step gives it; batched states go on alone', () => {
    checkLargeBatch(MOF, 43, dir, tokenizer);
  });

  it('reset forgets the past: the first token gives the same logits again', () => {
    const model = makeModel(MOF, 42);
    const engine = exportedEngine(model, tokenizer, join(dir, 'reset.safetensors'));
    const state = engine.newState();
    const first = Float32Array.from(engine.step(state, 7));
    engine.prefill(state, randomTokens(9, V, 43));
    engine.reset(state);
    assert.deepEqual(Float32Array.from(engine.step(state, 7)), first);
    state.dispose();
    engine.dispose();
    model.dispose();
  });
});

describe('ternlm export and generate on a tiny trained mof', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-mof-cli-'));
  let data = '';
  before(async () => {
    data = (await prepareTinyDataset(root, 6)).data;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('mof-4m: train 2 steps, export, generate greedily past the trained context', async () => {
    const { file, report } = await trainAndExportTiny(root, data, 'mof-4m', ['--set', 'model.routerDim=8']);
    assert.ok(report.ternary_weights > 0);
    const gen = await assertGreedyGeneration(file);
    // The model trained on 32 positions; the recurrences and running sums go on past them.
    const long = await ternlm([...gen, '--max-tokens', '40']);
    assert.equal(long.code, 0, long.stderr);
    assert.doesNotMatch(long.stderr, /context full/);
  });
});
