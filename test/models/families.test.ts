// The model families beyond FlashLM are what their papers draw: GPT-2, BitNet's float twin, the
// MatMul-free LM's float twin and CPUFlow's float original equal plain re-implementations written
// here with loops (float64), the ternary models' projections are BitLinear's; they train end to
// end (the loss falls, a resumed run equals the straight one, also with the FSP objective on,
// whose projection the checkpoint then holds), and a GPT-2 goes through llm.c's checkpoint and
// back unchanged.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { readLlmcGpt2 } from '../../src/io/llmc.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { BITNET_DEFAULTS, type BitNetConfig } from '../../src/models/bitnet.js';
import { GPT2_DEFAULTS, type GPT2Config } from '../../src/models/gpt2.js';
import { CPUFLOW_DEFAULTS, type CpuflowConfig } from '../../src/models/cpuflow.js';
import { MMFREE_DEFAULTS, ffnHidden as mmfreeHidden, type MmfreeConfig } from '../../src/models/mmfree.js';
import { createModel, MODEL_DEFAULTS, type LanguageModel, type ModelConfig } from '../../src/models/index.js';
import { gpt2ConfigFromLlmc, loadLlmcInto, writeModelAsLlmc } from '../../src/models/llmc.js';
import { TRAIN_DEFAULTS, withOverrides, type TrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { assertSameTensors } from '../train/same-tensors.js';
import { run as prepareCli } from '../../src/cli/prepare.js';
import { run as tokenizerCli } from '../../src/cli/tokenizer.js';

import { add, assertClose, attention, layerNorm, linear, logSoftmaxRows, modelLogProbs, paramsOf, prepareDemoData, randomIds, referenceBitnet, referenceGpt2, rmsNorm, sigmoid, silu, type Params, type Vec } from './reference.js';

/** The MatMul-free LM's float twin: MLGRU token mixer, SiLU GLU, every projection normed first. */
function referenceMmfreeFloat(c: MmfreeConfig, p: Params, ids: number[]): Vec[] {
  const d = c.dim, get = (n: string): Float32Array => p.get(n)!, hidden = mmfreeHidden(c);
  const bitLinear = (x: Vec[], name: string, N: number): Vec[] => linear(rmsNorm(x, null), get(name), N);
  let x: Vec[] = ids.map((id) => Float64Array.from({ length: d }, (_, i) => get('embed.weight')[id * d + i]));
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}.`;
    const h = rmsNorm(x, get(`${b}mixer_norm.weight`));
    const f = bitLinear(h, `${b}mixer.f.weight`, d).map((r) => r.map(sigmoid));
    const cand = bitLinear(h, `${b}mixer.c.weight`, d).map((r) => r.map(silu));
    const g = bitLinear(h, `${b}mixer.g.weight`, d).map((r) => r.map(sigmoid));
    const state = new Float64Array(d);
    const gated = f.map((ft, t) => Float64Array.from({ length: d }, (_, i) => {
      state[i] = ft[i] * state[i] + (1 - ft[i]) * cand[t][i];
      return g[t][i] * state[i];
    }));
    x = add(x, bitLinear(gated, `${b}mixer.o.weight`, d));
    const h2 = rmsNorm(x, get(`${b}ffn_norm.weight`));
    const gate = bitLinear(h2, `${b}ffn.gate.weight`, hidden), up = bitLinear(h2, `${b}ffn.up.weight`, hidden);
    x = add(x, bitLinear(gate.map((r, t) => r.map((v, i) => silu(v) * up[t][i])), `${b}ffn.down.weight`, d));
  }
  return logSoftmaxRows(rmsNorm(x, get('norm_out.weight')), get(c.head.tied ? 'embed.weight' : 'head.weight'), c.vocabSize);
}

/** CPUFlow's float original (the author's v5-LN): CumStepPos, the weighted-mean scan, relu feed-forward, LayerNorm. */
function referenceCpuflowFloat(c: CpuflowConfig, p: Params, ids: number[]): Vec[] {
  const d = c.dim, k = c.stateDim, get = (n: string): Float32Array => p.get(n)!;
  const pos = new Float64Array(d);
  let x: Vec[] = ids.map((id, t) => Float64Array.from({ length: d }, (_, i) => {
    pos[i] += get('pos.steps')[t * d + i];
    return get('embed.weight')[id * d + i] + pos[i];
  }));
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}.`;
    const h = layerNorm(x, get(`${b}mixer_norm.weight`), get(`${b}mixer_norm.bias`));
    const q = linear(h, get(`${b}mixer.query.weight`), k);
    const key = linear(h, get(`${b}mixer.key.weight`), k).map((r) => r.map(sigmoid));
    const value = linear(h, get(`${b}mixer.value.weight`), k).map((r) => r.map(Math.tanh));
    const num = new Float64Array(k), den = new Float64Array(k);
    const s = q.map((qt, t) => Float64Array.from({ length: k }, (_, i) => {
      num[i] += key[t][i] * value[t][i];
      den[i] += key[t][i];
      return (qt[i] * num[i]) / (den[i] + c.scanEps);
    }));
    x = add(x, linear(linear(s, get(`${b}mixer.mix.weight`), k), get(`${b}mixer.out.weight`), d));
    const h2 = layerNorm(x, get(`${b}ffn_norm.weight`), get(`${b}ffn_norm.bias`));
    x = add(x, linear(linear(h2, get(`${b}ffn.up.weight`), c.ffnHidden).map((r) => r.map((v) => Math.max(v, 0))), get(`${b}ffn.down.weight`), d));
  }
  return logSoftmaxRows(layerNorm(x, get('norm_out.weight'), get('norm_out.bias')), get(c.head.tied ? 'embed.weight' : 'head.weight'), c.vocabSize);
}

describe('GPT-2, BitNet and MatMul-free LM families', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('GPT-2 equals a plain re-implementation of the paper (pre-LayerNorm, fused QKV, GELU, tied head)', () => {
    const c: GPT2Config = { ...GPT2_DEFAULTS, vocabSize: 61, dim: 32, layers: 2, heads: 4, contextLength: 24 };
    const m = createModel(c, new Rng(5));
    // Non-trivial norms and biases, so that a mix-up of weight and bias shows.
    for (const { name, tensor } of m.namedParameters()) {
      if (/ln|norm_out|bias/.test(name)) tensor.f32().forEach((_, i, a) => (a[i] = (name.endsWith('weight') ? 1 : 0) + 0.1 * Math.sin(i + name.length)));
    }
    const ids = randomIds(24, c.vocabSize, 1);
    assertClose(modelLogProbs(m, ids), referenceGpt2(c, paramsOf(m), ids), 2e-4, 'gpt2');
  });

  for (const [ffn, kvHeads, tied] of [['swiglu', 2, true], ['relu2', 1, false], ['swiglu', 4, true]] as const) {
    it(`BitNet's float twin equals a plain re-implementation (${ffn}, ${kvHeads} of 4 KV heads, ${tied ? 'tied' : 'untied'} head, RoPE, RMSNorm before each projection)`, () => {
      const c: BitNetConfig = {
        ...BITNET_DEFAULTS, vocabSize: 53, dim: 32, layers: 2, heads: 4, kvHeads, ffn, precision: 'fp32', quantizeActivations: false, contextLength: 20,
        head: { type: 'softmax', tied },
      };
      const m = createModel(c, new Rng(7));
      const ids = randomIds(20, c.vocabSize, 2);
      assertClose(modelLogProbs(m, ids), referenceBitnet(c, paramsOf(m), ids), 2e-4, `bitnet ${ffn}`);
    });
  }

  for (const tied of [true, false]) {
    it(`the MatMul-free LM's float twin equals a plain re-implementation (MLGRU, SiLU GLU, ${tied ? 'tied' : 'untied'} head)`, () => {
      const c: MmfreeConfig = { ...MMFREE_DEFAULTS, vocabSize: 47, dim: 24, layers: 2, precision: 'fp32', quantizeActivations: false, head: { type: 'softmax', tied } };
      const m = createModel(c, new Rng(9));
      const ids = randomIds(30, c.vocabSize, 3);
      assertClose(modelLogProbs(m, ids), referenceMmfreeFloat(c, paramsOf(m), ids), 2e-4, 'mmfree');
    });
  }

  for (const tied of [true, false]) {
    it(`CPUFlow's float original equals a plain re-implementation (CumStepPos, weighted-mean scan, relu FFN, ${tied ? 'tied' : 'untied'} head)`, () => {
      const c: CpuflowConfig = {
        ...CPUFLOW_DEFAULTS, vocabSize: 43, dim: 24, stateDim: 12, ffnHidden: 20, layers: 2, contextLength: 32, precision: 'fp32', quantizeActivations: false,
        head: { type: 'softmax', tied },
      };
      const m = createModel(c, new Rng(13));
      // Weights at the author's init (std 0.02) make every layer nearly the identity; larger ones
      // and non-trivial norms make a mix-up show.
      for (const { name, tensor } of m.namedParameters()) {
        if (/norm/.test(name)) tensor.f32().forEach((_, i, a) => (a[i] = (name.endsWith('weight') ? 1 : 0) + 0.1 * Math.sin(i + name.length)));
        else tensor.f32().forEach((v, i, a) => (a[i] = v * 20));
      }
      const ids = randomIds(30, c.vocabSize, 4);
      assertClose(modelLogProbs(m, ids), referenceCpuflowFloat(c, paramsOf(m), ids), 2e-4, 'cpuflow');
    });
  }

  it('a cpuflow model refuses a sequence longer than its CumStepPos table', () => {
    const m = createModel({ ...CPUFLOW_DEFAULTS, vocabSize: 20, dim: 8, stateDim: 4, ffnHidden: 8, layers: 1, contextLength: 6 }, new Rng(1));
    assert.throws(() => modelLogProbs(m, randomIds(7, 20, 1)), /7 positions, but the CumStepPos table has 6 \(model.contextLength\)/);
  });

  it('the ternary BitNet has only BitLinear projections, ternary with 8-bit activations and an input norm', () => {
    const m = createModel({ ...BITNET_DEFAULTS, vocabSize: 40, dim: 32, layers: 2, heads: 4, kvHeads: 2 }, new Rng(1));
    const names = m.bitLayers().map((b) => b.name);
    assert.deepEqual(names.slice(0, 7), ['blocks.0.attn.q', 'blocks.0.attn.k', 'blocks.0.attn.v', 'blocks.0.attn.o', 'blocks.0.ffn.gate', 'blocks.0.ffn.up', 'blocks.0.ffn.down']);
    assert.equal(names.length, 14);
    for (const { layer } of m.bitLayers()) assert.deepEqual(layer.opts, { precision: 'ternary', quantizeActivations: true, inputNorm: true });
    // Every other weight is a norm gain, the embedding or the head: no biases anywhere.
    const others = m.namedParameters().map((p) => p.name).filter((n) => !names.some((b) => n === `${b}.weight`));
    assert.ok(others.every((n) => /norm|embed|head/.test(n)), others.join(', '));
  });

  it('a GPT-2 goes through llm.c\'s checkpoint and back unchanged (fp32), and within bf16 rounding (bf16)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-llmc-'));
    const c: GPT2Config = { ...GPT2_DEFAULTS, vocabSize: 100, dim: 32, layers: 2, heads: 2, contextLength: 16 };
    const m = createModel(c, new Rng(3));
    const ids = randomIds(16, c.vocabSize, 4);
    const want = modelLogProbs(m, ids);
    const fp32 = join(dir, 'm.bin');
    const { shape } = writeModelAsLlmc(m, fp32, 'fp32');
    assert.equal(shape.paddedVocabSize, 128);
    assert.deepEqual(gpt2ConfigFromLlmc(readLlmcGpt2(fp32).shape), c);
    const back = createModel(c, new Rng(99));
    loadLlmcInto(back, fp32);
    for (const [name, values] of paramsOf(m)) assert.deepEqual(back.namedParameters().find((p) => p.name === name)!.tensor.f32(), values, name);
    assert.deepEqual(modelLogProbs(back, ids), want);

    const bf16 = join(dir, 'm16.bin');
    writeModelAsLlmc(m, bf16, 'bf16');
    const half = createModel(c, new Rng(98));
    loadLlmcInto(half, bf16);
    assertClose(modelLogProbs(half, ids), want.map((r) => Float64Array.from(r)), 0.05, 'bf16');

    assert.throws(() => loadLlmcInto(createModel({ ...c, vocabSize: 99 }, new Rng(1)), fp32), /vocabSize 100, the run's model 99 — prepare the data with the tokenizer/);
    assert.throws(() => writeModelAsLlmc(createModel({ ...MODEL_DEFAULTS.bitnet, vocabSize: 50, dim: 32, heads: 4 } as BitNetConfig, new Rng(1)), join(dir, 'x.bin'), 'fp32'), /it is a bitnet model/);
    assert.throws(() => writeModelAsLlmc(createModel({ ...c, head: { type: 'softmax', tied: false } }, new Rng(1)), join(dir, 'y.bin'), 'fp32'), /tied softmax head/);
  });

  describe('training end to end', () => {
    let dataDir = '';
    let tokenizer: Tokenizer;
    const root = mkdtempSync(join(tmpdir(), 'ternlm-transformers-'));
    const tiny = (model: object, over: object = {}): TrainConfig => withOverrides(TRAIN_DEFAULTS, {
      name: 'tiny', model: { contextLength: 32, dim: 32, layers: 2, ...model },
      batchSize: 8, seqLen: 32, warmupSteps: 10, lr: 0.01, logEvery: 10, evalEvery: 1000, evalBatches: 4, sampleTokens: 8, report: false, ...over,
    });

    before(async () => {
      ({ dataDir, tokenizer } = await prepareDemoData(root));
    });

    const families = [
      ['gpt2', { family: 'gpt2', heads: 4 }, {}],
      ['bitnet (ternary, 2 KV heads)', { family: 'bitnet', heads: 4, kvHeads: 2 }, {}],
      ['mmfree (ternary)', { family: 'mmfree' }, {}],
      ['cpuflow (ternary, FSP on)', { family: 'cpuflow', stateDim: 16, ffnHidden: 32 }, { fsp: { alpha: 0.1, tau: 8, rate: 4 } }],
      ['bitnet (fp32, FSP on)', { family: 'bitnet', heads: 4, kvHeads: 4, precision: 'fp32' }, { fsp: { alpha: 0.1, tau: 8, rate: 4 } }],
    ] as const;
    for (const [what, model, over] of families) {
      it(`${what}: the loss falls, and a resumed run equals the straight one`, async () => {
        const config = tiny(model, over);
        const name = what.replace(/\W+/g, '-');
        const straight = await train({ config, dataDir, outDir: join(root, `${name}-straight`), tokenizer, steps: 60 });
        assert.ok(straight.lastEval && straight.lastEval.loss < 0.8 * Math.log(tokenizer.vocabSize), `${what}: val loss ${straight.lastEval?.loss} vs log V ${Math.log(tokenizer.vocabSize)}`);
        let steps = 0;
        await train({ config, dataDir, outDir: join(root, `${name}-resumed`), tokenizer, steps: 60, shouldStop: () => ++steps >= 23 });
        const second = await train({ config, dataDir, outDir: join(root, `${name}-resumed`), tokenizer, steps: 60, resume: true });
        assert.equal(second.finalTrainLoss, straight.finalTrainLoss);
        assertSameTensors(straight.checkpoint, second.checkpoint);
        // The FSP projection trains and is saved with the model when FSP is on, and only then.
        const a = openSafetensors(straight.checkpoint);
        assert.equal(a.has('param.fsp.proj.weight'), config.fsp.alpha > 0);
        a.close();
      });
    }

    it('a run started from an llm.c checkpoint begins at its weights', async () => {
      const c: GPT2Config = { ...GPT2_DEFAULTS, vocabSize: tokenizer.vocabSize, dim: 32, layers: 1, heads: 2, contextLength: 32 };
      const m = createModel(c, new Rng(11));
      const bin = join(root, 'start.bin');
      writeModelAsLlmc(m, bin, 'fp32');
      const config = tiny({ family: 'gpt2', dim: 32, layers: 1, heads: 2 }, { lr: 1e-9, warmupSteps: 0, weightDecay: 0 });
      const r = await train({ config, dataDir, outDir: join(root, 'from-llmc'), tokenizer, steps: 1, initFrom: bin });
      const f = openSafetensors(r.checkpoint);
      const w = f.readF32('param.blocks.0.mlp.fc.weight'), want = paramsOf(m).get('blocks.0.mlp.fc.weight')!;
      let worst = 0;
      w.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
      f.close();
      assert.ok(worst < 1e-6, `one step at lr 1e-9 moved a weight by ${worst}`);
    });
  });
});
