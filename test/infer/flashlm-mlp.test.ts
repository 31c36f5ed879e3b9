// The FlashLM-MLP engine on exported files equals the training model: its next-token
// log-probabilities, one token at a time and a prompt at a time, match the training forward pass
// (the running average through ops.gatedRecurrence, the two-level head's logProbs) for every
// precision. Then the missing context limit, and train + export + generate through the real CLI.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { FlashLMMlpInference } from '../../src/infer/flashlm-mlp.js';
import { FLASHLM_MLP_DEFAULTS, type FlashLMMlpConfig } from '../../src/models/flashlm-mlp.js';
import { ternlm } from '../cli/run-cli.js';
import { prepareTinyDataset, TINY_MODEL } from '../cli/tiny-data.js';
import { checkLargeBatch } from './batch-check.js';
import { checkExportedEngine } from './engine-check.js';

/** The byte-level tokenizer with no merges: 256 bytes + end-of-text. */
const tokenizer = new BpeTokenizer(new Int32Array(0));

/** dim 40 and hidden 72: neither is a multiple of 16 or 32. */
const MLP: FlashLMMlpConfig = { ...FLASHLM_MLP_DEFAULTS, vocabSize: tokenizer.vocabSize, dim: 40, hidden: 72, contextLength: 16, dropout: 0.2 };

describe('the FlashLM-MLP engine reproduces the training forward pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-flashlm-mlp-engine-'));
  before(async () => {
    await initRuntime({ threads: 2 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases: [string, FlashLMMlpConfig][] = [
    ['ternary, 8-bit activations, two-level head', MLP],
    ['ternary, float activations, 4 layers', { ...MLP, quantizeActivations: false, layers: 4 }],
    ['int8', { ...MLP, precision: 'int8', quantizeActivations: false }],
    ['fp32 (the float twin), trainable embeddings', { ...MLP, precision: 'fp32', quantizeActivations: false, frozenEmbeddings: false }],
    ['ternary, tied softmax head', { ...MLP, head: { type: 'softmax', tied: true } }],
  ];
  let seed = 1;
  for (const [title, config] of cases) {
    const modelSeed = seed++;
    // 40 tokens: past the trained context (16), which the running average does not limit.
    it(title, (t) => {
      const worst = checkExportedEngine(config, modelSeed, dir, tokenizer, { engineClass: FlashLMMlpInference, contextLength: Infinity });
      t.diagnostic(`worst |log-probability difference| ${worst.toExponential(2)}`);
    });
  }

  it('a batch of 40 sequences (the workspace grows) gives each what step gives it; batched states go on alone', () => {
    checkLargeBatch(MLP, 43, dir, tokenizer);
  });
});

describe('ternlm train, export and generate on a tiny FlashLM-MLP', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-flashlm-mlp-cli-'));
  let data = '';
  before(async () => {
    data = (await prepareTinyDataset(root, 7)).data;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('flashlm-mlp (corpus embeddings): train 2 steps, export, generate greedily past the trained context, eval', async () => {
    const run = join(root, 'mlp');
    const train = await ternlm(['train', '--config', 'flashlm-mlp', '--data', data, '--out', run, '--steps', '2', '--threads', '1',
      ...TINY_MODEL, '--set', 'model.layers=3', '--set', 'model.hidden=32', '--set', 'batchSize=2', '--set', 'sampleTokens=4', '--set', 'evalBatches=1']);
    assert.equal(train.code, 0, train.stderr);
    assert.match(train.stdout + train.stderr, /PPMI co-occurrence/);
    const file = join(run, 'model.safetensors');
    const exp = await ternlm(['export', '--model', join(run, 'ckpt.safetensors'), '--out', file]);
    assert.equal(exp.code, 0, exp.stderr);
    const report = JSON.parse(exp.stdout) as { ternary_weights: number };
    assert.equal(report.ternary_weights, 16 * 32 + 32 * 32 + 32 * 16);

    const gen = ['generate', '--model', file, '--prompt', 'Once upon a time', '--temperature', '0', '--threads', '1'];
    const a = await ternlm([...gen, '--max-tokens', '40']);
    assert.equal(a.code, 0, a.stderr);
    assert.ok(a.stdout.startsWith('Once upon a time'), a.stdout);
    assert.doesNotMatch(a.stderr, /context full/);
    const b = await ternlm([...gen, '--max-tokens', '40']);
    assert.equal(b.stdout, a.stdout, 'greedy generation is deterministic');

    const ev = await ternlm(['eval', '--model', file, '--data', data, '--threads', '1']);
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stdout, /bits/i);
  });
});
