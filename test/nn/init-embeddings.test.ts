import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { f32ToF16, writeSafetensors } from '../../src/io/safetensors.js';
import { corpusEmbeddings, gpt2Embeddings, symmetricEigen } from '../../src/nn/init-embeddings.js';

const dir = mkdtempSync(join(tmpdir(), 'ternlm-emb-'));
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  await initRuntime({ threads: 2 });
});

function std(x: Float32Array): number {
  let s = 0, s2 = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
  }
  return Math.sqrt(s2 / x.length - (s / x.length) ** 2);
}

function cosine(a: Float32Array | Float64Array, i: number, j: number, d: number): number {
  let dot = 0, ni = 0, nj = 0;
  for (let k = 0; k < d; k++) {
    dot += a[i * d + k] * a[j * d + k];
    ni += a[i * d + k] ** 2;
    nj += a[j * d + k] ** 2;
  }
  return dot / Math.sqrt(ni * nj);
}

/** Column k of a row-major [rows, cols] array. */
function column(a: ArrayLike<number>, rows: number, cols: number, k: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = a[i * cols + k];
  return out;
}

function correlation(x: Float64Array, y: Float64Array): number {
  let xy = 0, xx = 0, yy = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return xy / Math.sqrt(xx * yy);
}

describe('symmetricEigen', () => {
  it('diagonalizes a random symmetric matrix: A V = V diag(lambda), V orthonormal, sorted', () => {
    const n = 12, rng = new Rng(3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rng.normal();
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 1; k < n; k++) assert.ok(values[k] <= values[k - 1]);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += a[i * n + j] * vectors[j * n + k];
      assert.ok(Math.abs(av - values[k] * vectors[i * n + k]) < 1e-10, `A v_${k} at ${i}`);
    }
    for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += vectors[i * n + p] * vectors[i * n + q];
      assert.ok(Math.abs(dot - (p === q ? 1 : 0)) < 1e-12);
    }
  });
});

describe('gpt2Embeddings', () => {
  // A synthetic "wte": V x D = common offset + rank-6 structure (singular values 40..5) + small noise.
  const V = 300, D = 64, R = 6;
  const rng = new Rng(11);
  const left = Array.from({ length: V * R }, () => rng.normal());
  const right = Array.from({ length: R * D }, () => rng.normal() / Math.sqrt(D));
  const strength = [40, 30, 20, 12, 8, 5];
  const offset = Array.from({ length: D }, () => 3 * rng.normal());
  const wte = new Float32Array(V * D);
  for (let i = 0; i < V; i++) for (let j = 0; j < D; j++) {
    let v = offset[j] + 0.05 * rng.normal();
    for (let r = 0; r < R; r++) v += strength[r] * left[i * R + r] * right[r * D + j] / Math.sqrt(V);
    wte[i * D + j] = v;
  }
  // Reference: principal directions of the centred table from the exact D x D covariance.
  const centred = new Float64Array(V * D);
  for (let j = 0; j < D; j++) {
    let m = 0;
    for (let i = 0; i < V; i++) m += wte[i * D + j];
    for (let i = 0; i < V; i++) centred[i * D + j] = wte[i * D + j] - m / V;
  }
  const cov = new Float64Array(D * D);
  for (let p = 0; p < D; p++) for (let q = 0; q < D; q++) {
    let s = 0;
    for (let i = 0; i < V; i++) s += centred[i * D + p] * centred[i * D + q];
    cov[p * D + q] = s;
  }
  const ref = symmetricEigen(cov, D);

  const path = join(dir, 'gpt2-like.safetensors');
  writeSafetensors(path, [
    { name: 'wpe.weight', dtype: 'F32', shape: [16, D], data: new Float32Array(16 * D) },
    { name: 'wte.weight', dtype: 'F32', shape: [V, D], data: wte },
  ], { format: 'pt' });

  it('returns the centred table projected on its top principal directions, scaled to std', () => {
    const d = 8;
    const out = gpt2Embeddings(path, d, { std: 0.5 });
    assert.equal(out.length, V * d);
    assert.ok(Math.abs(std(out) - 0.5) < 1e-4, `std ${std(out)}`);
    // Each output column equals (up to sign and the global scale) centred . v_k for the exact v_k.
    for (let k = 0; k < R; k++) {
      const exact = new Float64Array(V);
      for (let i = 0; i < V; i++) for (let j = 0; j < D; j++) exact[i] += centred[i * D + j] * ref.vectors[j * D + k];
      const corr = Math.abs(correlation(column(out, V, d, k), exact));
      assert.ok(corr > 0.999, `direction ${k}: |correlation| ${corr}`);
    }
  });

  it('keeps the cosine similarities between tokens (rank-6 table, 6 dims)', () => {
    const d = R;
    const out = gpt2Embeddings(path, d);
    // The exact rank-d projection, from the reference eigenvectors.
    const exact = new Float64Array(V * d);
    for (let i = 0; i < V; i++) for (let k = 0; k < d; k++) for (let j = 0; j < D; j++) exact[i * d + k] += centred[i * D + j] * ref.vectors[j * D + k];
    let worst = 0, meanFull = 0;
    for (let t = 0; t < 400; t++) {
      const i = rng.int(V), j = rng.int(V);
      worst = Math.max(worst, Math.abs(cosine(out, i, j, d) - cosine(exact, i, j, d)));
      meanFull += Math.abs(cosine(out, i, j, d) - cosine(centred, i, j, D)) / 400;
    }
    assert.ok(worst < 1e-3, `largest cosine error against the exact projection ${worst}`);
    assert.ok(meanFull < 0.02, `mean cosine error against the full table ${meanFull}`);
    // The variance kept by d directions is the top-d eigenvalue share of the covariance.
    let total = 0, kept = 0;
    for (let k = 0; k < D; k++) total += ref.values[k];
    for (let k = 0; k < d; k++) kept += ref.values[k];
    assert.ok(kept / total > 0.97, `variance kept ${kept / total}`);
  });

  it('reads transformer.wte.weight stored as F16 and is deterministic by seed', () => {
    const p16 = join(dir, 'gpt2-f16.safetensors');
    writeSafetensors(p16, [{ name: 'transformer.wte.weight', dtype: 'F16', shape: [V, D], data: f32ToF16(wte) }]);
    const a = gpt2Embeddings(p16, 4, { seed: 5 });
    assert.deepEqual(gpt2Embeddings(p16, 4, { seed: 5 }), a);
    const b = gpt2Embeddings(path, 4, { seed: 5 });
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(correlation(column(a, V, 4, k), column(b, V, 4, k))) > 0.999);
  });

  it('names the problem when the file has no token embedding or d is too wide', () => {
    const other = join(dir, 'not-gpt2.safetensors');
    writeSafetensors(other, [{ name: 'lm_head.weight', dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }]);
    assert.throws(() => gpt2Embeddings(other, 2), (e: unknown) => e instanceof TernlmError && /not-gpt2\.safetensors has no GPT-2 token embedding/.test(e.message));
    assert.throws(() => gpt2Embeddings(path, 65), (e: unknown) => e instanceof TernlmError && /width 64 to 65 dimensions/.test(e.message));
  });
});

describe('corpusEmbeddings', () => {
  /**
   * Four topics of 10 tokens each (ids 0-9, 10-19, ...); the stream is runs of 12 tokens drawn
   * from one topic, so co-occurrence happens almost only inside a topic. Ids 40-43 never occur.
   */
  function topicStream(runs: number, seed: number, weights = [1, 1, 1, 1]): Uint16Array {
    const rng = new Rng(seed);
    const out: number[] = [];
    const total = weights.reduce((a, b) => a + b, 0);
    for (let r = 0; r < runs; r++) {
      let u = rng.next() * total, topic = 0;
      while (u >= weights[topic]) u -= weights[topic++];
      for (let k = 0; k < 12; k++) out.push(topic * 10 + rng.int(10));
    }
    return Uint16Array.from(out);
  }
  const V = 44, d = 8;

  function meanCosines(emb: Float32Array, topics: number): { within: number; across: number } {
    let w = 0, nw = 0, a = 0, na = 0;
    for (let i = 0; i < topics * 10; i++) for (let j = i + 1; j < topics * 10; j++) {
      const c = cosine(emb, i, j, d);
      if (Math.floor(i / 10) === Math.floor(j / 10)) (w += c), nw++;
      else (a += c), na++;
    }
    return { within: w / nw, across: a / na };
  }

  it('gives tokens that co-occur similar vectors, and unseen tokens random rows at the same std', () => {
    const tokens = topicStream(2000, 1);
    const emb = corpusEmbeddings(tokens, V, d, { window: 4, seed: 2, std: 0.3 });
    assert.equal(emb.length, V * d);
    const { within, across } = meanCosines(emb, 4);
    assert.ok(within > 0.8, `within-topic cosine ${within}`);
    assert.ok(across < 0.2, `across-topic cosine ${across}`);
    const seen = emb.subarray(0, 40 * d), unseen = emb.subarray(40 * d);
    assert.ok(Math.abs(std(seen) - 0.3) < 1e-3, `std ${std(seen)}`);
    assert.ok(std(unseen) > 0.1 && std(unseen) < 0.6, `unseen std ${std(unseen)}`);
    assert.deepEqual(corpusEmbeddings(tokens, V, d, { window: 4, seed: 2, std: 0.3 }), emb);
  });

  it('counts only the most frequent tokens densely when the vocabulary passes maxDense', () => {
    // Topic 3 is rare, so with maxDense = 30 its tokens are left out and get random rows.
    const tokens = Uint32Array.from(topicStream(2000, 4, [1, 1, 1, 0.05]));
    const emb = corpusEmbeddings(tokens, V, d, { maxDense: 30, seed: 3 });
    const { within } = meanCosines(emb, 3);
    assert.ok(within > 0.8, `within-topic cosine of counted tokens ${within}`);
    let rare = 0, n = 0;
    for (let i = 30; i < 40; i++) for (let j = i + 1; j < 40; j++) (rare += cosine(emb, i, j, d)), n++;
    assert.ok(Math.abs(rare / n) < 0.3, `random rows are unrelated: ${rare / n}`);
  });

  it('works when the vocabulary is smaller than d (extra columns are zero)', () => {
    const tokens = Int32Array.from([0, 1, 2, 0, 1, 2, 3, 4, 3, 4, 0, 1]);
    const emb = corpusEmbeddings(tokens, 5, 8, {});
    for (let t = 0; t < 5; t++) for (let j = 5; j < 8; j++) assert.equal(emb[t * 8 + j], 0);
    assert.ok(emb.some((x) => x !== 0));
  });

  it('rejects token ids outside the vocabulary and an empty corpus', () => {
    assert.throws(() => corpusEmbeddings(new Uint16Array(0), 44, 4), (e: unknown) => e instanceof TernlmError && /it has no tokens/.test(e.message));
    assert.throws(() => corpusEmbeddings(Uint16Array.from([1, 2, 50]), 44, 4), (e: unknown) => e instanceof TernlmError && /token 50 at position 2 is outside the vocabulary of 44/.test(e.message));
  });
});
