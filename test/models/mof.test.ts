// The mixture-of-frameworks family: its float twin equals a plain float64 re-implementation of
// the diagram in src/models/mof.ts (minGRU experts and router, linear attention with running S
// and z, sinusoidal positions, the thought vector, the embedding mix); a tiny ternary mof learns
// and resumes bit for bit; frozen layers stay bit-identical while the rest train; a frozenLayers
// past model.layers is refused.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { createModel } from '../../src/models/index.js';
import { MOF_DEFAULTS, ffnHidden, gruWidth, type MofConfig } from '../../src/models/mof.js';
import { TRAIN_DEFAULTS, withOverrides, type TrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { add, assertClose, layerNorm, linear, logSoftmaxRows, modelLogProbs, paramsOf, prepareDemoData, randomIds, rmsNorm, sigmoid, silu, type Params, type Vec } from './reference.js';

const scaled = (x: Vec[], s: number): Vec[] => x.map((r) => r.map((v) => v * s));

/** minGRU over the rows x: h_t = f_t h_{t-1} + (1 - f_t) c_t, f = σ(F x), c = tanh(C x). */
function minGRU(x: Vec[], F: Vec[], C: Vec[]): Vec[] {
  const h = new Float64Array(F[0].length);
  return x.map((_, t) => Float64Array.from(h.map((prev, i) => (h[i] = sigmoid(F[t][i]) * prev + (1 - sigmoid(F[t][i])) * Math.tanh(C[t][i])))));
}

/** Causal linear attention per head with running S = Σ φ(k) vᵀ and z = Σ φ(k), φ = elu + 1. */
function linearAttention(q: Vec[], k: Vec[], v: Vec[], H: number): Vec[] {
  const d = q[0].length, hd = d / H, phi = (x: number): number => (x > 0 ? x + 1 : Math.exp(x));
  const S = Array.from({ length: H }, () => new Float64Array(hd * hd)), z = Array.from({ length: H }, () => new Float64Array(hd));
  return q.map((qt, t) => {
    const out = new Float64Array(d);
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < hd; i++) {
        z[h][i] += phi(k[t][h * hd + i]);
        for (let j = 0; j < hd; j++) S[h][i * hd + j] += phi(k[t][h * hd + i]) * v[t][h * hd + j];
      }
      let den = 0;
      for (let i = 0; i < hd; i++) den += phi(qt[h * hd + i]) * z[h][i];
      for (let j = 0; j < hd; j++) {
        let num = 0;
        for (let i = 0; i < hd; i++) num += phi(qt[h * hd + i]) * S[h][i * hd + j];
        out[h * hd + j] = num / den;
      }
    }
    return out;
  });
}

/** The float twin of src/models/mof.ts, every projection normed first (BitLinear's input RMSNorm). */
function referenceMofFloat(c: MofConfig, p: Params, ids: number[]): Vec[] {
  const d = c.dim, get = (n: string): Float32Array => p.get(n)!, W = gruWidth(c), hidden = ffnHidden(c);
  const proj = (x: Vec[], name: string, N: number): Vec[] => linear(rmsNorm(x, null), get(`${name}.weight`), N);
  const ln = (x: Vec[], name: string): Vec[] => layerNorm(x, get(`${name}.weight`), get(`${name}.bias`));
  const gru = (x: Vec[], name: string, N: number): Vec[] => minGRU(x, proj(x, `${name}.f`, N), proj(x, `${name}.c`, N));
  const e: Vec[] = ids.map((id) => Float64Array.from({ length: d }, (_, i) => get('embed.weight')[id * d + i]));
  let x = e;
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}`, tr = `${b}.transformer`;
    if (c.embeddingMix) x = add(x, scaled(e, get(`${b}.embedding_weight`)[0]));
    const g = add(x, proj(gru(ln(x, `${b}.gru.norm`), `${b}.gru.gru`, W), `${b}.gru.out`, d));
    const n = ln(x, `${tr}.norm`);
    const positioned = n.map((r, t) => r.map((v, i) => v + (i % 2 === 0 ? Math.sin(t / 10000 ** (i / d)) : Math.cos(t / 10000 ** ((i - 1) / d)))));
    const q = proj(positioned, `${tr}.attention.q`, d), k = proj(positioned, `${tr}.attention.k`, d), v = proj(positioned, `${tr}.attention.v`, d);
    const att = proj(linearAttention(q, k, v, c.heads), `${tr}.attention.o`, d);
    const sum = new Float64Array(d);
    const mean = n.map((r, t) => Float64Array.from(r, (u, i) => (sum[i] += u) / (t + 1)));
    const thought = scaled(proj(mean, `${tr}.thought`, d), get(`${tr}.thought_weight`)[0]);
    let a = add(x, add(att, thought));
    const h2 = ln(a, `${tr}.ffn_norm`);
    const gate = proj(h2, `${tr}.ffn.gate`, hidden), up = proj(h2, `${tr}.ffn.up`, hidden);
    a = add(a, proj(gate.map((r, t) => r.map((u, i) => silu(u) * up[t][i])), `${tr}.ffn.down`, d));
    const logits = proj(gru(ln(x, `${b}.router.norm`), `${b}.router.gru`, c.routerDim), `${b}.router.out`, 2);
    x = x.map((_, t) => {
      const p0 = 1 / (1 + Math.exp(logits[t][1] - logits[t][0]));
      return g[t].map((u, i) => p0 * u + (1 - p0) * a[t][i]);
    });
  }
  return logSoftmaxRows(ln(x, 'norm_out'), get(c.head.tied ? 'embed.weight' : 'head.weight'), c.vocabSize);
}

describe('the mixture-of-frameworks family', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  for (const [embeddingMix, tied] of [[true, true], [false, false]]) {
    it(`the float twin equals a plain float64 re-implementation (embedding mix ${embeddingMix ? 'on' : 'off'}, ${tied ? 'tied' : 'untied'} head)`, () => {
      const c: MofConfig = {
        ...MOF_DEFAULTS, vocabSize: 41, dim: 24, layers: 2, heads: 3, gruMult: 1.5, ffnMult: 1.5, routerDim: 8,
        precision: 'fp32', quantizeActivations: false, embeddingMix, head: { type: 'softmax', tied },
      };
      const m = createModel(c, new Rng(13));
      // Non-trivial norms, scalars and router, so that a mix-up of any of them shows.
      for (const { name, tensor } of m.namedParameters()) {
        if (/norm|_weight/.test(name)) tensor.f32().forEach((_, i, a) => (a[i] = (name.endsWith('bias') ? 0 : 0.5) + 0.3 * Math.sin(i + name.length)));
      }
      const ids = randomIds(21, c.vocabSize, 4);
      assertClose(modelLogProbs(m, ids), referenceMofFloat(c, paramsOf(m), ids), 2e-4, 'mof');
      m.dispose();
    });
  }

  it('a frozenLayers past model.layers is refused with the way out', () => {
    assert.throws(() => withOverrides(TRAIN_DEFAULTS, { model: { ...MOF_DEFAULTS, layers: 2, frozenLayers: 3 } }), /model.frozenLayers 3 is more than model.layers 2/);
  });

  describe('training', () => {
    const root = mkdtempSync(join(tmpdir(), 'ternlm-mof-train-'));
    let dataDir = '';
    let tokenizer: Tokenizer;
    const tiny = (model: object = {}): TrainConfig => withOverrides(TRAIN_DEFAULTS, {
      name: 'tiny', model: { ...MOF_DEFAULTS, contextLength: 32, dim: 32, layers: 2, heads: 2, routerDim: 8, ...model },
      batchSize: 8, seqLen: 32, warmupSteps: 10, lr: 0.01, logEvery: 10, evalEvery: 1000, evalBatches: 4, sampleTokens: 8, report: false,
    });

    before(async () => {
      ({ dataDir, tokenizer } = await prepareDemoData(root));
    });

    it('a tiny ternary mof learns, and a resumed run equals the straight one bit for bit', async () => {
      const config = tiny({ dropout: 0.1 });
      const straight = await train({ config, dataDir, outDir: join(root, 'straight'), tokenizer, steps: 60 });
      assert.ok(straight.lastEval && straight.lastEval.loss < 0.8 * Math.log(tokenizer.vocabSize), `val loss ${straight.lastEval?.loss} vs log V ${Math.log(tokenizer.vocabSize)}`);
      let steps = 0;
      await train({ config, dataDir, outDir: join(root, 'resumed'), tokenizer, steps: 60, shouldStop: () => ++steps >= 23 });
      const second = await train({ config, dataDir, outDir: join(root, 'resumed'), tokenizer, steps: 60, resume: true });
      assert.equal(second.finalTrainLoss, straight.finalTrainLoss);
      const a = openSafetensors(straight.checkpoint), b = openSafetensors(second.checkpoint);
      for (const t of a.tensors) assert.deepEqual(b.read(t.name).data, a.read(t.name).data, `tensor ${t.name}`);
      a.close();
      b.close();
    });

    it('frozen layers stay bit-identical over training (and over a resume) while the others change', async () => {
      const config = tiny({ layers: 3, frozenLayers: 2, frozenEmbeddings: true });
      const fresh = createModel({ ...(config.model as Omit<MofConfig, 'vocabSize'>), vocabSize: tokenizer.vocabSize } as MofConfig, new Rng(config.seed));
      const initial = paramsOf(fresh);
      fresh.dispose();
      let steps = 0;
      await train({ config, dataDir, outDir: join(root, 'frozen'), tokenizer, steps: 30, shouldStop: () => ++steps >= 12 });
      const r = await train({ config, dataDir, outDir: join(root, 'frozen'), tokenizer, steps: 30, resume: true });
      const f = openSafetensors(r.checkpoint);
      let frozen = 0, changed = 0;
      for (const [name, start] of initial) {
        const now = f.readF32(`param.${name}`);
        if (/^blocks\.[01]\.|^embed\./.test(name)) {
          assert.deepEqual(Array.from(now), Array.from(start), `${name} is frozen`);
          frozen++;
        } else if (/^blocks\.2\./.test(name) && now.some((v, i) => v !== start[i])) {
          changed++;
        }
      }
      f.close();
      assert.ok(frozen > 40, `${frozen} frozen tensors checked`);
      assert.ok(changed > 15, `only ${changed} tensors of the trained layer changed`);
    });
  });
});
