// Kernels of the output heads: the hierarchical-softmax loss (fused forward and gradient), its
// node-vector gradient scatter, full log-probabilities by a top-down tree walk, and a column
// scatter that places per-cluster log-probabilities at their vocabulary positions.
import { axpy, dot } from './simd';

/** softplus(x) = log(1 + e^x), without overflow for large |x|. */
// @ts-ignore: decorator
@inline function softplus(x: f32): f32 {
  return max<f32>(x, 0) + Mathf.log1p(Mathf.exp(-Mathf.abs(x)));
}

/** sigmoid(x) = 1 / (1 + e^-x), without overflow for large |x|. */
// @ts-ignore: decorator
@inline function sigmoid(x: f32): f32 {
  if (x >= 0) return 1 / (1 + Mathf.exp(-x));
  const e = Mathf.exp(x);
  return e / (1 + e);
}


/**
 * Hierarchical-softmax loss of rows [start, end): h (M, d), nodes (V-1, d), targets i32 (M).
 * Token t's path is the CSR slice pathStart[t] .. pathStart[t+1] of pathNode (i32, inner node
 * ids, root first) and pathSign (f32, +1 where the path turns right: p = sigmoid(+h.v)).
 * losses[r] = sum over the path of softplus(-sign * h.v) (0 for ignored rows, target < 0).
 * gradScale != 0 also writes coef (M, L): d loss / d (h.v) of each path step times gradScale,
 * and dh (M, d) = sum_j coef[r, j] * v_node(j) (zero for ignored rows); dh may be 0 (not needed).
 */
export function hsm_loss(
  h: usize, nodes: usize, targets: usize, pathStart: usize, pathNode: usize, pathSign: usize,
  d: i32, L: i32, losses: usize, coef: usize, dh: usize, gradScale: f32, start: i32, end: i32,
): void {
  const rowBytes = <usize>d * 4;
  for (let r = start; r < end; r++) {
    const t = load<i32>(targets + <usize>r * 4);
    const hr = h + <usize>r * rowBytes;
    const dhr = dh + <usize>r * rowBytes;
    if (t < 0) {
      store<f32>(losses + <usize>r * 4, 0);
      if (gradScale != 0 && dh != 0) memory.fill(dhr, 0, rowBytes);
      continue;
    }
    const p0 = load<i32>(pathStart + <usize>t * 4);
    const p1 = load<i32>(pathStart + <usize>(t + 1) * 4);
    let loss: f32 = 0;
    for (let j = p0; j < p1; j++) {
      const v = nodes + <usize>load<i32>(pathNode + <usize>j * 4) * rowBytes;
      const sign = load<f32>(pathSign + <usize>j * 4);
      const z = sign * dot(hr, v, d);
      loss += softplus(-z);
      if (gradScale != 0) {
        // d softplus(-sign * x) / dx = -sign * sigmoid(-sign * x)
        const g = -sign * sigmoid(-z) * gradScale;
        store<f32>(coef + (<usize>r * <usize>L + <usize>(j - p0)) * 4, g);
        if (dh != 0) axpy(g, v, dhr, d, j > p0);
      }
    }
    if (gradScale != 0 && dh != 0 && p1 == p0) memory.fill(dhr, 0, rowBytes);
    store<f32>(losses + <usize>r * 4, loss);
  }
}

/**
 * dnodes[node] += s * coef[r, j] * h[r] for every path step j of every counted row r, over the
 * columns [start, end) of d: threads split columns, so two threads never add into one address
 * even when rows share nodes (every row shares the root).
 */
export function hsm_node_grad(
  h: usize, targets: usize, pathStart: usize, pathNode: usize, coef: usize, M: i32, d: i32, L: i32,
  s: f32, dnodes: usize, start: i32, end: i32,
): void {
  const rowBytes = <usize>d * 4;
  const off = <usize>start * 4;
  const n = end - start;
  for (let r = 0; r < M; r++) {
    const t = load<i32>(targets + <usize>r * 4);
    if (t < 0) continue;
    const hr = h + <usize>r * rowBytes + off;
    const p0 = load<i32>(pathStart + <usize>t * 4);
    const p1 = load<i32>(pathStart + <usize>(t + 1) * 4);
    for (let j = p0; j < p1; j++) {
      const c = s * load<f32>(coef + (<usize>r * <usize>L + <usize>(j - p0)) * 4);
      const dst = dnodes + <usize>load<i32>(pathNode + <usize>j * 4) * rowBytes + off;
      axpy(c, hr, dst, n, true);
    }
  }
}

/**
 * Log-probabilities of every token for rows [start, end): scores (M, V-1) = h . nodes^T, tree
 * children left/right (V-1, i32: >= 0 an inner node, < 0 the leaf of token -c-1; parents have
 * smaller ids than their children, root 0) -> out (M, V). One pass down the tree per row:
 * log p(child) = log p(node) + log sigmoid(+-score). scratch: nInner floats per thread.
 */
export function hsm_log_probs(
  scores: usize, left: usize, right: usize, nInner: i32, V: i32, out: usize, scratch: usize,
  start: i32, end: i32, tid: i32,
): void {
  const lp = scratch + <usize>tid * <usize>nInner * 4;
  for (let r = start; r < end; r++) {
    const sr = scores + <usize>r * <usize>nInner * 4;
    const orow = out + <usize>r * <usize>V * 4;
    store<f32>(lp, 0);
    for (let n = 0; n < nInner; n++) {
      const base = load<f32>(lp + <usize>n * 4);
      const x = load<f32>(sr + <usize>n * 4);
      const toLeft = base - softplus(x); // log sigmoid(-x)
      const toRight = toLeft + x; // log sigmoid(x) = log sigmoid(-x) + x
      const cl = load<i32>(left + <usize>n * 4);
      const cr = load<i32>(right + <usize>n * 4);
      if (cl >= 0) store<f32>(lp + <usize>cl * 4, toLeft);
      else store<f32>(orow + <usize>(-cl - 1) * 4, toLeft);
      if (cr >= 0) store<f32>(lp + <usize>cr * 4, toRight);
      else store<f32>(orow + <usize>(-cr - 1) * 4, toRight);
    }
  }
}

/**
 * For rows [start, end): dst[r, idx[k]] = src[r, k] + bias[r] for k < n, where bias[r] is the
 * float at bias + r*ldBias (bias 0: none). Row strides ldSrc, ldDst in floats.
 */
export function scatter_cols(
  src: usize, ldSrc: i32, n: i32, idx: usize, bias: usize, ldBias: i32, dst: usize, ldDst: i32,
  start: i32, end: i32,
): void {
  for (let r = start; r < end; r++) {
    const b: f32 = bias != 0 ? load<f32>(bias + <usize>r * <usize>ldBias * 4) : 0;
    const s = src + <usize>r * <usize>ldSrc * 4;
    const dr = dst + <usize>r * <usize>ldDst * 4;
    for (let k = 0; k < n; k++) {
      store<f32>(dr + <usize>load<i32>(idx + <usize>k * 4) * 4, load<f32>(s + <usize>k * 4) + b);
    }
  }
}

/**
 * Multi-label binary cross-entropy with logits, rows [start, end) of z (N, V): row r's positive
 * labels are the distinct non-negative ids among labels[r, 0..L) (a set: a repeated id counts
 * once), every other token is a negative. losses[r] = sum over v of
 *   posWeight * softplus(-z) (positives)  or  softplus(z) (negatives)
 * (= -[pw y log σ(z) + (1 - y) log(1 - σ(z))]). dz != 0 also writes dz (N, V) = gradScale * the
 * derivative: posWeight * (σ(z) - 1) at positives, σ(z) at negatives.
 */
export function multilabel_bce(
  z: usize, labels: usize, V: i32, L: i32, posWeight: f32, losses: usize, dz: usize, gradScale: f32, start: i32, end: i32,
): void {
  const rowBytes = <usize>V * 4;
  for (let r = start; r < end; r++) {
    const zr = z + <usize>r * rowBytes, dzr = dz + <usize>r * rowBytes;
    const lr = labels + <usize>r * <usize>L * 4;
    let loss: f32 = 0;
    for (let v = 0; v < V; v++) {
      const x = load<f32>(zr + <usize>v * 4);
      loss += softplus(x);
      if (dz != 0) store<f32>(dzr + <usize>v * 4, gradScale * sigmoid(x));
    }
    // Turn each distinct label from a negative into a positive.
    for (let j = 0; j < L; j++) {
      const id = load<i32>(lr + <usize>j * 4);
      if (id < 0) continue;
      let seen = false;
      for (let i = 0; i < j; i++) if (load<i32>(lr + <usize>i * 4) == id) { seen = true; break; }
      if (seen) continue;
      const x = load<f32>(zr + <usize>id * 4);
      loss += posWeight * softplus(-x) - softplus(x);
      if (dz != 0) store<f32>(dzr + <usize>id * 4, gradScale * posWeight * (sigmoid(x) - 1));
    }
    store<f32>(losses + <usize>r * 4, loss);
  }
}
