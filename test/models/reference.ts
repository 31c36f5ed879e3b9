// What the model-family tests (families.test.ts, mof.test.ts) share: the building blocks of their
// float64 re-implementations (rows of floats per position, the parameters read off a model by
// name, the comparison of a model's log-probabilities with a reference's), and the small prepared
// data set their training tests run on.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { noGrad } from '../../src/core/autograd.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { readMeta } from '../../src/data/meta.js';
import { writeDemoCorpus } from '../../src/data/stories.js';
import { tokenizerFromJSON, type Tokenizer } from '../../src/data/tokenizer.js';
import type { BitNetConfig } from '../../src/models/bitnet.js';
import type { GPT2Config } from '../../src/models/gpt2.js';
import type { LanguageModel, ModelConfig } from '../../src/models/index.js';
import { run as prepareCli } from '../../src/cli/prepare.js';
import { run as tokenizerCli } from '../../src/cli/tokenizer.js';

export type Vec = Float64Array<ArrayBufferLike>;
export type Params = Map<string, Float32Array>;

export const paramsOf = (m: LanguageModel<ModelConfig>): Params => new Map(m.namedParameters().map((p) => [p.name, Float32Array.from(p.tensor.f32())]));

/** y (rows x N) = x (rows x K) . W^T (+ b), W (N x K). */
export function linear(x: Vec[], W: Float32Array, N: number, b?: Float32Array): Vec[] {
  const K = x[0].length;
  return x.map((row) => {
    const y = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += row[k] * W[n * K + k];
      y[n] = s;
    }
    return y;
  });
}

export function layerNorm(x: Vec[], w: Float32Array, b: Float32Array, eps = 1e-5): Vec[] {
  return x.map((r) => {
    const mean = r.reduce((a, v) => a + v, 0) / r.length;
    const v = r.reduce((a, u) => a + (u - mean) ** 2, 0) / r.length;
    return r.map((u, i) => ((u - mean) / Math.sqrt(v + eps)) * w[i] + b[i]);
  });
}

export function rmsNorm(x: Vec[], w: Float32Array | null, eps = 1e-6): Vec[] {
  return x.map((r) => {
    const ms = r.reduce((a, v) => a + v * v, 0) / r.length;
    return r.map((u, i) => (u / Math.sqrt(ms + eps)) * (w ? w[i] : 1));
  });
}

export const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export const silu = (x: number): number => x / (1 + Math.exp(-x));
export const add = (a: Vec[], b: Vec[]): Vec[] => a.map((r, t) => r.map((v, i) => v + b[t][i]));

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Causal attention of one sequence: q (T x H*hd), k, v (T x KV*hd); head h reads KV head h / (H / KV). */
export function attention(q: Vec[], k: Vec[], v: Vec[], H: number, KV: number): Vec[] {
  const T = q.length, hd = q[0].length / H, group = H / KV;
  return q.map((qt, t) => {
    const out = new Float64Array(H * hd);
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / group) * hd;
      const s: number[] = [];
      for (let j = 0; j <= t; j++) {
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += qt[h * hd + i] * k[j][kh + i];
        s.push(dot / Math.sqrt(hd));
      }
      const m = Math.max(...s);
      const e = s.map((x) => Math.exp(x - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j <= t; j++) for (let i = 0; i < hd; i++) out[h * hd + i] += (e[j] / z) * v[j][kh + i];
    }
    return out;
  });
  void T;
}

/** llama2.c's rotary positions: pair (i, i+1) of each head turns by t / theta^(i / hd). */
export function rope(x: Vec[], heads: number, theta: number): Vec[] {
  const hd = x[0].length / heads;
  return x.map((r, t) => {
    const y = Float64Array.from(r);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd; i += 2) {
        const a = t / Math.pow(theta, i / hd), c = Math.cos(a), s = Math.sin(a);
        const x0 = r[h * hd + i], x1 = r[h * hd + i + 1];
        y[h * hd + i] = x0 * c - x1 * s;
        y[h * hd + i + 1] = x0 * s + x1 * c;
      }
    }
    return y;
  });
}

/** Next-token log-probabilities of one sequence, from final hidden states and the head matrix. */
export function logSoftmaxRows(h: Vec[], W: Float32Array, V: number): Vec[] {
  return linear(h, W, V).map((z) => {
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    return z.map((v) => v - lse);
  });
}

/** A projection of the reference: rows of its (normed) input -> rows of N outputs, given the weight's name. */
export type Projection = (x: Vec[], weight: string, N: number) => Vec[];

/**
 * The bitnet family: RMSNorm'd blocks of attention (RoPE, grouped KV heads) and a GLU, every
 * projection through BitLinear's input norm (unless inputNorm is false) and then `project`
 * (default: the float product, as the float twin and an imported Llama have it).
 */
export function referenceBitnet(c: BitNetConfig, p: Params, ids: number[], project?: Projection): Vec[] {
  const d = c.dim, get = (n: string): Float32Array => p.get(n)!, eps = c.normEps ?? 1e-6;
  const kvDim = (d / c.heads) * c.kvHeads, hidden = c.ffnHidden ?? Math.ceil((c.ffnMult * d) / 16) * 16;
  const product: Projection = project ?? ((x, name, N) => linear(x, get(name), N));
  const bitLinear = (x: Vec[], name: string, N: number): Vec[] => product(c.inputNorm ?? true ? rmsNorm(x, null) : x, name, N);
  let x: Vec[] = ids.map((id) => Float64Array.from({ length: d }, (_, i) => get('embed.weight')[id * d + i]));
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}.`;
    const h = rmsNorm(x, get(`${b}attn_norm.weight`), eps);
    const q = rope(bitLinear(h, `${b}attn.q.weight`, d), c.heads, c.ropeTheta);
    const k = rope(bitLinear(h, `${b}attn.k.weight`, kvDim), c.kvHeads, c.ropeTheta);
    const v = bitLinear(h, `${b}attn.v.weight`, kvDim);
    x = add(x, bitLinear(attention(q, k, v, c.heads, c.kvHeads), `${b}attn.o.weight`, d));
    const h2 = rmsNorm(x, get(`${b}ffn_norm.weight`), eps);
    const act = c.ffn === 'swiglu' ? silu : (u: number): number => Math.max(u, 0) ** 2;
    const gate = bitLinear(h2, `${b}ffn.gate.weight`, hidden), up = bitLinear(h2, `${b}ffn.up.weight`, hidden);
    x = add(x, bitLinear(gate.map((r, t) => r.map((g, i) => act(g) * up[t][i])), `${b}ffn.down.weight`, d));
  }
  return logSoftmaxRows(rmsNorm(x, get('norm_out.weight'), eps), get(c.head.tied ? 'embed.weight' : 'head.weight'), c.vocabSize);
}

/**
 * GPT-2 of the paper (and llm.c), from its parameters: each projection is `project` (default: the
 * float product) of its weight, then its bias.
 */
export function referenceGpt2(c: GPT2Config, p: Params, ids: number[], project?: Projection): Vec[] {
  const d = c.dim, get = (n: string): Float32Array => p.get(n)!;
  const product: Projection = project ?? ((x, name, N) => linear(x, get(name), N));
  const withBias = (x: Vec[], name: string, N: number): Vec[] => product(x, `${name}.weight`, N).map((r) => r.map((v, i) => v + get(`${name}.bias`)[i]));
  let x: Vec[] = ids.map((id, t) => Float64Array.from({ length: d }, (_, i) => get('embed.weight')[id * d + i] + get('pos_embed.weight')[t * d + i]));
  for (let l = 0; l < c.layers; l++) {
    const b = `blocks.${l}.`;
    const h = layerNorm(x, get(`${b}ln1.weight`), get(`${b}ln1.bias`));
    const qkv = withBias(h, `${b}attn.qkv`, 3 * d);
    const att = attention(qkv.map((r) => r.slice(0, d)), qkv.map((r) => r.slice(d, 2 * d)), qkv.map((r) => r.slice(2 * d)), c.heads, c.heads);
    x = add(x, withBias(att, `${b}attn.proj`, d));
    const h2 = layerNorm(x, get(`${b}ln2.weight`), get(`${b}ln2.bias`));
    const fc = withBias(h2, `${b}mlp.fc`, 4 * d).map((r) => r.map(gelu));
    x = add(x, withBias(fc, `${b}mlp.proj`, d));
  }
  return logSoftmaxRows(layerNorm(x, get('norm_out.weight'), get('norm_out.bias')), get('embed.weight'), c.vocabSize);
}

/** The training model's log-probabilities of one sequence (batch of 1). */
export function modelLogProbs(m: LanguageModel<ModelConfig>, ids: number[]): Float32Array[] {
  return noGrad(() => scope(() => {
    const h = m.hidden(Tensor.from(Int32Array.from(ids), [1, ids.length], 'i32'));
    const lp = m.head.logProbs(h).f32();
    const V = m.config.vocabSize;
    return ids.map((_, t) => Float32Array.from(lp.subarray(t * V, (t + 1) * V)));
  }));
}

export function assertClose(got: Float32Array[], want: Vec[], tol: number, what: string): void {
  let worst = 0;
  got.forEach((row, t) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[t][i])))));
  assert.ok(worst < tol, `${what}: worst log-prob difference ${worst}`);
}

export const randomIds = (n: number, V: number, seed: number): number[] => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Math.floor(rng.next() * V));
};

/** Under `root`: 600 demo stories, a 300-token BPE and shards prepared with it (root/data). */
export async function prepareDemoData(root: string): Promise<{ dataDir: string; tokenizer: Tokenizer }> {
  const corpus = writeDemoCorpus(join(root, 'corpus'), { stories: 600, seed: 5 });
  const quiet = console.log;
  console.log = () => {};
  try {
    await tokenizerCli(['train', '--input', corpus.path, '--vocab', '300', '--out', join(root, 'tok.json')]);
    await prepareCli(['--input', corpus.path, '--tokenizer', join(root, 'tok.json'), '--out', join(root, 'data'), '--val-fraction', '0.05']);
  } finally {
    console.log = quiet;
  }
  const dataDir = join(root, 'data');
  return { dataDir, tokenizer: tokenizerFromJSON(readMeta(dataDir).tokenizer.json) };
}
