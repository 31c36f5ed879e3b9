// Fused output head + cross-entropy: logits are computed, turned into their gradient and
// consumed one chunk of rows at a time, so the full (rows x V) logits never exist at once; and the
// multi-label binary cross-entropy of future-set prediction (src/train/fsp.ts).
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import * as HK from '../core/kernels-heads.js';
import { Tensor } from '../core/tensor.js';

/** Floats of logits held at once (16 MiB). */
const LOGIT_BUDGET = 1 << 22;

/**
 * Check next-token targets (int32, M of them, each < V; negative = ignored) and return how many
 * count. Every loss head starts with this.
 */
export function countTargets(targets: Tensor, M: number, V: number, what: string): number {
  if (targets.dtype !== 'i32' || targets.size !== M) throw new Error(`${what}: need ${M} int32 targets, got ${targets.size} ${targets.dtype}`);
  const tv = targets.typed();
  let counted = 0;
  for (let i = 0; i < M; i++) {
    if (tv[i] >= V) throw new Error(`target id ${tv[i]} is outside the vocabulary (0..${V - 1})`);
    if (tv[i] >= 0) counted++;
  }
  return counted;
}

/**
 * The loss of a batch whose targets are all ignored: 0, with a backward step that writes an
 * all-zero gradient into each input that needs one (adds nothing when it accumulates). Heads
 * return it instead of dividing by zero counted targets, so the model behind them gets a zero
 * gradient, never an unwritten or uninitialised one.
 */
export function ignoredBatchLoss(...inputs: Tensor[]): Tensor {
  const loss = Tensor.from([0], [1]);
  if (needsGrad(...inputs)) {
    record(loss, () => {
      for (const t of inputs) gradInto(t, (g, accumulate) => {
        if (!accumulate) K.fill(g.ptr, g.size, 0);
      });
    });
  }
  return loss;
}

/**
 * Mean cross-entropy of softmax(h . W^T) against targets: h (M, d), W (V, d), targets int32 (M),
 * negative targets ignored. Returns a one-element tensor (nats per counted token).
 * When gradients are needed they are computed in the same pass over the chunks.
 */
export function linearCrossEntropy(h: Tensor, W: Tensor, targets: Tensor, logitBudget = LOGIT_BUDGET): Tensor {
  const [V, d] = W.shape;
  const M = h.size / d;
  if (h.shape[h.shape.length - 1] !== d) throw new Error(`linearCrossEntropy: h [${h.shape.join(', ')}] does not end in ${d}`);
  const counted = countTargets(targets, M, V, 'linearCrossEntropy');
  if (counted === 0) return ignoredBatchLoss(h, W);
  const grad = needsGrad(h, W);
  const dh = grad && h.requiresGrad ? Tensor.empty([M, d]) : null;
  const dW = grad && W.requiresGrad ? Tensor.empty([V, d]) : null;
  const losses = chunkedCrossEntropy(h, W, targets, logitBudget, grad ? { scale: 1 / counted, dh, dW } : null);
  const total = K.reduce('sum', losses.ptr, M);
  losses.dispose();
  const loss = Tensor.from([total / counted], [1]);
  if (grad) {
    record(loss, (gl) => {
      const g = gl.item();
      if (dh) gradInto(h, (gh, acc) => K.scale(dh.ptr, g, gh.ptr, dh.size, acc));
      if (dW) gradInto(W, (gw, acc) => K.scale(dW.ptr, g, gw.ptr, dW.size, acc));
    });
  }
  return loss;
}

/**
 * -log softmax(h . W^T)[target] of each row in nats (0 where the target is negative), without
 * gradients: h (M, d), W (V, d), targets int32 (M).
 */
export function linearCrossEntropyRows(h: Tensor, W: Tensor, targets: Tensor, logitBudget = LOGIT_BUDGET): Float32Array {
  const [V, d] = W.shape;
  const M = h.size / d;
  countTargets(targets, M, V, 'linearCrossEntropyRows');
  const losses = chunkedCrossEntropy(h, W, targets, logitBudget, null);
  const out = Float32Array.from(losses.f32());
  losses.dispose();
  return out;
}

/**
 * The per-row losses (M) of softmax(h . W^T) against targets, one chunk of rows of logits at a
 * time; with `grad`, each chunk's logits become their gradient (times grad.scale) and are
 * multiplied into dh and dW before the next chunk overwrites them.
 */
function chunkedCrossEntropy(
  h: Tensor, W: Tensor, targets: Tensor, logitBudget: number,
  grad: { scale: number; dh: Tensor | null; dW: Tensor | null } | null,
): Tensor {
  const [V, d] = W.shape;
  const M = h.size / d;
  const chunk = Math.max(1, Math.min(M, Math.floor(logitBudget / V)));
  const logits = Tensor.empty([chunk, V]);
  const losses = Tensor.empty([M]);
  for (let r0 = 0; r0 < M; r0 += chunk) {
    const rows = Math.min(chunk, M - r0);
    const hc = h.ptr + r0 * d * 4;
    K.matmul(rows, V, d, hc, false, W.ptr, true, logits.ptr, false);
    K.crossEntropyForward(logits.ptr, rows, V, targets.ptr + r0 * 4, losses.ptr + r0 * 4, grad?.scale ?? 0);
    if (grad?.dh) K.matmul(rows, d, V, logits.ptr, false, W.ptr, false, grad.dh.ptr + r0 * d * 4, false);
    if (grad?.dW) K.matmul(V, d, rows, logits.ptr, true, hc, false, grad.dW.ptr, r0 > 0);
  }
  logits.dispose();
  return losses;
}

/**
 * Multi-label binary cross-entropy with logits and a weight on the positive term, the mean over
 * rows and vocabulary: z (N, V) logits, labels int32 (N, L) whose distinct non-negative ids are
 * each row's positives (a repeated id counts once; negative ids are padding):
 *   loss = mean over (r, v) of -[posWeight y log σ(z) + (1 - y) log(1 - σ(z))],  y = [v in labels[r]].
 * The gradient of the logits is written in the same pass when needed. Returns a one-element tensor.
 */
export function multilabelBce(z: Tensor, labels: Tensor, posWeight: number): Tensor {
  if (z.shape.length !== 2) throw new Error(`multilabelBce: logits must be (N, V), got [${z.shape.join(', ')}]`);
  const [N, V] = z.shape;
  if (labels.dtype !== 'i32' || labels.shape.length !== 2 || labels.shape[0] !== N) {
    throw new Error(`multilabelBce: labels must be int32 (${N}, L), got ${labels.dtype} [${labels.shape.join(', ')}]`);
  }
  const L = labels.shape[1];
  const lv = labels.typed();
  for (let i = 0; i < lv.length; i++) if (lv[i] >= V) throw new Error(`multilabelBce: label ${lv[i]} is outside the vocabulary (0..${V - 1})`);
  const count = N * V;
  const dz = needsGrad(z) ? Tensor.empty([N, V]) : null;
  const losses = Tensor.empty([N]);
  HK.multilabelBce(z.ptr, labels.ptr, N, V, L, posWeight, losses.ptr, dz ? dz.ptr : 0, 1 / count);
  const total = K.reduce('sum', losses.ptr, N);
  losses.dispose();
  const loss = Tensor.from([total / count], [1]);
  if (dz) record(loss, (gl) => gradInto(z, (gz, acc) => K.scale(dz.ptr, gl.item(), gz.ptr, dz.size, acc)));
  return loss;
}
