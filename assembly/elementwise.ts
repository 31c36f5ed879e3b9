// Elementwise kernels over [start, end) of flat f32 arrays (4-lane bodies, scalar tails).
import { exp4, madd } from './simd';

// Unary op codes, shared with src/core/kernels.ts.
export const RELU: i32 = 0;
export const RELU2: i32 = 1;
export const SILU: i32 = 2;
export const GELU: i32 = 3;
export const SIGMOID: i32 = 4;
export const TANH: i32 = 5;
export const EXP: i32 = 6;
export const ELU_PLUS_ONE: i32 = 7;

// @ts-ignore: decorator
@inline function sigmoid4(x: v128): v128 {
  return f32x4.div(f32x4.splat(1), f32x4.add(f32x4.splat(1), exp4(f32x4.neg(x))));
}

// @ts-ignore: decorator
@inline function tanh4(x: v128): v128 {
  // tanh x = 2 sigmoid(2x) - 1
  return f32x4.sub(f32x4.mul(f32x4.splat(2), sigmoid4(f32x4.add(x, x))), f32x4.splat(1));
}

const GELU_C: f32 = 0.7978845608028654; // sqrt(2 / pi)
const GELU_A: f32 = 0.044715;

// @ts-ignore: decorator
@inline function unaryForward4(op: i32, x: v128): v128 {
  switch (op) {
    case RELU: return f32x4.max(x, f32x4.splat(0));
    case RELU2: { const r = f32x4.max(x, f32x4.splat(0)); return f32x4.mul(r, r); }
    case SILU: return f32x4.mul(x, sigmoid4(x));
    case GELU: {
      const u = f32x4.mul(f32x4.splat(GELU_C), madd(f32x4.mul(f32x4.splat(GELU_A), x), f32x4.mul(x, x), x));
      return f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.add(f32x4.splat(1), tanh4(u)));
    }
    case SIGMOID: return sigmoid4(x);
    case TANH: return tanh4(x);
    // elu(x) + 1: x + 1 above 0, e^x at or below (positive everywhere: linear attention's feature map)
    case ELU_PLUS_ONE: return v128.bitselect(f32x4.add(x, f32x4.splat(1)), exp4(x), f32x4.gt(x, f32x4.splat(0)));
    default: return exp4(x);
  }
}

/** d f(x) / dx given x and y = f(x). */
// @ts-ignore: decorator
@inline function unaryDerivative4(op: i32, x: v128, y: v128): v128 {
  const zero = f32x4.splat(0);
  const one = f32x4.splat(1);
  switch (op) {
    case RELU: return v128.and(f32x4.gt(x, zero), one);
    case RELU2: return f32x4.mul(f32x4.splat(2), f32x4.max(x, zero));
    case SILU: {
      const s = sigmoid4(x);
      return f32x4.mul(s, f32x4.add(one, f32x4.mul(x, f32x4.sub(one, s))));
    }
    case GELU: {
      const x2 = f32x4.mul(x, x);
      const u = f32x4.mul(f32x4.splat(GELU_C), madd(f32x4.mul(f32x4.splat(GELU_A), x), x2, x));
      const t = tanh4(u);
      const du = f32x4.mul(f32x4.splat(GELU_C), madd(f32x4.splat(3 * GELU_A), x2, one));
      const sech2 = f32x4.sub(one, f32x4.mul(t, t));
      return f32x4.add(f32x4.mul(f32x4.splat(0.5), f32x4.add(one, t)), f32x4.mul(f32x4.mul(f32x4.splat(0.5), x), f32x4.mul(sech2, du)));
    }
    case SIGMOID: return f32x4.mul(y, f32x4.sub(one, y));
    case TANH: return f32x4.sub(one, f32x4.mul(y, y));
    case ELU_PLUS_ONE: return v128.bitselect(one, y, f32x4.gt(x, zero));
    default: return y;
  }
}

/** y = f(x). */
export function unary_forward(op: i32, x: usize, y: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const p = <usize>i * 4;
    v128.store(y + p, unaryForward4(op, v128.load(x + p)));
  }
  for (; i < end; i++) {
    const p = <usize>i * 4;
    store<f32>(y + p, f32x4.extract_lane(unaryForward4(op, f32x4.splat(load<f32>(x + p))), 0));
  }
}

/** dx (+)= dy * f'(x); y = f(x) from the forward pass (read by sigmoid, tanh and exp). */
export function unary_backward(op: i32, x: usize, y: usize, dy: usize, dx: usize, accumulate: i32, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const p = <usize>i * 4;
    let g = f32x4.mul(v128.load(dy + p), unaryDerivative4(op, v128.load(x + p), v128.load(y + p)));
    if (accumulate != 0) g = f32x4.add(g, v128.load(dx + p));
    v128.store(dx + p, g);
  }
  for (; i < end; i++) {
    const p = <usize>i * 4;
    let g = load<f32>(dy + p) * f32x4.extract_lane(unaryDerivative4(op, f32x4.splat(load<f32>(x + p)), f32x4.splat(load<f32>(y + p))), 0);
    if (accumulate != 0) g += load<f32>(dx + p);
    store<f32>(dx + p, g);
  }
}

export const ADD: i32 = 0;
export const SUB: i32 = 1;
export const MUL: i32 = 2;
export const DIV: i32 = 3;

// @ts-ignore: decorator
@inline function binary4(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case ADD: return f32x4.add(a, b);
    case SUB: return f32x4.sub(a, b);
    case DIV: return f32x4.div(a, b);
    default: return f32x4.mul(a, b);
  }
}

/**
 * y[i] = a[i] op b[i % bn] for i in [start, end): b is either the same size as a (bn = n) or one
 * row broadcast over the rows of a (bn = row length).
 */
export function binary_forward(op: i32, a: usize, b: usize, bn: i32, y: usize, start: i32, end: i32): void {
  let i = start;
  let j = start % bn;
  if ((bn & 3) == 0) {
    for (; i + 4 <= end; i += 4) {
      const p = <usize>i * 4;
      v128.store(y + p, binary4(op, v128.load(a + p), v128.load(b + <usize>j * 4)));
      j += 4;
      if (j == bn) j = 0;
    }
  }
  for (; i < end; i++) {
    const p = <usize>i * 4;
    store<f32>(y + p, f32x4.extract_lane(binary4(op, f32x4.splat(load<f32>(a + p)), f32x4.splat(load<f32>(b + <usize>j * 4))), 0));
    j++;
    if (j == bn) j = 0;
  }
}

/** y[i] (+)= a[i] * b[i % bn] * s: the gradient of a product, with b broadcast like binary_forward. */
export function mul_scaled(a: usize, b: usize, bn: i32, s: f32, y: usize, accumulate: i32, start: i32, end: i32): void {
  let i = start;
  let j = start % bn;
  const sv = f32x4.splat(s);
  if ((bn & 3) == 0) {
    for (; i + 4 <= end; i += 4) {
      const p = <usize>i * 4;
      let v = f32x4.mul(f32x4.mul(v128.load(a + p), v128.load(b + <usize>j * 4)), sv);
      if (accumulate != 0) v = f32x4.add(v, v128.load(y + p));
      v128.store(y + p, v);
      j += 4;
      if (j == bn) j = 0;
    }
  }
  for (; i < end; i++) {
    const p = <usize>i * 4;
    let v = load<f32>(a + p) * load<f32>(b + <usize>j * 4) * s;
    if (accumulate != 0) v += load<f32>(y + p);
    store<f32>(y + p, v);
    j++;
    if (j == bn) j = 0;
  }
}

/** y (+)= s * x over [start, end) (scale, copy with s = 1, or axpy when accumulating). */
export function scale_f32(x: usize, s: f32, y: usize, accumulate: i32, start: i32, end: i32): void {
  const sv = f32x4.splat(s);
  let i = start;
  if (accumulate != 0) {
    for (; i + 4 <= end; i += 4) {
      const p = <usize>i * 4;
      v128.store(y + p, madd(v128.load(x + p), sv, v128.load(y + p)));
    }
    for (; i < end; i++) store<f32>(y + <usize>i * 4, load<f32>(y + <usize>i * 4) + s * load<f32>(x + <usize>i * 4));
  } else {
    for (; i + 4 <= end; i += 4) {
      const p = <usize>i * 4;
      v128.store(y + p, f32x4.mul(v128.load(x + p), sv));
    }
    for (; i < end; i++) store<f32>(y + <usize>i * 4, s * load<f32>(x + <usize>i * 4));
  }
}

/** y[start, end) = v. */
export function fill_f32(y: usize, v: f32, start: i32, end: i32): void {
  const vv = f32x4.splat(v);
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(y + <usize>i * 4, vv);
  for (; i < end; i++) store<f32>(y + <usize>i * 4, v);
}

/**
 * Strided copy of rows: for r in [start, end) (r = i0 * n1 + i1), the n2 contiguous floats at
 * src + (i0*s0 + i1*s1) go to dst + (i0*d0 + i1*d1), added when accumulating. Covers slicing,
 * concatenation and transposes of the two outer axes of any view.
 */
export function copy_rows(src: usize, s0: i32, s1: i32, dst: usize, d0: i32, d1: i32, n1: i32, n2: i32, accumulate: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const i0 = r / n1;
    const i1 = r - i0 * n1;
    const s = src + (<usize>i0 * <usize>s0 + <usize>i1 * <usize>s1) * 4;
    const d = dst + (<usize>i0 * <usize>d0 + <usize>i1 * <usize>d1) * 4;
    let k = 0;
    if (accumulate != 0) {
      for (; k + 4 <= n2; k += 4) v128.store(d + <usize>k * 4, f32x4.add(v128.load(d + <usize>k * 4), v128.load(s + <usize>k * 4)));
      for (; k < n2; k++) store<f32>(d + <usize>k * 4, load<f32>(d + <usize>k * 4) + load<f32>(s + <usize>k * 4));
    } else {
      for (; k + 4 <= n2; k += 4) v128.store(d + <usize>k * 4, v128.load(s + <usize>k * 4));
      for (; k < n2; k++) store<f32>(d + <usize>k * 4, load<f32>(s + <usize>k * 4));
    }
  }
}

// @ts-ignore: decorator
@inline function mix32x4(h: v128): v128 {
  // murmur3's 32-bit finaliser on four lanes
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(0x85ebca6b));
  h = v128.xor(h, i32x4.shr_u(h, 13));
  h = i32x4.mul(h, i32x4.splat(0xc2b2ae35));
  return v128.xor(h, i32x4.shr_u(h, 16));
}

/**
 * Dropout with a counter-based mask: element i is kept when mix32x4(i * 0x9e3779b9 + seed) >= threshold
 * (threshold = p * 2^32), so the backward pass rebuilds the same mask from the seed alone.
 * y (+)= keep ? x * scale : 0.
 */
export function dropout_f32(x: usize, y: usize, threshold: u32, scale: f32, seed: u32, accumulate: i32, start: i32, end: i32): void {
  const sv = f32x4.splat(scale);
  const tv = i32x4.splat(threshold);
  const golden = i32x4.splat(0x9e3779b9);
  const sd = i32x4.splat(seed);
  let idx = i32x4(start, start + 1, start + 2, start + 3);
  const four = i32x4.splat(4);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const p = <usize>i * 4;
    const keep = i32x4.ge_u(mix32x4(i32x4.add(i32x4.mul(idx, golden), sd)), tv);
    let v = v128.and(f32x4.mul(v128.load(x + p), sv), keep);
    if (accumulate != 0) v = f32x4.add(v, v128.load(y + p));
    v128.store(y + p, v);
    idx = i32x4.add(idx, four);
  }
  for (; i < end; i++) {
    const keep = <u32>i32x4.extract_lane(mix32x4(i32x4.splat(<u32>i * 0x9e3779b9 + seed)), 0) >= threshold;
    const v: f32 = keep ? load<f32>(x + <usize>i * 4) * scale : 0;
    store<f32>(y + <usize>i * 4, accumulate != 0 ? load<f32>(y + <usize>i * 4) + v : v);
  }
}
