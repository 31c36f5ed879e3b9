// The MatMul-free LM engine on exported files equals the training model: its next-token
// log-probabilities, one token at a time and a prompt at a time, match the training forward pass
// (the whole sequence through ops.gatedRecurrence) for every precision and softmax head. Then
// the missing context limit, and export + generate through the real CLI on a tiny trained run.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { MmfreeInference } from '../../src/infer/mmfree.js';
import { MMFREE_DEFAULTS, type MmfreeConfig } from '../../src/models/mmfree.js';
import { ternlm } from '../cli/run-cli.js';
import { greedyGenerate, prepareTinyDataset, trainAndExportTiny } from '../cli/tiny-data.js';
import { checkExportedEngine, exportedEngine, makeModel, randomTokens } from './engine-check.js';

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

  const cases: [string, MmfreeConfig][] = [
    ['ternary, 8-bit activations, tied softmax head', MMFREE],
    ['ternary, 8-bit activations, untied softmax head', { ...MMFREE, head: { type: 'softmax', tied: false } }],
    ['ternary, float activations', { ...MMFREE, quantizeActivations: false }],
    ['int8', { ...MMFREE, precision: 'int8', quantizeActivations: false }],
    ['fp32 (the float twin), untied softmax head', { ...MMFREE, precision: 'fp32', quantizeActivations: false, head: { type: 'softmax', tied: false } }],
    ['ternary, hierarchical head', { ...MMFREE, head: { type: 'hierarchical' } }],
  ];
  let seed = 1;
  for (const [title, config] of cases) {
    const modelSeed = seed++;
    // 40 tokens: past the trained context (16), which the recurrence does not limit.
    it(title, (t) => {
      const worst = checkExportedEngine(config, modelSeed, dir, tokenizer, { engineClass: MmfreeInference, contextLength: Infinity });
      t.diagnostic(`worst |log-probability difference| ${worst.toExponential(2)}`);
    });
  }

  it('a refused prompt changes nothing; reset forgets the past', () => {
    const model = makeModel(MMFREE, 42);
    const engine = exportedEngine(model, tokenizer, join(dir, 'refuse.safetensors'));
    const state = engine.newState();
    const first = Float32Array.from(engine.step(state, 7));
    engine.prefill(state, randomTokens(5, V, 43));
    assert.throws(() => engine.prefill(state, [1, 2, V]), (e: unknown) => e instanceof TernlmError && /token id 257 is outside the vocabulary/.test(e.message));
    assert.throws(() => engine.prefill(state, []), (e: unknown) => e instanceof TernlmError && /at least one token/.test(e.message));
    assert.equal(state.pos, 6);
    engine.reset(state);
    assert.equal(state.pos, 0);
    assert.deepEqual(Float32Array.from(engine.step(state, 7)), first);
    state.dispose();
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

    const gen = greedyGenerate(file);
    const a = await ternlm([...gen, '--max-tokens', '8']);
    assert.equal(a.code, 0, a.stderr);
    assert.ok(a.stdout.startsWith('Once upon a time'), a.stdout);
    assert.match(a.stderr, /^\d+ tokens \((max tokens|end of text)\) at [\d.]+ tokens\/s; prompt \d+ tokens/);
    const b = await ternlm([...gen, '--max-tokens', '8']);
    assert.equal(b.stdout, a.stdout, 'greedy generation is deterministic');
    // The model trained on 32 positions; the recurrence runs on past them.
    const long = await ternlm([...gen, '--max-tokens', '40']);
    assert.equal(long.code, 0, long.stderr);
    assert.doesNotMatch(long.stderr, /context full/);
  });
});
