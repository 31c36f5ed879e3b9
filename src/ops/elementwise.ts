// Elementwise ops, reshapes and whole-tensor reductions.
import { gradInto, needsGrad, record } from '../core/autograd.js';
import * as K from '../core/kernels.js';
import { Tensor, numel } from '../core/tensor.js';

function sameShape(a: Tensor, b: Tensor, what: string): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`${what}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] differ`);
  }
}

/** b must have a's shape, or be one row (a's last axis) broadcast over a's rows. */
function broadcastLength(a: Tensor, b: Tensor, what: string): number {
  const last = a.shape[a.shape.length - 1];
  // One row of a (a single token) and the row b: the broadcast is the identity.
  const oneRow = b.shape.length === 1 && b.size === last;
  if (b.size === a.size && !oneRow) {
    sameShape(a, b, what);
    return a.size;
  }
  if (b.size !== last) throw new Error(`${what}: [${b.shape.join(', ')}] neither matches nor broadcasts over [${a.shape.join(', ')}]`);
  return last;
}

/** Gradient of a broadcast operand: sum the full-size gradient `g` over rows into b's grad. */
function reduceInto(b: Tensor, g: number, rows: number, bn: number, s: number): void {
  gradInto(b, (gb, acc) => K.colSum(g, rows, bn, s, gb.ptr, acc));
}

/** a + b (b same shape, or a row broadcast over a's last axis). */
export function add(a: Tensor, b: Tensor): Tensor {
  return addSub(a, b, 'add');
}

/** a - b (b same shape, or a row broadcast over a's last axis). */
export function sub(a: Tensor, b: Tensor): Tensor {
  return addSub(a, b, 'sub');
}

function addSub(a: Tensor, b: Tensor, op: 'add' | 'sub'): Tensor {
  const bn = broadcastLength(a, b, op);
  const y = Tensor.empty(a.shape);
  K.binaryForward(op, a.ptr, b.ptr, bn, y.ptr, a.size);
  if (needsGrad(a, b)) {
    record(y, (gy) => {
      gradInto(a, (ga, acc) => K.scale(gy.ptr, 1, ga.ptr, a.size, acc));
      const s = op === 'add' ? 1 : -1;
      if (bn === a.size) gradInto(b, (gb, acc) => K.scale(gy.ptr, s, gb.ptr, b.size, acc));
      else reduceInto(b, gy.ptr, a.size / bn, bn, s);
    });
  }
  return y;
}

/** a * b elementwise (b same shape, or a row broadcast over a's last axis). */
export function mul(a: Tensor, b: Tensor): Tensor {
  const bn = broadcastLength(a, b, 'mul');
  const y = Tensor.empty(a.shape);
  K.binaryForward('mul', a.ptr, b.ptr, bn, y.ptr, a.size);
  if (needsGrad(a, b)) {
    record(y, (gy) => {
      gradInto(a, (ga, acc) => K.mulScaled(gy.ptr, b.ptr, bn, 1, ga.ptr, a.size, acc));
      if (!b.requiresGrad) return;
      if (bn === a.size) {
        gradInto(b, (gb, acc) => K.mulScaled(gy.ptr, a.ptr, a.size, 1, gb.ptr, a.size, acc));
      } else {
        const prod = Tensor.empty(a.shape);
        K.binaryForward('mul', gy.ptr, a.ptr, a.size, prod.ptr, a.size);
        reduceInto(b, prod.ptr, a.size / bn, bn, 1);
        prod.dispose();
      }
    });
  }
  return y;
}

/**
 * Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).
 * The mask is a hash of (element index, seed): the same seed gives the same mask, and the
 * backward pass rebuilds it rather than storing it.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const y = Tensor.empty(x.shape);
  K.dropout(x.ptr, y.ptr, x.size, p, seed, false);
  if (needsGrad(x)) record(y, (gy) => gradInto(x, (gx, acc) => K.dropout(gy.ptr, gx.ptr, x.size, p, seed, acc)));
  return y;
}

/** s * x for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  const y = Tensor.empty(x.shape);
  K.scale(x.ptr, s, y.ptr, x.size, false);
  if (needsGrad(x)) record(y, (gy) => gradInto(x, (gx, acc) => K.scale(gy.ptr, s, gx.ptr, x.size, acc)));
  return y;
}

function unary(op: K.UnaryOp, x: Tensor): Tensor {
  const y = Tensor.empty(x.shape);
  K.unaryForward(op, x.ptr, y.ptr, x.size);
  if (needsGrad(x)) record(y, (gy) => gradInto(x, (gx, acc) => K.unaryBackward(op, x.ptr, y.ptr, gy.ptr, gx.ptr, x.size, acc)));
  return y;
}

export const relu = (x: Tensor): Tensor => unary('relu', x);
/** relu(x)^2, the channel-mixer activation of FlashLM and Primer. */
export const relu2 = (x: Tensor): Tensor => unary('relu2', x);
export const silu = (x: Tensor): Tensor => unary('silu', x);
/** GELU, tanh approximation (as GPT-2). */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
/** elu(x) + 1 (x + 1 above 0, e^x below): the positive feature map of linear attention. */
export const eluPlusOne = (x: Tensor): Tensor => unary('eluPlusOne', x);

/** The same values with another shape (a view; the gradient is copied back). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const y = x.reshape(shape);
  y.requiresGrad = false;
  if (needsGrad(x)) record(y, (gy) => gradInto(x, (gx, acc) => K.scale(gy.ptr, 1, gx.ptr, x.size, acc)));
  return y;
}

/** Sum of all elements, as a one-element tensor. */
export function sum(x: Tensor): Tensor {
  return scaledSum(x, 1);
}

/** Mean of all elements, as a one-element tensor. */
export function mean(x: Tensor): Tensor {
  return scaledSum(x, 1 / x.size);
}

function scaledSum(x: Tensor, s: number): Tensor {
  const y = Tensor.from([K.reduce('sum', x.ptr, x.size) * s], [1]);
  if (needsGrad(x)) {
    record(y, (gy) => {
      const g = gy.item() * s;
      gradInto(x, (gx, acc) => {
        if (acc) {
          const ones = Tensor.empty(x.shape);
          K.fill(ones.ptr, x.size, g);
          K.scale(ones.ptr, 1, gx.ptr, x.size, true);
          ones.dispose();
        } else {
          K.fill(gx.ptr, x.size, g);
        }
      });
    });
  }
  return y;
}

/**
 * Slice [start, start+len) of axis `axis` (copy). Works for any axis by viewing the tensor as
 * (outer, axisLen, inner).
 */
export function slice(x: Tensor, axis: number, start: number, len: number): Tensor {
  const ax = axis < 0 ? x.shape.length + axis : axis;
  const n = x.shape[ax];
  if (start < 0 || len < 0 || start + len > n) throw new Error(`slice ${start}..${start + len} of axis ${ax} (size ${n})`);
  const outer = numel(x.shape.slice(0, ax));
  const inner = numel(x.shape.slice(ax + 1));
  const shape = [...x.shape];
  shape[ax] = len;
  const y = Tensor.empty(shape);
  const src = x.ptr + start * inner * 4;
  // rows: (outer) x 1, each len*inner contiguous floats
  K.copyRows(src, n * inner, 0, y.ptr, len * inner, 0, outer, 1, len * inner, false);
  if (needsGrad(x)) {
    record(y, (gy) => gradInto(x, (gx, acc) => {
      if (!acc) K.fill(gx.ptr, x.size, 0);
      K.copyRows(gy.ptr, len * inner, 0, gx.ptr + start * inner * 4, n * inner, 0, outer, 1, len * inner, true);
    }));
  }
  return y;
}

/** Concatenate along `axis` (all other axes equal). */
export function concat(xs: Tensor[], axis: number): Tensor {
  const first = xs[0];
  const ax = axis < 0 ? first.shape.length + axis : axis;
  const outer = numel(first.shape.slice(0, ax));
  const inner = numel(first.shape.slice(ax + 1));
  const total = xs.reduce((s, t) => s + t.shape[ax], 0);
  for (const t of xs) {
    if (t.shape.length !== first.shape.length || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new Error(`concat: [${t.shape.join(', ')}] does not fit [${first.shape.join(', ')}] along axis ${ax}`);
    }
  }
  const shape = [...first.shape];
  shape[ax] = total;
  const y = Tensor.empty(shape);
  let off = 0;
  const offsets: number[] = [];
  for (const t of xs) {
    offsets.push(off);
    const w = t.shape[ax] * inner;
    K.copyRows(t.ptr, w, 0, y.ptr + off * inner * 4, total * inner, 0, outer, 1, w, false);
    off += t.shape[ax];
  }
  if (needsGrad(...xs)) {
    record(y, (gy) => {
      xs.forEach((t, i) => {
        const w = t.shape[ax] * inner;
        gradInto(t, (gt, acc) => K.copyRows(gy.ptr + offsets[i] * inner * 4, total * inner, 0, gt.ptr, w, 0, outer, 1, w, acc));
      });
    });
  }
  return y;
}

/** Swap axes 1 and 2 of a 4-D tensor (B, X, Y, D) -> (B, Y, X, D): heads <-> time in attention. */
export function swapAxes12(x: Tensor): Tensor {
  const [B, X, Y, D] = x.shape;
  const y = Tensor.empty([B, Y, X, D]);
  for (let bi = 0; bi < B; bi++) {
    // source row (i0 = x index, i1 = y index) -> destination row (y, x)
    K.copyRows(x.ptr + bi * X * Y * D * 4, Y * D, D, y.ptr + bi * X * Y * D * 4, D, X * D, X, Y, D, false);
  }
  if (needsGrad(x)) {
    record(y, (gy) => gradInto(x, (gx, acc) => {
      for (let bi = 0; bi < B; bi++) {
        K.copyRows(gy.ptr + bi * X * Y * D * 4, D, X * D, gx.ptr + bi * X * Y * D * 4, Y * D, D, X, Y, D, acc);
      }
    }));
  }
  return y;
}
