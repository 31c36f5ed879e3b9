// FlashLM-MLP is what its diagram draws: the float twin equals a plain float64 re-implementation
// (running average of the embeddings, three normed projections with ReLU, two-level softmax
// head); the ternary model's layers are BitLinears over frozen embeddings; the trainable
// parameters and the exported file at GPT-2's vocabulary are counted; a tiny model trains end to
// end (the loss falls, a resumed run equals the straight one).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { noGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { readMeta } from '../../src/data/meta.js';
import { tokenizerFromJSON } from '../../src/data/tokenizer.js';
import type { TwoLevelHead } from '../../src/heads/index.js';
import { exportPacked } from '../../src/infer/packed.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { FLASHLM_MLP_DEFAULTS, type FlashLMMlpConfig } from '../../src/models/flashlm-mlp.js';
import { createModel, type LanguageModel, type ModelConfig } from '../../src/models/index.js';
import { TRAIN_DEFAULTS, withOverrides } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { prepareTinyDataset } from '../cli/tiny-data.js';
import { twoLevelLogProbs } from '../heads/two-level-reference.js';

type Vec = Float64Array;

const zipfCounts = (V: number): number[] => Array.from({ length: V }, (_, i) => 1 + Math.round(1000 / (i + 1)));

/** The float twin of the diagram in float64, from the model's parameters: log-probabilities of every position. */
function referenceLogProbs(c: FlashLMMlpConfig, m: LanguageModel<ModelConfig>, ids: number[]): Vec[] {
  const p = new Map(m.namedParameters().map((q) => [q.name, q.tensor.f32()]));
  const get = (n: string): Float32Array => p.get(n) ?? (n === 'embed.weight' ? m.embed.weight.f32() : assert.fail(`no parameter ${n}`));
  const d = c.dim, E = get('embed.weight'), decay = get('context.decay'), gain = get('context.gain');
  const rmsNorm = (x: Vec, w: Float32Array | null): Vec => {
    const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
    return x.map((u, i) => (u / Math.sqrt(ms + 1e-6)) * (w ? w[i] : 1));
  };
  const linear = (x: Vec, W: Float32Array, N: number): Vec => Float64Array.from({ length: N }, (_, n) => x.reduce((a, v, k) => a + v * W[n * x.length + k], 0));
  const head = m.head as TwoLevelHead;
  const values = {
    V: c.vocabSize, d, classVectors: get('head.classes'), wordProj: get('head.word_proj'), wordBias: get('head.word_bias'),
    embedding: E, order: head.order, classStart: head.classStart,
  };
  const s = new Float64Array(d);
  return ids.map((id) => {
    const e = Float64Array.from({ length: d }, (_, i) => E[id * d + i]);
    for (let i = 0; i < d; i++) {
      const f = 1 / (1 + Math.exp(-decay[i]));
      s[i] = f * s[i] + (1 - f) * e[i];
    }
    let x: Vec = e.map((v, i) => v + gain[i] * s[i]);
    for (let l = 0; l < c.layers; l++) {
      const N = l === c.layers - 1 ? d : c.hidden;
      x = linear(rmsNorm(x, null), get(`mlp.${l}.weight`), N);
      if (l < c.layers - 1) x = x.map((v) => Math.max(0, v));
    }
    return twoLevelLogProbs(values, rmsNorm(x, get('norm_out.weight')));
  });
}

describe('FlashLM-MLP', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('the float twin equals a plain float64 re-implementation of the diagram', () => {
    const c: FlashLMMlpConfig = { ...FLASHLM_MLP_DEFAULTS, vocabSize: 41, dim: 12, hidden: 20, layers: 3, precision: 'fp32', quantizeActivations: false, contextLength: 16 };
    const m = createModel(c, new Rng(3), zipfCounts(c.vocabSize));
    // Decays and gains away from their start, so that a mix-up shows.
    for (const { name, tensor } of m.namedParameters()) {
      if (name.startsWith('context.')) tensor.f32().forEach((v, i, a) => (a[i] = v + 0.3 * Math.sin(i + name.length)));
    }
    const rng = new Rng(4);
    const ids = Array.from({ length: 24 }, () => rng.int(c.vocabSize));
    const want = referenceLogProbs(c, m, ids);
    const got = noGrad(() => scope(() => Float32Array.from(m.head.logProbs(m.hidden(Tensor.from(ids, [1, ids.length], 'i32'))).f32())));
    let worst = 0;
    want.forEach((row, t) => row.forEach((v, w) => (worst = Math.max(worst, Math.abs(v - got[t * c.vocabSize + w])))));
    assert.ok(worst < 2e-4, `worst log-prob difference ${worst}`);
    m.dispose();
  });

  it('the ternary model: three BitLinears 256 -> 512 -> 512 -> 256 with 8-bit activations over a frozen embedding', () => {
    const m = createModel({ ...FLASHLM_MLP_DEFAULTS, vocabSize: 100 }, new Rng(1), zipfCounts(100));
    assert.deepEqual(m.bitLayers().map((b) => [b.name, ...b.layer.weight.shape]), [['mlp.0', 512, 256], ['mlp.1', 512, 512], ['mlp.2', 256, 512]]);
    for (const { layer } of m.bitLayers()) assert.deepEqual(layer.opts, { precision: 'ternary', quantizeActivations: true, inputNorm: true });
    assert.equal(m.embed.weight.requiresGrad, false);
    m.dispose();
  });

  describe('at GPT-2\'s vocabulary (50,257 tokens)', () => {
    const V = 50257;
    let model: LanguageModel<ModelConfig>;
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-flashlm-mlp-'));
    before(() => {
      model = createModel({ ...FLASHLM_MLP_DEFAULTS, vocabSize: V }, new Rng(1), zipfCounts(V));
    });
    after(() => {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('has 698,193 trainable parameters: the MLP, the context, the output norm and the two-level head', (t) => {
      const trainable = model.namedParameters().filter((p) => p.tensor.requiresGrad);
      const count = (prefix: string): number => trainable.filter((p) => p.name.startsWith(prefix)).reduce((n, p) => n + p.tensor.size, 0);
      const classes = Math.round(Math.sqrt(V)); // 224
      assert.equal(count('mlp.'), 256 * 512 + 512 * 512 + 512 * 256); // 524,288
      assert.equal(count('context.') + count('norm_out.'), 3 * 256);
      assert.equal(count('head.'), classes * 256 + 256 * 256 + V); // 173,137
      assert.equal(count('embed.'), 0);
      const total = trainable.reduce((n, p) => n + p.tensor.size, 0);
      assert.equal(total, 698_193);
      t.diagnostic(`trainable ${total}; frozen embedding ${model.embed.weight.size}`);
    });

    it('exports the trained weights in about 0.5 MB and the frozen f16 table in 25.7 MB', (t) => {
      const path = join(dir, 'model.safetensors');
      const report = exportPacked(model, { type: 'byte' }, path, { floatDtype: 'f16' });
      const f = openSafetensors(path);
      const bytes = (name: string): number => f.read(name).data.byteLength;
      const table = bytes('embed.weight');
      const trained = f.tensors.filter((x) => x.name !== 'embed.weight').reduce((n, x) => n + bytes(x.name), 0);
      f.close();
      const file = statSync(path).size;
      assert.equal(table, V * 256 * 2);
      assert.equal(report.ternaryWeights, 524_288);
      // 2 bits per ternary weight and 3 scales, 2 bytes per float parameter of the context, norm and head
      assert.equal(trained, 524_288 / 4 + 3 * 4 + 2 * (3 * 256 + 173_137));
      t.diagnostic(`file ${file} bytes: frozen table ${table}, trained weights ${trained}, header (config, tokenizer, class structure) ${file - table - trained}`);
    });
  });

  describe('training end to end', () => {
    const root = mkdtempSync(join(tmpdir(), 'ternlm-flashlm-mlp-train-'));
    let dataDir = '';
    before(async () => {
      dataDir = (await prepareTinyDataset(root, 6)).data;
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    it('on corpus embeddings: the loss falls, and a resumed run equals the straight one', async (t) => {
      const tokenizer = tokenizerFromJSON(readMeta(dataDir).tokenizer.json);
      const config = withOverrides(TRAIN_DEFAULTS, {
        name: 'tiny', model: { family: 'flashlm-mlp', dim: 32, hidden: 64, contextLength: 32 }, initEmbeddings: 'corpus',
        batchSize: 8, seqLen: 32, warmupSteps: 10, lr: 0.01, logEvery: 10, evalEvery: 20, evalBatches: 4, sampleTokens: 8, report: false,
      });
      const losses: number[] = [];
      const straight = await train({ config, dataDir, outDir: join(root, 'straight'), tokenizer, steps: 60, onLog: (l) => void (l.type === 'train' && losses.push(l.loss)) });
      t.diagnostic(`train loss ${losses.map((l) => l.toFixed(3)).join(' -> ')}; val loss ${straight.lastEval?.loss.toFixed(3)}; log V ${Math.log(tokenizer.vocabSize).toFixed(3)}`);
      assert.ok(straight.lastEval && straight.lastEval.loss < 0.8 * losses[0], `val loss ${straight.lastEval?.loss} vs the first train loss ${losses[0]}`);
      let steps = 0;
      await train({ config, dataDir, outDir: join(root, 'resumed'), tokenizer, steps: 60, shouldStop: () => ++steps >= 23 });
      const second = await train({ config, dataDir, outDir: join(root, 'resumed'), tokenizer, steps: 60, resume: true });
      assert.equal(second.finalTrainLoss, straight.finalTrainLoss);
      const a = openSafetensors(straight.checkpoint), b = openSafetensors(second.checkpoint);
      for (const x of a.tensors) assert.deepEqual(b.read(x.name).data, a.read(x.name).data, `tensor ${x.name}`);
      a.close();
      b.close();
    });
  });
});
