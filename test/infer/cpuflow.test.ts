// The CPUFlow engine on exported files equals the training model: its next-token log-probabilities,
// one token at a time and a prompt at a time, match the training forward pass (the whole sequence
// through ops.cumulativeMean) for every precision and softmax head. Then the context limit (the
// CumStepPos table's length), and train (FSP on) + export + generate + eval through the real CLI:
// the FSP projection stays out of the export.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { CpuflowInference } from '../../src/infer/cpuflow.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { CPUFLOW_DEFAULTS, type CpuflowConfig } from '../../src/models/cpuflow.js';
import { ternlm } from '../cli/run-cli.js';
import { checkLargeBatch } from './batch-check.js';
import { prepareTinyDataset, TINY_MODEL } from '../cli/tiny-data.js';
import { assertContextLimit, assertGreedyGeneration, assertRefusalsAndReset, checkExportedEngine, exportedEngine, makeModel, precisionCases } from './engine-check.js';

/** The byte-level tokenizer with no merges: 256 bytes + end-of-text. */
const tokenizer = new BpeTokenizer(new Int32Array(0));
const V = tokenizer.vocabSize;

/** Widths off the 4- and 16-float grids; 48 positions hold the check's 40 tokens. */
const CPUFLOW: CpuflowConfig = { ...CPUFLOW_DEFAULTS, vocabSize: V, dim: 40, stateDim: 18, ffnHidden: 36, layers: 2, contextLength: 48, dropout: 0.2 };

describe('the CPUFlow engine reproduces the training forward pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-cpuflow-'));
  before(async () => {
    await initRuntime({ threads: 2 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases = precisionCases(CPUFLOW);
  let seed = 1;
  for (const [title, config] of cases) {
    const modelSeed = seed++;
    it(title, (t) => {
      const worst = checkExportedEngine(config, modelSeed, dir, tokenizer, { engineClass: CpuflowInference, contextLength: 48 });
      t.diagnostic(`worst |log-probability difference| ${worst.toExponential(2)}`);
    });
  }

  it('a batch of 40 sequences (the workspace grows) gives each what step gives it; batched states go on alone', () => {
    checkLargeBatch(CPUFLOW, 43, dir, tokenizer);
  });

  it('the context ends with the CumStepPos table; a refused prompt changes nothing; reset forgets the past', () => {
    const model = makeModel({ ...CPUFLOW, contextLength: 8 }, 42);
    const engine = exportedEngine(model, tokenizer, join(dir, 'refuse.safetensors'));
    assertContextLimit(engine, 8);
    assertRefusalsAndReset(engine);
    engine.dispose();
    model.dispose();
  });
});

describe('ternlm train, export, generate and eval on a tiny CPUFlow with FSP', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-cpuflow-cli-'));
  let data = '';
  before(async () => {
    data = (await prepareTinyDataset(root, 4)).data;
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('cpuflow: train 2 steps (FSP logged beside the CE), export without the FSP projection, generate, eval', async () => {
    const run = join(root, 'cpuflow');
    const train = await ternlm(['train', '--config', 'cpuflow', '--data', data, '--out', run, '--steps', '2', '--threads', '1',
      ...TINY_MODEL, '--set', 'model.stateDim=8', '--set', 'model.ffnHidden=16', '--set', 'fsp.tau=8', '--set', 'fsp.rate=4',
      '--set', 'batchSize=2', '--set', 'gradAccumulation=1', '--set', 'logEvery=1', '--set', 'sampleTokens=4', '--set', 'evalBatches=1']);
    assert.equal(train.code, 0, train.stderr);
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const logged = lines.filter((l) => l.type === 'train');
    assert.equal(logged.length, 2);
    for (const l of logged) assert.ok(typeof l.fsp === 'number' && l.fsp > 0 && typeof l.loss === 'number', JSON.stringify(l));
    const ck = openSafetensors(join(run, 'ckpt.safetensors'));
    assert.ok(ck.has('param.fsp.proj.weight'));
    ck.close();

    const file = join(run, 'model.safetensors');
    const exp = await ternlm(['export', '--model', join(run, 'ckpt.safetensors'), '--out', file]);
    assert.equal(exp.code, 0, exp.stderr);
    assert.ok(existsSync(file));
    const exported = openSafetensors(file);
    assert.deepEqual(exported.tensors.map((t) => t.name).filter((n) => n.includes('fsp')), []);
    exported.close();

    const gen = await assertGreedyGeneration(file);
    // The tiny model holds 32 positions (its steps table): generation ends there instead of failing.
    const full = await ternlm([...gen, '--max-tokens', '100']);
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stderr, /\((context full|end of text)\)/);

    const ev = await ternlm(['eval', '--model', file, '--data', data, '--threads', '1']);
    assert.equal(ev.code, 0, ev.stderr);
  });
});
