// The two-level softmax written out in float64 with loops, from the head's parameters: what
// src/heads/two-level.ts and its kernels must compute.
export interface TwoLevelValues {
  V: number;
  d: number;
  classVectors: ArrayLike<number>; // (classes, d)
  wordProj: ArrayLike<number>; // (d, d)
  wordBias: ArrayLike<number>; // (V)
  embedding: ArrayLike<number>; // (V, d)
  order: ArrayLike<number>; // (V)
  classStart: ArrayLike<number>; // (classes + 1)
}

const logSumExp = (z: number[]): number => {
  const m = Math.max(...z);
  return m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
};

/** z_w = E_w . (P h) + b_w of one row h (d), by token id. */
function wordScores(p: TwoLevelValues, h: ArrayLike<number>): number[] {
  const { V, d } = p;
  const g = Array.from({ length: d }, (_, i) => {
    let s = 0;
    for (let k = 0; k < d; k++) s += p.wordProj[i * d + k] * h[k];
    return s;
  });
  return Array.from({ length: V }, (_, w) => {
    let s = p.wordBias[w];
    for (let i = 0; i < d; i++) s += p.embedding[w * d + i] * g[i];
    return s;
  });
}

/** log p(w | h) of every token for one row h (d). */
export function twoLevelLogProbs(p: TwoLevelValues, h: ArrayLike<number>): Float64Array {
  const { V, d } = p;
  const classes = p.classStart.length - 1;
  const cz = Array.from({ length: classes }, (_, c) => {
    let s = 0;
    for (let i = 0; i < d; i++) s += p.classVectors[c * d + i] * h[i];
    return s;
  });
  const clse = logSumExp(cz);
  const z = wordScores(p, h);
  const out = new Float64Array(V);
  for (let c = 0; c < classes; c++) {
    const members = Array.from({ length: p.classStart[c + 1] - p.classStart[c] }, (_, j) => p.order[p.classStart[c] + j]);
    const lse = logSumExp(members.map((w) => z[w]));
    for (const w of members) out[w] = cz[c] - clse + z[w] - lse;
  }
  return out;
}

/**
 * The mean loss over counted rows of h (M x d) and its gradients with respect to the word
 * biases and the embedding (the parts the word-level kernels scatter): for each row,
 * dz = softmax over the target's class - onehot, db_w += dz_w / n, dE_w += dz_w (P h) / n.
 */
export function twoLevelLossAndWordGrads(p: TwoLevelValues, h: ArrayLike<number>, targets: ArrayLike<number>): { loss: number; dBias: Float64Array; dEmbedding: Float64Array } {
  const { V, d } = p;
  const M = targets.length;
  const dBias = new Float64Array(V), dEmbedding = new Float64Array(V * d);
  const counted = Array.from(targets).filter((t) => t >= 0).length;
  let loss = 0;
  for (let r = 0; r < M; r++) {
    const t = targets[r];
    if (t < 0) continue;
    const hr = Array.from({ length: d }, (_, i) => h[r * d + i]);
    loss -= twoLevelLogProbs(p, hr)[t];
    const g = Array.from({ length: d }, (_, i) => {
      let s = 0;
      for (let k = 0; k < d; k++) s += p.wordProj[i * d + k] * hr[k];
      return s;
    });
    const z = wordScores(p, hr);
    let c = 0;
    while (!(Array.from({ length: p.classStart[c + 1] - p.classStart[c] }, (_, j) => p.order[p.classStart[c] + j]).includes(t))) c++;
    const members = Array.from({ length: p.classStart[c + 1] - p.classStart[c] }, (_, j) => p.order[p.classStart[c] + j]);
    const lse = logSumExp(members.map((w) => z[w]));
    for (const w of members) {
      const dz = (Math.exp(z[w] - lse) - (w === t ? 1 : 0)) / counted;
      dBias[w] += dz;
      for (let i = 0; i < d; i++) dEmbedding[w * d + i] += dz * g[i];
    }
  }
  return { loss: loss / counted, dBias, dEmbedding };
}
