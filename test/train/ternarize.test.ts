// Post-training ternarization (src/train/ternarize.ts) and per-projection precision
// (src/models/precision.ts): the ternarized model's forward pass equals a plain float64 forward
// pass whose chosen projections are ternarized by hand (AbsMean alpha, clamp(round(W / alpha)),
// 8-bit per-token absmax activations), for a BitNet float twin, a Llama-shaped model and a GPT-2
// read from an llm.c file (its biases added after the ternary product); patterns choose the
// projections they name; the step-0 checkpoint reloads to the same model; bad choices are refused.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { Gpt2Tokenizer } from '../../src/data/gpt2-tokenizer.js';
import { loadInferenceModel } from '../../src/infer/load.js';
import { exportPacked, loadTrainedModel } from '../../src/infer/packed.js';
import { BITNET_DEFAULTS, type BitNetConfig } from '../../src/models/bitnet.js';
import { llmcGpt2Layout, paddedVocab, writeLlmcGpt2, type LlmcGpt2Shape } from '../../src/io/llmc.js';
import type { GPT2Config } from '../../src/models/gpt2.js';
import { loadLlmcAsGpt2 } from '../../src/models/llmc.js';
import { createModel, MODEL_DEFAULTS, type ModelConfig, type ModelFamily } from '../../src/models/index.js';
import { describeProjections, matchingProjections, patternRegExp } from '../../src/models/precision.js';
import { TRAIN_DEFAULTS, withOverrides } from '../../src/train/config.js';
import { saveStepZeroCheckpoint, ternarizedConfig, ternarizedModel } from '../../src/train/ternarize.js';
import { tempDir } from '../infer/fixtures.js';
import { logSoftmax } from '../infer/logprobs.js';
import { randArray } from '../helpers.js';
import { assertClose, linear, modelLogProbs, paramsOf, randomIds, referenceBitnet, referenceGpt2, type Params, type Vec } from '../models/reference.js';

/** A projection of the reference, ternary as BitLinear computes it: q(x) . T^T * alpha * s, all in float64. */
function ternaryProduct(p: Params) {
  return (x: Vec[], name: string, N: number): Vec[] => {
    const W = p.get(name)!;
    const alpha = Math.max(W.reduce((s, w) => s + Math.abs(w), 0) / W.length, 1e-8);
    const T = Float32Array.from(W, (w) => Math.max(-1, Math.min(1, Math.round(w / alpha))));
    const quantized = x.map((row) => {
      const absmax = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const s = absmax > 0 ? absmax / 127 : 1;
      return row.map((v) => Math.round(v / s) * s);
    });
    return linear(quantized, T, N).map((r) => r.map((v) => v * alpha));
  };
}

/**
 * The model's log-probabilities agree with the reference's to 1e-4 at every position but at most
 * one: float32 and float64 sums may put an activation on either side of a rounding boundary of
 * the 8-bit quantizer, which moves that position's output by one quantization level (< 0.1).
 */
function assertAgrees(got: Float32Array[], want: Vec[]): void {
  const worst = got.map((row, t) => row.reduce((w, v, i) => Math.max(w, Math.abs(v - want[t][i])), 0));
  const off = worst.filter((w) => w > 1e-4);
  assert.ok(off.length <= 1 && off.every((w) => w < 0.1), `worst log-prob difference per position: ${worst.map((w) => w.toExponential(1)).join(' ')}`);
}

/** A float bitnet config (the -float twin's choices; `llama` gives the imported Llama's switches). */
function floatBitnet(llama: boolean): BitNetConfig {
  const llamaSwitches = llama ? { inputNorm: false, normEps: 1e-5, ffnHidden: 44 } : {};
  return { ...BITNET_DEFAULTS, vocabSize: 41, dim: 32, layers: 2, heads: 4, kvHeads: 2, precision: 'fp32', quantizeActivations: false, contextLength: 16, ...llamaSwitches };
}

describe('ternarize', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const llama of [false, true]) {
    for (const pattern of [undefined, 'blocks.*.attn.*', '/blocks\\.1\\.ffn\\.(gate|down)/']) {
      it(`the ternarized forward equals a hand-ternarized reference (${llama ? 'Llama-shaped' : 'BitNet float twin'}, --layers ${pattern ?? 'all'})`, () => {
        const float = createModel(floatBitnet(llama), new Rng(3));
        const model = ternarizedModel(float, ternarizedConfig(float, pattern));
        const chosen = (name: string): boolean => pattern === undefined || patternRegExp(pattern)!.test(name.replace(/\.weight$/, ''));
        const p = paramsOf(model);
        const ternary = ternaryProduct(p), plain = (x: Vec[], name: string, N: number): Vec[] => linear(x, p.get(name)!, N);
        const ids = randomIds(16, 41, 4);
        const c = model.config as BitNetConfig;
        const want = referenceBitnet(c, p, ids, (x, name, N) => (chosen(name) ? ternary : plain)(x, name, N));
        assertAgrees(modelLogProbs(model, ids), want);
        // The float model was different: the comparison can fail.
        assert.ok(Math.abs(modelLogProbs(float, ids)[5][7] - want[5][7]) > 1e-3, 'ternarizing changed nothing');
        float.dispose();
        model.dispose();
      });
    }
  }

  // A GPT-2 as llm.c writes it: every tensor random (LayerNorm gains around 1), read back as a gpt2 model.
  const gpt2File = (dir: string): string => {
    const shape: LlmcGpt2Shape = { maxSeqLen: 16, vocabSize: 41, paddedVocabSize: paddedVocab(41), layers: 2, heads: 4, channels: 32 };
    const rng = new Rng(5);
    const sizes = new Map(llmcGpt2Layout(shape).params.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
    const path = join(dir, 'gpt2.bin');
    writeLlmcGpt2(path, shape, (name) => {
      const values = randArray(sizes.get(name)!, rng, name.endsWith('.bias') || name.includes('embed') ? 0.3 : 0.15);
      return /ln\d\.weight|norm_out\.weight/.test(name) ? values.map((v) => 1 + v) : values;
    }, 'fp32');
    return path;
  };
  for (const pattern of [undefined, 'blocks.*.attn.*', '/blocks\\.1\\.mlp\\.(fc|proj)/']) {
    it(`the ternarized forward equals a hand-ternarized reference (GPT-2 from an llm.c file, --layers ${pattern ?? 'all'})`, () => {
      const { dir, cleanup } = tempDir('ternlm-ternarize-gpt2-');
      try {
        const float = loadLlmcAsGpt2(gpt2File(dir));
        const model = ternarizedModel(float, ternarizedConfig(float, pattern));
        const chosen = (name: string): boolean => pattern === undefined || patternRegExp(pattern)!.test(name.replace(/\.weight$/, ''));
        assert.deepEqual(model.bitLayers().filter((b) => b.layer.opts.precision === 'ternary').map((b) => b.name), model.bitLayers().map((b) => b.name).filter(chosen));
        const p = paramsOf(model);
        const ternary = ternaryProduct(p), plain = (x: Vec[], name: string, N: number): Vec[] => linear(x, p.get(name)!, N);
        const ids = randomIds(16, 41, 4);
        const c = model.config as GPT2Config;
        assertClose(modelLogProbs(float, ids), referenceGpt2(c, p, ids), 2e-4, 'the float model read from llm.c\'s file');
        const want = referenceGpt2(c, p, ids, (x, name, N) => (chosen(name) ? ternary : plain)(x, name, N));
        assertAgrees(modelLogProbs(model, ids), want);
        assert.ok(Math.abs(modelLogProbs(float, ids)[5][7] - want[5][7]) > 1e-3, 'ternarizing changed nothing');
        float.dispose();
        model.dispose();
      } finally {
        cleanup();
      }
    });
  }

  // Every family: some projections ternarized (mixed precision in one model), exported, and
  // decoded one token at a time by the family's engine, which must compute what the training model
  // computes (as test/infer/export-precision.test.ts asks of uniform models).
  const families: [string, Partial<ModelConfig>, string][] = [
    ['gpt2', { dim: 32, layers: 2, heads: 4 } as Partial<ModelConfig>, 'blocks.*.mlp.*'],
    ['flashlm', { dim: 32, layers: 2, dilations: [1, 2], kernelSize: 2 } as Partial<ModelConfig>, 'blocks.0.*'],
    ['bitnet', { dim: 32, layers: 2, heads: 4, kvHeads: 2 } as Partial<ModelConfig>, 'blocks.*.attn.*'],
    ['bitnet', { dim: 32, layers: 2, heads: 4, kvHeads: 2, inputNorm: false, normEps: 1e-5, ffnHidden: 44 } as Partial<ModelConfig>, 'blocks.*.ffn.*'],
    ['mmfree', { dim: 32, layers: 2 } as Partial<ModelConfig>, 'blocks.1.*'],
    ['flashlm-mlp', { dim: 32, layers: 3, hidden: 48 } as Partial<ModelConfig>, 'mlp.1'],
    ['cpuflow', { dim: 32, layers: 2, stateDim: 8, ffnHidden: 24 } as Partial<ModelConfig>, 'blocks.*.mixer.*'],
    ['mof', { dim: 32, layers: 2, heads: 4, routerDim: 8 } as Partial<ModelConfig>, 'blocks.*.transformer.*'],
  ];
  for (const [family, fields, pattern] of families) {
    it(`${family}${'inputNorm' in fields ? ' (Llama-shaped)' : ''}: ternarized --layers ${pattern}, exported, its engine decodes what the training model computes`, () => {
      const { dir, cleanup } = tempDir('ternlm-ternarize-export-');
      try {
        const tokenizer = new BpeTokenizer(new Int32Array(0));
        const V = tokenizer.vocabSize;
        const counts = Array.from({ length: V }, (_, i) => 1 + Math.round(1000 / (i + 1)));
        const defaults = MODEL_DEFAULTS[family as ModelFamily];
        // The float twin of a family with a precision setting (GPT-2's projections are fp32 but for overrides).
        const float32 = 'precision' in defaults ? { precision: 'fp32', quantizeActivations: false } : {};
        const config = { ...defaults, ...fields, vocabSize: V, contextLength: 24, ...float32 } as ModelConfig;
        const float = createModel(config, new Rng(4), counts);
        const model = ternarizedModel(float, ternarizedConfig(float, pattern), counts);
        const precisions = new Set(model.bitLayers().map((p) => p.layer.opts.precision));
        assert.deepEqual([...precisions].sort(), ['fp32', 'ternary'], 'a mixed model');
        const path = join(dir, 'model.safetensors');
        exportPacked(model, tokenizer.toJSON(), path, { floatDtype: 'f32' }); // f16 floats would differ by their rounding
        const engine = loadInferenceModel(path);
        const ids = randomIds(24, V, 6);
        const want = modelLogProbs(model, ids).map((r) => Float64Array.from(r));
        const state = engine.newState();
        assertAgrees(ids.map((t) => Float32Array.from(logSoftmax(engine.step(state, t)))), want);
        state.dispose();
        engine.dispose();
        float.dispose();
        model.dispose();
      } finally {
        cleanup();
      }
    });
  }

  it('a pattern chooses the projections it names, globs and /regex/ alike, never embeddings, norms or the head', () => {
    const m = createModel(floatBitnet(false), new Rng(1));
    const names = (pattern: string): string[] => matchingProjections(m.bitLayers(), pattern).map((p) => p.name);
    assert.deepEqual(names('blocks.*.attn.*'), ['blocks.0.attn.q', 'blocks.0.attn.k', 'blocks.0.attn.v', 'blocks.0.attn.o', 'blocks.1.attn.q', 'blocks.1.attn.k', 'blocks.1.attn.v', 'blocks.1.attn.o']);
    assert.deepEqual(names('blocks.?.ffn.down'), ['blocks.0.ffn.down', 'blocks.1.ffn.down']);
    assert.deepEqual(names('blocks.1.attn.q.weight'), ['blocks.1.attn.q']);
    assert.deepEqual(names('/blocks\\.0\\.(attn\\.o|ffn\\.up)/'), ['blocks.0.attn.o', 'blocks.0.ffn.up']);
    assert.equal(names('*').length, 14);
    assert.deepEqual([...names('embed*'), ...names('*norm*'), ...names('head*')], []);
    assert.equal(describeProjections(m.bitLayers().map((p) => p.name)), 'blocks.*.attn.q, blocks.*.attn.k, blocks.*.attn.v, blocks.*.attn.o, blocks.*.ffn.gate, blocks.*.ffn.up, blocks.*.ffn.down (in 2 blocks)');
    m.dispose();
  });

  it('precisionOverrides: the last matching pattern wins, other projections keep model.precision', () => {
    const c: ModelConfig = { ...floatBitnet(false), precisionOverrides: { 'blocks.*': 'int8', 'blocks.1.*': 'ternary', 'blocks.1.ffn.down': 'fp32' } };
    const m = createModel(c, new Rng(1));
    const precision = new Map(m.bitLayers().map((p) => [p.name, p.layer.opts.precision]));
    assert.deepEqual([precision.get('blocks.0.attn.q'), precision.get('blocks.1.attn.q'), precision.get('blocks.1.ffn.down')], ['int8', 'ternary', 'fp32']);
    // Ternarizing again puts its pattern last, even when an earlier entry had the same one.
    const again = ternarizedConfig(m, 'blocks.*') as BitNetConfig;
    assert.deepEqual(Object.keys(again.precisionOverrides!), ['blocks.1.*', 'blocks.1.ffn.down', 'blocks.*']);
    m.dispose();
  });

  it('the step-0 checkpoint reloads to the ternarized model, and train accepts its config', () => {
    const { dir, cleanup } = tempDir('ternlm-ternarize-');
    try {
      const float = createModel(floatBitnet(true), new Rng(2));
      const model = ternarizedModel(float, ternarizedConfig(float, 'blocks.0.*'));
      const { vocabSize: _, ...fields } = model.config;
      const train = withOverrides(TRAIN_DEFAULTS, { name: 'tiny-ternarized', seqLen: 16, model: fields });
      const path = join(dir, 'ckpt.safetensors');
      saveStepZeroCheckpoint(path, model, train, new Gpt2Tokenizer().toJSON(), null);
      assert.ok(existsSync(path));
      const { model: loaded, meta } = loadTrainedModel(path);
      assert.equal(meta.step, 0);
      assert.equal(meta.loader, null);
      assert.deepEqual((meta.config as { model: BitNetConfig }).model.precisionOverrides, { 'blocks.0.*': 'ternary' });
      assert.deepEqual(loaded.bitLayers().map((p) => p.layer.opts.precision), model.bitLayers().map((p) => p.layer.opts.precision));
      const ids = randomIds(16, 41, 9);
      assertClose(modelLogProbs(loaded, ids), modelLogProbs(model, ids).map((r) => Float64Array.from(r)), 1e-6, 'reloaded');
      for (const m of [float, model, loaded]) m.dispose();
    } finally {
      cleanup();
    }
  });

  it('refuses a pattern that matches no projection, and projections already ternary', () => {
    const m = createModel(floatBitnet(false), new Rng(1));
    assert.throws(() => ternarizedConfig(m, 'blocks.*.mlp.*'), /--layers 'blocks\.\*\.mlp\.\*' matches no projection of this bitnet model — its projections are blocks\.\*\.attn\.q, .* \(in 2 blocks\)/);
    assert.throws(() => ternarizedConfig(m, '/blocks.(/'), /'\/blocks.\(\/' is not a valid regular expression/);
    const ternary = ternarizedModel(m, ternarizedConfig(m, 'blocks.0.*'));
    assert.throws(() => ternarizedConfig(ternary, 'blocks.0.attn.*'), /the 4 projection\(s\) --layers 'blocks\.0\.attn\.\*' matches are ternary already/);
    assert.throws(() => createModel({ ...floatBitnet(false), precisionOverrides: { 'blocks.9.*': 'int8' } }, new Rng(1)), /model\.precisionOverrides: 'blocks\.9\.\*' matches no projection/);
    assert.throws(() => withOverrides(TRAIN_DEFAULTS, { model: { precisionOverrides: { 'blocks.*': 'int4' } } }), /model\.precisionOverrides must be an object of at most 1024 projection patterns .*'blocks\.\*' is set to "int4"/);
    m.dispose();
    ternary.dispose();
  });
});
