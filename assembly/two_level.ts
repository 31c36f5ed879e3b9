// Kernels of the two-level (class -> word) softmax head (src/heads/two-level.ts): the word-level
// loss within the target's class (fused forward and gradient), the scatter of its gradient into
// the word biases and embedding rows, and full log-probabilities by class.
//
// The classes are ranges of frequency ranks: class c holds ranks classStart[c] .. classStart[c+1]
// and rank k is token order[k]. A word's score is z_w = g . E_w + bias_w, g the row's projected
// hidden state and E the (tied) token embedding.
import { axpy, dot } from './simd';

/**
 * Word-level loss of rows [start, end): g (M, d), emb (V, d), bias (V), targets i32 (M),
 * tokenClass i32 (V), classStart i32 (classes + 1), order i32 (V). Row r's scores of its target's
 * class go to probs + probOffset[r] floats; losses[r] = logsumexp(z) - z_target (0 for ignored
 * rows, target < 0). gradScale != 0 turns the stored scores into (softmax - onehot) * gradScale
 * and, when dg != 0, writes dg (M, d) = sum_k probs_k * E_order[k] (zero for ignored rows).
 */
export function two_level_word_loss(
  g: usize, emb: usize, bias: usize, targets: usize, tokenClass: usize, classStart: usize, order: usize,
  probOffset: usize, d: i32, probs: usize, losses: usize, dg: usize, gradScale: f32, start: i32, end: i32,
): void {
  const rowBytes = <usize>d * 4;
  for (let r = start; r < end; r++) {
    const t = load<i32>(targets + <usize>r * 4);
    const gr = g + <usize>r * rowBytes;
    const dgr = dg + <usize>r * rowBytes;
    if (t < 0) {
      store<f32>(losses + <usize>r * 4, 0);
      if (gradScale != 0 && dg != 0) memory.fill(dgr, 0, rowBytes);
      continue;
    }
    const c = load<i32>(tokenClass + <usize>t * 4);
    const k0 = load<i32>(classStart + <usize>c * 4);
    const k1 = load<i32>(classStart + <usize>(c + 1) * 4);
    const pr = probs + <usize>load<i32>(probOffset + <usize>r * 4) * 4;
    let zmax: f32 = -Infinity, zt: f32 = 0;
    for (let k = k0; k < k1; k++) {
      const w = load<i32>(order + <usize>k * 4);
      const z = dot(gr, emb + <usize>w * rowBytes, d) + load<f32>(bias + <usize>w * 4);
      store<f32>(pr + <usize>(k - k0) * 4, z);
      if (z > zmax) zmax = z;
      if (w == t) zt = z;
    }
    let sum: f32 = 0;
    for (let k = k0; k < k1; k++) sum += Mathf.exp(load<f32>(pr + <usize>(k - k0) * 4) - zmax);
    const lse = zmax + Mathf.log(sum);
    store<f32>(losses + <usize>r * 4, lse - zt);
    if (gradScale == 0) continue;
    for (let k = k0; k < k1; k++) {
      const w = load<i32>(order + <usize>k * 4);
      const p = Mathf.exp(load<f32>(pr + <usize>(k - k0) * 4) - lse);
      const coef = (w == t ? p - 1 : p) * gradScale;
      store<f32>(pr + <usize>(k - k0) * 4, coef);
      if (dg != 0) axpy(coef, emb + <usize>w * rowBytes, dgr, d, k > k0);
    }
  }
}

/**
 * The word-level gradient of the parameters, for the classes [start, end): with coef the
 * probs that two_level_word_loss wrote, dbias[w] += s * coef (dbias != 0) and
 * demb[w] += s * coef * g[r] (demb != 0) for every word w of every counted row's class.
 * Threads split classes, so two threads never add into one word.
 */
export function two_level_word_grad(
  g: usize, targets: usize, tokenClass: usize, classStart: usize, order: usize, probOffset: usize,
  probs: usize, M: i32, d: i32, s: f32, dbias: usize, demb: usize, start: i32, end: i32,
): void {
  const rowBytes = <usize>d * 4;
  for (let r = 0; r < M; r++) {
    const t = load<i32>(targets + <usize>r * 4);
    if (t < 0) continue;
    const c = load<i32>(tokenClass + <usize>t * 4);
    if (c < start || c >= end) continue;
    const k0 = load<i32>(classStart + <usize>c * 4);
    const k1 = load<i32>(classStart + <usize>(c + 1) * 4);
    const pr = probs + <usize>load<i32>(probOffset + <usize>r * 4) * 4;
    for (let k = k0; k < k1; k++) {
      const w = load<i32>(order + <usize>k * 4);
      const coef = s * load<f32>(pr + <usize>(k - k0) * 4);
      if (dbias != 0) store<f32>(dbias + <usize>w * 4, load<f32>(dbias + <usize>w * 4) + coef);
      if (demb != 0) axpy(coef, g + <usize>r * rowBytes, demb + <usize>w * rowBytes, d, true);
    }
  }
}

/**
 * Log-probabilities of every token for rows [start, end), in place: scores (M, V) holds each
 * word's z (by token id) and becomes log p(class) + z - logsumexp of z over the word's class;
 * classLogProbs (M, classes) is log p(class | row).
 */
export function two_level_log_probs(
  scores: usize, classLogProbs: usize, classStart: usize, order: usize, classes: i32, V: i32, start: i32, end: i32,
): void {
  for (let r = start; r < end; r++) {
    const sr = scores + <usize>r * <usize>V * 4;
    const cr = classLogProbs + <usize>r * <usize>classes * 4;
    for (let c = 0; c < classes; c++) {
      const k0 = load<i32>(classStart + <usize>c * 4);
      const k1 = load<i32>(classStart + <usize>(c + 1) * 4);
      let zmax: f32 = -Infinity;
      for (let k = k0; k < k1; k++) zmax = max<f32>(zmax, load<f32>(sr + <usize>load<i32>(order + <usize>k * 4) * 4));
      let sum: f32 = 0;
      for (let k = k0; k < k1; k++) sum += Mathf.exp(load<f32>(sr + <usize>load<i32>(order + <usize>k * 4) * 4) - zmax);
      const shift = load<f32>(cr + <usize>c * 4) - zmax - Mathf.log(sum);
      for (let k = k0; k < k1; k++) {
        const p = sr + <usize>load<i32>(order + <usize>k * 4) * 4;
        store<f32>(p, load<f32>(p) + shift);
      }
    }
  }
}
