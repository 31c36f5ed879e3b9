// The MatMul-free LM engine on exported files equals the training model: its next-token
// log-probabilities, one token at a time and a prompt at a time, match the training forward pass
// (the whole sequence through ops.gatedRecurrence) for every precision and softmax head. Then
// the missing context limit, and export + generate through the real CLI on a tiny trained run.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { MmfreeInference } from '../../src/infer/mmfree.js';
import { MMFREE_DEFAULTS, type MmfreeConfig } from '../../src/models/mmfree.js';
import { ternlm } from '../cli/run-cli.js';
import { assertGreedyGeneration, assertRefusalsAndReset, checkExportedEngine, exportedEngine, makeModel, precisionCases } from './engine-check.js';
import { checkLargeBatch } from './batch-check.js';
import { prepareTinyDataset, trainAndExportTiny } from '../cli/tiny-data.js';

/** The byte-level tokenizer with no merges: 256 bytes + end-of-text. */
const tokenizer = new BpeTokenizer(new Int32Array(0));
const V = tokenizer.vocabSize;

/** ffnMult 2.5 of dim 40 gives a hidden width of 112: neither is a multiple of 16 or 32. */
const MMFREE: MmfreeConfig = { ...MMFREE_DEFAULTS, vocabSize: V, dim: 40, layers: 2, ffnMult: 2.5, contextLength: 16, dropout: 0.2 };

describe('the MatMul-free LM engine reproduces the training forward pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-mmfree-'));
  before(async () => {
    await initRuntime({ threads: 2 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases = precisionCases(MMFREE);
  let seed = 1;
  for (const [title, config] of cases) {
    const modelSeed = seed++;
    // 40 tokens: past the trained context (16), which the recurrence does not limit.
    it(title, (t) => {
      const worst = checkExportedEngine(config, modelSeed, dir, tokenizer, { engineClass: MmfreeInference, contextLength: Infinity });
      t.diagnostic(`worst |log-probability difference| ${worst.toExponential(2)}`);
    });
  }

  it('a batch of 40 sequences (the workspace grows) gives each what step gives it; batched states go on alone', () => {
    checkLargeBatch(MMFREE, 43, dir, tokenizer);
  });

  it('a refused prompt changes nothing; reset forgets the past', () => {
    const model = makeModel(MMFREE, 42);
    const engine = exportedEngine(model, tokenizer, join(dir, 'refuse.safetensors'));
    assertRefusalsAndReset(engine);
    engine.dispose();
    model.dispose();
  });
});

describe('ternlm export and generate on a tiny trained MatMul-free LM', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-mmfree-cli-'));
  let data = '';
  before(async () => {
    data = (await prepareTinyDataset(root, 4)).data;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('mmfree-4m: train 2 steps, export, generate greedily past the trained context', async () => {
    const { file, report } = await trainAndExportTiny(root, data, 'mmfree-4m');
    assert.ok(existsSync(file));
    assert.ok(report.ternary_weights > 0);

    const gen = await assertGreedyGeneration(file);
    // The model trained on 32 positions; the recurrence runs on past them.
    const long = await ternlm([...gen, '--max-tokens', '40']);
    assert.equal(long.code, 0, long.stderr);
    assert.doesNotMatch(long.stderr, /context full/);
  });
});
