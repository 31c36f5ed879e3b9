// The exported FlashLM equals the trained one: the incremental engine's next-token
// distributions match the training model's forward pass over the whole sequence.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, statSync, truncateSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { noGrad } from '../../src/core/autograd.js';
import { TernlmError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { FlashLMInference } from '../../src/infer/flashlm.js';
import { loadInferenceModel } from '../../src/infer/load.js';
import { exportPacked, openExport, packBase3, unpackBase3 } from '../../src/infer/packed.js';
import { FLASHLM_DEFAULTS, FlashLM, type FlashLMConfig } from '../../src/models/flashlm.js';
import type { HeadConfig } from '../../src/models/heads.js';
import { run as tokenizerCli } from '../../src/cli/tokenizer.js';
import { assertLargeBatch } from './batch-check.js';
import { assertStepBatchMatchesStep } from './engine-check.js';

const V = 300;

function makeModel(head: HeadConfig, precision: FlashLMConfig['precision'], seed: number, dim = 32): FlashLM {
  const config: FlashLMConfig = {
    ...FLASHLM_DEFAULTS, vocabSize: V, dim, layers: 2, recurrence: 2, dilations: [1, 3], kernelSize: 3, gluMult: 2,
    contextLength: 64, precision, quantizeActivations: precision === 'ternary', head,
  };
  const counts = Array.from({ length: V }, (_, i) => 1 + Math.round(1000 / (i + 1)));
  return new FlashLM(config, new Rng(seed), counts);
}

/** log-softmax of the training model's output at every position of `tokens`. */
function referenceLogProbs(model: FlashLM, tokens: number[]): Float32Array[] {
  return noGrad(() => scope(() => {
    const ids = Tensor.from(tokens, [1, tokens.length], 'i32');
    const lp = model.head.logProbs(model.hidden(ids)).f32();
    return tokens.map((_, t) => Float32Array.from(lp.subarray(t * V, (t + 1) * V)));
  }));
}

function logSoftmax(x: Float32Array): Float64Array {
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, v);
  let s = 0;
  for (const v of x) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('FlashLM export and incremental engine', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-flash-'));
  let tokenizerJson: object;

  before(async () => {
    await initRuntime({ threads: 2 });
    const text = join(dir, 'text.txt');
    writeFileSync(text, Array.from({ length: 200 }, (_, i) => `the cat number ${i} sat on the mat and looked at the moon.`).join('\n'));
    const log = console.log;
    console.log = () => {};
    try {
      await tokenizerCli(['train', '--input', text, '--vocab', String(V), '--out', join(dir, 'tok.json')]);
    } finally {
      console.log = log;
    }
    tokenizerJson = loadTokenizer(join(dir, 'tok.json')).toJSON();
  });

  const cases: [string, HeadConfig, FlashLMConfig['precision']][] = [
    ['ternary, softmax head (tied)', { type: 'softmax', tied: true }, 'ternary'],
    ['float twin, softmax head', { type: 'softmax', tied: false }, 'fp32'],
    ['ternary, hierarchical head', { type: 'hierarchical' }, 'ternary'],
    ['ternary, adaptive head', { type: 'adaptive' }, 'ternary'],
  ];
  for (const [title, head, precision] of cases) {
    it(`${title}: engine log-probabilities match the training forward pass; stepBatch gives what step gives`, () => {
      const model = makeModel(head, precision, 5);
      const path = join(dir, `${head.type}-${precision}.safetensors`);
      exportPacked(model, tokenizerJson, path, { floatDtype: 'f32' });
      const engine = loadInferenceModel(path);
      const rng = new Rng(9);
      const tokens = Array.from({ length: 40 }, () => rng.int(V));
      const ref = referenceLogProbs(model, tokens);
      const state = engine.newState();
      for (let t = 0; t < tokens.length; t++) {
        const logits = engine.step(state, tokens[t]);
        const diff = maxDiff(logSoftmax(logits), ref[t]);
        assert.ok(diff < 2e-3, `position ${t}: max |difference| ${diff}`);
      }
      // reset forgets the past: the first step again gives the first distribution
      engine.reset(state);
      assert.ok(maxDiff(logSoftmax(engine.step(state, tokens[0])), ref[0]) < 2e-3);
      state.dispose();
      assertStepBatchMatchesStep(engine, 5);
      engine.dispose();
      model.dispose();
    });
  }

  it('a batch of 40 sequences (the workspace grows) gives each what step gives it; batched states go on alone', () => {
    const model = makeModel({ type: 'softmax', tied: true }, 'ternary', 8);
    const path = join(dir, 'batch.safetensors');
    exportPacked(model, tokenizerJson, path, { floatDtype: 'f32' });
    const engine = loadInferenceModel(path);
    try {
      assertLargeBatch(engine, 8);
    } finally {
      engine.dispose();
      model.dispose();
    }
  });

  it('base-3 and 2-bit files hold the same weights; sizes meet 2.1 and 1.7 bits per weight', () => {
    // Rows are padded to 64 weights: at widths that are multiples of 64 nothing is wasted.
    const model = makeModel({ type: 'softmax', tied: true }, 'ternary', 6, 64);
    const p2 = join(dir, 'two.safetensors'), p3 = join(dir, 'three.safetensors');
    const r2 = exportPacked(model, tokenizerJson, p2, { packing: '2bit' });
    const r3 = exportPacked(model, tokenizerJson, p3, { packing: 'base3' });
    assert.ok(r2.bitsPerTernaryWeight <= 2.1, `2-bit: ${r2.bitsPerTernaryWeight}`);
    assert.ok(r3.bitsPerTernaryWeight <= 1.7, `base-3: ${r3.bitsPerTernaryWeight}`);
    assert.ok(statSync(p3).size < statSync(p2).size);
    const a = loadInferenceModel(p2), b = loadInferenceModel(p3);
    const sa = a.newState(), sb = b.newState();
    for (const tok of [1, 2, 3, 50, 299]) assert.deepEqual(Array.from(a.step(sa, tok)), Array.from(b.step(sb, tok)));
  });

  it('base-3 packing round-trips every digit pattern', () => {
    const codes = Uint8Array.from({ length: 3 ** 5 * 5 + 3 }, (_, i) => Math.floor(i / 5 ** 0) % 3 === 0 ? (i * 7) % 3 : (i * 13) % 3);
    assert.deepEqual(unpackBase3(packBase3(codes), codes.length), codes);
    assert.throws(() => unpackBase3(Uint8Array.of(250), 5), TernlmError);
  });

  it('refuses files that are not inference models, with clear errors', () => {
    const model = makeModel({ type: 'softmax', tied: true }, 'ternary', 7);
    const good = join(dir, 'good.safetensors');
    exportPacked(model, tokenizerJson, good);
    const cut = join(dir, 'cut.safetensors');
    copyFileSync(good, cut);
    truncateSync(cut, Math.floor(statSync(cut).size * 0.6));
    assert.throws(() => new FlashLMInference(openExport(cut)), (e: unknown) => e instanceof TernlmError && /truncated|cut off/.test(e.message));
    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'just some words, not a model');
    assert.throws(() => loadInferenceModel(text), (e: unknown) => e instanceof TernlmError && /not a model file/.test(e.message));
    const engine = loadInferenceModel(good);
    assert.throws(() => engine.step(engine.newState(), V + 5), /outside the vocabulary/);
  });
});
