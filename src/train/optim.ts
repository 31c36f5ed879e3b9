// Optimizers: SGD, AdamW, Muon / NorMuon for 2-D matrices, and MuonWithAdamW that routes each
// parameter to one of them; plus global gradient-norm clipping. Every buffer an optimizer needs
// (state and scratch) is allocated at construction, so a step allocates nothing, and state
// buffers are exposed through stateTensors() so a checkpoint can restore them in place.
import { gradOf } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import type { NamedParam } from '../nn/module.js';
import { normuonRows } from '../core/kernels.js';

export interface Optimizer {
  /** Update every parameter that received a gradient this step, with learning rate lr. */
  step(lr: number): void;
  /** Every buffer bit-exact resume needs, by stable name (restored in place before stepping). */
  stateTensors(): { name: string; tensor: Tensor }[];
  /** Steps taken so far (bias corrections use it); set it when resuming. */
  stepCount: number;
  /** Free the optimizer's buffers. */
  dispose(): void;
}

/** A zeroed f32 buffer that outlives any scope (optimizer state). */
function stateBuffer(shape: readonly number[]): Tensor {
  return Tensor.zeros(shape).keep();
}

// ---------------------------------------------------------------- SGD

export interface SGDOptions {
  /** Heavy-ball momentum (default 0: plain SGD, no state). */
  momentum?: number;
  /** Decoupled weight decay on params with info.decay (default 0). */
  weightDecay?: number;
}

/** SGD with heavy-ball momentum: buf = mu buf + g; p -= lr buf (p -= lr g when mu = 0). */
export class SGD implements Optimizer {
  stepCount = 0;
  private readonly momentum: number;
  private readonly weightDecay: number;
  private readonly bufs: (Tensor | null)[];

  constructor(private readonly params: NamedParam[], opts: SGDOptions = {}) {
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.bufs = params.map((p) => (this.momentum !== 0 ? stateBuffer(p.tensor.shape) : null));
  }

  step(lr: number): void {
    this.stepCount++;
    this.params.forEach((p, i) => {
      const g = gradOf(p.tensor);
      if (!g) return;
      const t = p.tensor;
      if (p.info.decay && this.weightDecay !== 0) K.scale(t.ptr, 1 - lr * this.weightDecay, t.ptr, t.size, false);
      const buf = this.bufs[i];
      if (buf) {
        K.scale(buf.ptr, this.momentum, buf.ptr, buf.size, false);
        K.scale(g.ptr, 1, buf.ptr, buf.size, true);
        K.scale(buf.ptr, -lr, t.ptr, t.size, true);
      } else {
        K.scale(g.ptr, -lr, t.ptr, t.size, true);
      }
    });
  }

  stateTensors(): { name: string; tensor: Tensor }[] {
    return this.params.flatMap((p, i) => (this.bufs[i] ? [{ name: `${p.name}.sgd_momentum`, tensor: this.bufs[i]! }] : []));
  }

  dispose(): void {
    for (const b of this.bufs) b?.dispose();
  }
}

// ---------------------------------------------------------------- AdamW

export interface AdamWOptions {
  /** default 0.9 */
  beta1?: number;
  /** default 0.95 */
  beta2?: number;
  /** default 1e-8 */
  eps?: number;
  /** Decoupled weight decay, applied only to params whose info.decay is true (default 0.1). */
  weightDecay?: number;
}

/**
 * AdamW (Loshchilov & Hutter): m, v moments with bias correction by the global step count;
 * p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p). State: two buffers per parameter.
 */
export class AdamW implements Optimizer {
  stepCount = 0;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m: Tensor[];
  private readonly v: Tensor[];

  constructor(private readonly params: NamedParam[], opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.95;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.1;
    this.m = params.map((p) => stateBuffer(p.tensor.shape));
    this.v = params.map((p) => stateBuffer(p.tensor.shape));
  }

  step(lr: number): void {
    this.stepCount++;
    this.params.forEach((p, i) => {
      const g = gradOf(p.tensor);
      if (!g) return;
      K.adamwUpdate(p.tensor.ptr, g.ptr, this.m[i].ptr, this.v[i].ptr, p.tensor.size, {
        lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps,
        weightDecay: p.info.decay ? this.weightDecay : 0, step: this.stepCount,
      });
    });
  }

  stateTensors(): { name: string; tensor: Tensor }[] {
    return this.params.flatMap((p, i) => [
      { name: `${p.name}.adam_m`, tensor: this.m[i] },
      { name: `${p.name}.adam_v`, tensor: this.v[i] },
    ]);
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}

// ---------------------------------------------------------------- Muon / NorMuon

/** Quintic Newton-Schulz coefficients (Keller Jordan's Muon): fast rather than exact convergence. */
export const NS_COEFFS = [3.4445, -4.775, 2.0315] as const;

/** Scratch for orthogonalising matrices of up to `maxSize` elements with smaller side <= maxSide. */
export class NewtonSchulzScratch {
  readonly x: [Tensor, Tensor];
  readonly gram: Tensor;
  readonly poly: Tensor;

  constructor(maxSize: number, maxSide: number) {
    this.x = [stateBuffer([maxSize]), stateBuffer([maxSize])];
    this.gram = stateBuffer([maxSide * maxSide]);
    this.poly = stateBuffer([maxSide * maxSide]);
  }

  dispose(): void {
    for (const t of [...this.x, this.gram, this.poly]) t.dispose();
  }
}

/**
 * Approximate the orthogonal polar factor U V^T of X (rows x cols) held in scratch.x[0]:
 * normalise by the Frobenius norm (so every singular value is <= 1), then `steps` iterations of
 * X <- a X + (b A + c A^2) X with A = X X^T. When rows > cols the same iteration runs on the
 * Gram matrix of the other side, X <- a X + X (b A + c A^2) with A = X^T X — the transposed
 * iteration, without materialising the transpose — so A is always min(rows, cols) square.
 * Returns the scratch buffer holding the result. Singular values land near 1, not on it (about
 * 0.68..1.13 after 5 steps: the quintic trades exactness for speed).
 */
export function newtonSchulz(s: NewtonSchulzScratch, rows: number, cols: number, steps = 5): Tensor {
  const n = rows * cols;
  const [a, b, c] = NS_COEFFS;
  let cur = s.x[0], nxt = s.x[1];
  const norm = Math.sqrt(K.reduce('sumsq', cur.ptr, n));
  K.scale(cur.ptr, 1 / (norm + 1e-7), cur.ptr, n, false);
  const wide = rows <= cols;
  const side = wide ? rows : cols;
  const A = s.gram.ptr, B = s.poly.ptr, ss = side * side;
  for (let it = 0; it < steps; it++) {
    if (wide) K.matmul(rows, rows, cols, cur.ptr, false, cur.ptr, true, A, false); // A = X X^T
    else K.matmul(cols, cols, rows, cur.ptr, true, cur.ptr, false, A, false); // A = X^T X
    K.matmul(side, side, side, A, false, A, false, B, false); // B = A A
    K.scale(B, c, B, ss, false);
    K.scale(A, b, B, ss, true); // B = b A + c A^2
    if (wide) K.matmul(rows, cols, rows, B, false, cur.ptr, false, nxt.ptr, false); // B X
    else K.matmul(rows, cols, cols, cur.ptr, false, B, false, nxt.ptr, false); // X B
    K.scale(cur.ptr, a, nxt.ptr, n, true);
    [cur, nxt] = [nxt, cur];
  }
  return cur;
}

export interface MuonOptions {
  /** Momentum coefficient (default 0.95). */
  momentum?: number;
  /** Nesterov momentum: orthogonalise g + momentum * buf instead of buf (default true). */
  nesterov?: boolean;
  /** Newton-Schulz iterations (default 5). */
  nsSteps?: number;
  /** Decoupled weight decay on matrices with info.decay (default 0). */
  weightDecay?: number;
  /**
   * Update scale: 'shape' (default) multiplies the orthogonalised update by
   * sqrt(max(1, rows / cols)) (Keller Jordan's Muon; pair with lr ~0.02); 'rms' by
   * 0.2 * sqrt(max(rows, cols)), which gives the update the RMS of a typical AdamW update so
   * AdamW's lr and weight decay carry over (Moonshot's Muon).
   */
  scaling?: 'shape' | 'rms';
  /** NorMuon: normalise each row of the orthogonalised update by its running RMS (default false). */
  normuon?: boolean;
  /** NorMuon second-moment decay (default 0.95). */
  beta2?: number;
  /** NorMuon epsilon (default 1e-8). */
  eps?: number;
}

/**
 * Muon (MomentUm Orthogonalized by Newton-Schulz) for 2-D matrices (rows, cols):
 * buf = mu buf + g; u = g + mu buf (Nesterov); O = NS5(u); W -= lr * (scale * O + wd * W).
 * NorMuon (Li et al. 2025) then divides row r of O by sqrt(v_r), v_r a running mean of the row's
 * mean square (beta2, bias-corrected), and rescales O back to its Frobenius norm before
 * scaling — the row normalisation moves magnitude between rows without changing the step size.
 */
export class Muon implements Optimizer {
  stepCount = 0;
  private readonly momentum: number;
  private readonly nesterov: boolean;
  private readonly nsSteps: number;
  private readonly weightDecay: number;
  private readonly scaling: 'shape' | 'rms';
  private readonly normuon: boolean;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly bufs: Tensor[];
  private readonly rowMoments: Tensor[];
  private readonly scratch: NewtonSchulzScratch;

  constructor(private readonly params: NamedParam[], opts: MuonOptions = {}) {
    for (const p of params) {
      if (p.tensor.shape.length !== 2) {
        throw new Error(`Muon only updates 2-D matrices; ${p.name} has shape [${p.tensor.shape.join(', ')}] — route it to AdamW`);
      }
    }
    this.momentum = opts.momentum ?? 0.95;
    this.nesterov = opts.nesterov ?? true;
    this.nsSteps = opts.nsSteps ?? 5;
    this.weightDecay = opts.weightDecay ?? 0;
    this.scaling = opts.scaling ?? 'shape';
    this.normuon = opts.normuon ?? false;
    this.beta2 = opts.beta2 ?? 0.95;
    this.eps = opts.eps ?? 1e-8;
    this.bufs = params.map((p) => stateBuffer(p.tensor.shape));
    this.rowMoments = this.normuon ? params.map((p) => stateBuffer([p.tensor.shape[0]])) : [];
    let maxSize = 1, maxSide = 1;
    for (const p of params) {
      maxSize = Math.max(maxSize, p.tensor.size);
      maxSide = Math.max(maxSide, Math.min(p.tensor.shape[0], p.tensor.shape[1]));
    }
    this.scratch = new NewtonSchulzScratch(maxSize, maxSide);
  }

  step(lr: number): void {
    this.stepCount++;
    this.params.forEach((p, i) => {
      const g = gradOf(p.tensor);
      if (g) this.update(p, i, g, lr);
    });
  }

  private update(p: NamedParam, i: number, g: Tensor, lr: number): void {
    const W = p.tensor;
    const [rows, cols] = W.shape;
    const n = W.size;
    const buf = this.bufs[i];
    K.scale(buf.ptr, this.momentum, buf.ptr, n, false);
    K.scale(g.ptr, 1, buf.ptr, n, true); // buf = mu buf + g
    const u = this.scratch.x[0];
    if (this.nesterov) {
      K.scale(g.ptr, 1, u.ptr, n, false);
      K.scale(buf.ptr, this.momentum, u.ptr, n, true); // u = g + mu buf
    } else {
      K.scale(buf.ptr, 1, u.ptr, n, false);
    }
    const O = newtonSchulz(this.scratch, rows, cols, this.nsSteps);
    let s = this.scaling === 'shape' ? Math.sqrt(Math.max(1, rows / cols)) : 0.2 * Math.sqrt(Math.max(rows, cols));
    if (this.normuon) {
      const before = K.reduce('sumsq', O.ptr, n);
      normuonRows(O.ptr, this.rowMoments[i].ptr, rows, cols, this.beta2, this.stepCount, this.eps);
      const after = K.reduce('sumsq', O.ptr, n);
      if (after > 0) s *= Math.sqrt(before / after);
    }
    if (p.info.decay && this.weightDecay !== 0) K.scale(W.ptr, 1 - lr * this.weightDecay, W.ptr, n, false);
    K.scale(O.ptr, -lr * s, W.ptr, n, true);
  }

  stateTensors(): { name: string; tensor: Tensor }[] {
    return this.params.flatMap((p, i) => [
      { name: `${p.name}.muon_momentum`, tensor: this.bufs[i] },
      ...(this.normuon ? [{ name: `${p.name}.normuon_v`, tensor: this.rowMoments[i] }] : []),
    ]);
  }

  dispose(): void {
    for (const t of [...this.bufs, ...this.rowMoments]) t.dispose();
    this.scratch.dispose();
  }
}

// ---------------------------------------------------------------- Muon + AdamW

export interface MuonWithAdamWOptions {
  muon?: MuonOptions;
  adamw?: AdamWOptions;
  /** Muon's lr = lr * muonLrScale (e.g. 0.02 / 3e-3 with 'shape' scaling; default 1). */
  muonLrScale?: number;
  /** AdamW's lr = lr * adamwLrScale (default 1). */
  adamwLrScale?: number;
  /**
   * Which parameters Muon takes (default: info.matrix, i.e. the hidden 2-D weights; embeddings,
   * norms, biases and heads' output matrices register matrix: false and go to AdamW).
   */
  useMuon?: (p: NamedParam) => boolean;
}

/** Muon for the hidden matrices, AdamW for everything else, stepped together. */
export class MuonWithAdamW implements Optimizer {
  readonly muon: Muon;
  readonly adamw: AdamW;
  private readonly muonLrScale: number;
  private readonly adamwLrScale: number;

  constructor(params: NamedParam[], opts: MuonWithAdamWOptions = {}) {
    const useMuon = opts.useMuon ?? ((p: NamedParam) => p.info.matrix && p.tensor.shape.length === 2);
    this.muon = new Muon(params.filter(useMuon), opts.muon);
    this.adamw = new AdamW(params.filter((p) => !useMuon(p)), opts.adamw);
    this.muonLrScale = opts.muonLrScale ?? 1;
    this.adamwLrScale = opts.adamwLrScale ?? 1;
  }

  get stepCount(): number {
    return this.adamw.stepCount;
  }

  set stepCount(n: number) {
    this.adamw.stepCount = n;
    this.muon.stepCount = n;
  }

  step(lr: number): void {
    this.muon.step(lr * this.muonLrScale);
    this.adamw.step(lr * this.adamwLrScale);
  }

  stateTensors(): { name: string; tensor: Tensor }[] {
    return [...this.muon.stateTensors(), ...this.adamw.stateTensors()];
  }

  dispose(): void {
    this.muon.dispose();
    this.adamw.dispose();
  }
}

// ---------------------------------------------------------------- clipping

/**
 * Scale all gradients so their global L2 norm is at most maxNorm; returns the norm before
 * clipping. A non-finite norm is returned unchanged and nothing is scaled (the caller decides
 * whether to skip the step). Parameters without a gradient this step are left out.
 */
export function clipGradNorm(params: Iterable<Tensor | NamedParam>, maxNorm: number): number {
  const grads: Tensor[] = [];
  for (const p of params) {
    const g = gradOf(p instanceof Tensor ? p : p.tensor);
    if (g) grads.push(g);
  }
  let sumsq = 0;
  for (const g of grads) sumsq += K.reduce('sumsq', g.ptr, g.size);
  const norm = Math.sqrt(sumsq);
  if (Number.isFinite(norm) && maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const g of grads) K.scale(g.ptr, s, g.ptr, g.size, false);
  }
  return norm;
}
