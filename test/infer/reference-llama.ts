// An independent, deliberately plain Llama forward in float32 TypeScript: its own reading of the
// llama2.c v0 file and a full recomputation over the whole sequence for every call (no cache,
// no kernels). The engine must agree with it.
import { readFileSync } from 'node:fs';

export interface RefModel {
  dim: number; hidden: number; layers: number; heads: number; kvHeads: number; vocab: number; seqLen: number;
  emb: Float32Array[]; // vocab rows of dim
  rmsAtt: Float32Array[]; wq: Float32Array[][]; wk: Float32Array[][]; wv: Float32Array[][]; wo: Float32Array[][];
  rmsFfn: Float32Array[]; w1: Float32Array[][]; w2: Float32Array[][]; w3: Float32Array[][];
  rmsFinal: Float32Array; cls: Float32Array[];
}

export function readRefModel(path: string): RefModel {
  const buf = readFileSync(path);
  const hdr = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = Array.from(hdr);
  const vocab = Math.abs(vocabSigned);
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  let at = 0;
  const vec = (n: number): Float32Array => all.slice(at, (at += n));
  const mat = (rows: number, cols: number): Float32Array[] => Array.from({ length: rows }, () => vec(cols));
  const kvDim = (dim / heads) * kvHeads;
  const emb = mat(vocab, dim);
  const rmsAtt = mat(layers, dim);
  const wq = Array.from({ length: layers }, () => mat(dim, dim));
  const wk = Array.from({ length: layers }, () => mat(kvDim, dim));
  const wv = Array.from({ length: layers }, () => mat(kvDim, dim));
  const wo = Array.from({ length: layers }, () => mat(dim, dim));
  const rmsFfn = mat(layers, dim);
  const w1 = Array.from({ length: layers }, () => mat(hidden, dim));
  const w2 = Array.from({ length: layers }, () => mat(dim, hidden));
  const w3 = Array.from({ length: layers }, () => mat(hidden, dim));
  const rmsFinal = vec(dim);
  at += seqLen * (dim / heads); // freq_cis real + imaginary halves
  const cls = vocabSigned > 0 ? emb : mat(vocab, dim);
  return { dim, hidden, layers, heads, kvHeads, vocab, seqLen, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, cls };
}

const f = Math.fround;

function matVec(w: Float32Array[], x: Float32Array): Float32Array {
  const y = new Float32Array(w.length);
  for (let r = 0; r < w.length; r++) {
    let s = 0;
    for (let k = 0; k < x.length; k++) s = f(s + f(w[r][k] * x[k]));
    y[r] = s;
  }
  return y;
}

function rmsNorm(x: Float32Array, w: Float32Array): Float32Array {
  let ss = 0;
  for (const v of x) ss = f(ss + f(v * v));
  const scale = f(1 / Math.sqrt(f(f(ss / x.length) + 1e-5)));
  return x.map((v, i) => f(f(v * scale) * w[i]));
}

/** Rotate pairs (i, i+1) of each head by pos / 10000^((i % headSize) / headSize). */
function rope(v: Float32Array, pos: number, headSize: number): void {
  for (let i = 0; i < v.length; i += 2) {
    const freq = 1 / Math.pow(10000, (i % headSize) / headSize);
    const c = f(Math.cos(pos * freq)), s = f(Math.sin(pos * freq));
    const a = v[i], b = v[i + 1];
    v[i] = f(f(a * c) - f(b * s));
    v[i + 1] = f(f(a * s) + f(b * c));
  }
}

/** Logits (T x vocab) for every position of `tokens`, computed from scratch. */
export function referenceLogits(m: RefModel, tokens: readonly number[]): Float32Array[] {
  const T = tokens.length;
  const hs = m.dim / m.heads;
  const group = m.heads / m.kvHeads;
  const xs = tokens.map((t) => Float32Array.from(m.emb[t]));
  for (let l = 0; l < m.layers; l++) {
    const qs: Float32Array[] = [], ks: Float32Array[] = [], vs: Float32Array[] = [];
    for (let t = 0; t < T; t++) {
      const xn = rmsNorm(xs[t], m.rmsAtt[l]);
      const q = matVec(m.wq[l], xn), k = matVec(m.wk[l], xn);
      rope(q, t, hs);
      rope(k, t, hs);
      qs.push(q);
      ks.push(k);
      vs.push(matVec(m.wv[l], xn));
    }
    for (let t = 0; t < T; t++) {
      const out = new Float32Array(m.dim);
      for (let h = 0; h < m.heads; h++) {
        const kvh = Math.floor(h / group);
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s = f(s + f(qs[t][h * hs + i] * ks[u][kvh * hs + i]));
          scores.push(f(s / Math.sqrt(hs)));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => f(Math.exp(s - mx)));
        const sum = e.reduce((a, b) => f(a + b), 0);
        for (let u = 0; u <= t; u++) {
          const p = f(e[u] / sum);
          for (let i = 0; i < hs; i++) out[h * hs + i] = f(out[h * hs + i] + f(p * vs[u][kvh * hs + i]));
        }
      }
      const proj = matVec(m.wo[l], out);
      for (let i = 0; i < m.dim; i++) xs[t][i] = f(xs[t][i] + proj[i]);
    }
    for (let t = 0; t < T; t++) {
      const xn = rmsNorm(xs[t], m.rmsFfn[l]);
      const a = matVec(m.w1[l], xn), b = matVec(m.w3[l], xn);
      const g = a.map((v, i) => f(f(v / f(1 + Math.exp(-v))) * b[i]));
      const down = matVec(m.w2[l], g);
      for (let i = 0; i < m.dim; i++) xs[t][i] = f(xs[t][i] + down[i]);
    }
  }
  return xs.map((x) => matVec(m.cls, rmsNorm(x, m.rmsFinal)));
}

/** Greedy continuation (lowest id on ties), recomputing the whole sequence for every token. */
export function referenceGreedy(m: RefModel, prompt: readonly number[], n: number): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const all = referenceLogits(m, seq);
    const logits = all[all.length - 1];
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    out.push(best);
    seq.push(best);
  }
  return out;
}
