// Kernels of one-token inference (decode): rotary position embedding, attention of one query
// over a KV cache, and the SwiGLU gate. Parallel kernels take (..., start, end) last.
import { dot, exp4, hmax, hsum, madd } from './simd';

/**
 * Rotary embedding of one position, in place, for heads [start, end) of x (heads of hs floats):
 * pairs (2j, 2j+1) of each head turn by angle_j. The table row holds hs cosines
 * [c0, c0, c1, c1, ...] then hs signed sines [-s0, s0, -s1, s1, ...], so that
 * x' = x * cos + swap_pairs(x) * sin.
 */
export function rope_rotate(x: usize, table: usize, hs: i32, start: i32, end: i32): void {
  const sin = table + <usize>hs * 4;
  for (let h = start; h < end; h++) {
    const xh = x + <usize>h * <usize>hs * 4;
    let i = 0;
    for (; i + 4 <= hs; i += 4) {
      const o = <usize>i * 4;
      const v = v128.load(xh + o);
      const swapped = v128.shuffle<u32>(v, v, 1, 0, 3, 2);
      v128.store(xh + o, madd(swapped, v128.load(sin + o), f32x4.mul(v, v128.load(table + o))));
    }
    for (; i < hs; i += 2) {
      const o = <usize>i * 4;
      const a = load<f32>(xh + o);
      const b = load<f32>(xh + o + 4);
      const c = load<f32>(table + o);
      const s = load<f32>(sin + o + 4);
      store<f32>(xh + o, a * c - b * s);
      store<f32>(xh + o + 4, a * s + b * c);
    }
  }
}


/** [sum(a), sum(b), sum(c), sum(d)]: four horizontal sums at once. */
// @ts-ignore: decorator
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<u32>(a, b, 0, 4, 1, 5), v128.shuffle<u32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<u32>(c, d, 0, 4, 1, 5), v128.shuffle<u32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<u32>(ab, cd, 0, 1, 4, 5), v128.shuffle<u32>(ab, cd, 2, 3, 6, 7));
}

/**
 * att[t] = scale * (q . k_t) for t < T (k_t = k + t * row bytes), four positions at a time so
 * that one shuffle tree finishes four dot products. Returns the largest score.
 */
// @ts-ignore: decorator
@inline function scores(q: usize, k: usize, row: usize, att: usize, T: i32, hs: i32, scale: f32): f32 {
  const scale4 = f32x4.splat(scale);
  let mx4 = f32x4.splat(-Infinity);
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const k0 = k + <usize>t * row, k1 = k0 + row, k2 = k1 + row, k3 = k2 + row;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= hs; i += 4) {
      const o = <usize>i * 4;
      const qv = v128.load(q + o);
      s0 = madd(qv, v128.load(k0 + o), s0);
      s1 = madd(qv, v128.load(k1 + o), s1);
      s2 = madd(qv, v128.load(k2 + o), s2);
      s3 = madd(qv, v128.load(k3 + o), s3);
    }
    let s = hsum4(s0, s1, s2, s3);
    for (; i < hs; i++) {
      const o = <usize>i * 4;
      const qi = load<f32>(q + o);
      let tail = f32x4.splat(0);
      tail = f32x4.replace_lane(tail, 0, qi * load<f32>(k0 + o));
      tail = f32x4.replace_lane(tail, 1, qi * load<f32>(k1 + o));
      tail = f32x4.replace_lane(tail, 2, qi * load<f32>(k2 + o));
      tail = f32x4.replace_lane(tail, 3, qi * load<f32>(k3 + o));
      s = f32x4.add(s, tail);
    }
    s = f32x4.mul(s, scale4);
    v128.store(att + <usize>t * 4, s);
    mx4 = f32x4.max(mx4, s);
  }
  let mx = hmax(mx4);
  for (; t < T; t++) {
    const s = dot(q, k + <usize>t * row, hs) * scale;
    store<f32>(att + <usize>t * 4, s);
    mx = max(mx, s);
  }
  return mx;
}

/** att[t] = e^(att[t] - mx) for t < T; returns their sum. */
// @ts-ignore: decorator
@inline function expShifted(att: usize, T: i32, mx: f32): f32 {
  const m4 = f32x4.splat(mx);
  let sum4 = f32x4.splat(0);
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const p = att + <usize>t * 4;
    const e = exp4(f32x4.sub(v128.load(p), m4));
    v128.store(p, e);
    sum4 = f32x4.add(sum4, e);
  }
  let sum = hsum(sum4);
  for (; t < T; t++) {
    const p = att + <usize>t * 4;
    const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(p) - mx)), 0);
    store<f32>(p, e);
    sum += e;
  }
  return sum;
}

/**
 * out[0..hs) = inv * sum_t w[t] v_t (v_t = v + t * row bytes). The sums stay in registers,
 * 8 (then 4) columns at a time, even and odd positions in separate accumulators to halve the
 * dependency chain.
 */
// @ts-ignore: decorator
@inline function weightedSum(w: usize, v: usize, row: usize, out: usize, T: i32, hs: i32, inv: f32): void {
  const inv4 = f32x4.splat(inv);
  let i = 0;
  for (; i + 8 <= hs; i += 8) {
    let e0 = f32x4.splat(0), e1 = f32x4.splat(0), o0 = f32x4.splat(0), o1 = f32x4.splat(0);
    let vt = v + <usize>i * 4;
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const w0 = v128.load32_splat(w + <usize>t * 4);
      const w1 = v128.load32_splat(w + <usize>t * 4, 4);
      e0 = madd(w0, v128.load(vt), e0);
      e1 = madd(w0, v128.load(vt, 16), e1);
      o0 = madd(w1, v128.load(vt + row), o0);
      o1 = madd(w1, v128.load(vt + row, 16), o1);
      vt += 2 * row;
    }
    if (t < T) {
      const w0 = v128.load32_splat(w + <usize>t * 4);
      e0 = madd(w0, v128.load(vt), e0);
      e1 = madd(w0, v128.load(vt, 16), e1);
    }
    v128.store(out + <usize>i * 4, f32x4.mul(f32x4.add(e0, o0), inv4));
    v128.store(out + <usize>i * 4, f32x4.mul(f32x4.add(e1, o1), inv4), 16);
  }
  for (; i + 4 <= hs; i += 4) {
    let e0 = f32x4.splat(0), o0 = f32x4.splat(0);
    let vt = v + <usize>i * 4;
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      e0 = madd(v128.load32_splat(w + <usize>t * 4), v128.load(vt), e0);
      o0 = madd(v128.load32_splat(w + <usize>t * 4, 4), v128.load(vt + row), o0);
      vt += 2 * row;
    }
    if (t < T) e0 = madd(v128.load32_splat(w + <usize>t * 4), v128.load(vt), e0);
    v128.store(out + <usize>i * 4, f32x4.mul(f32x4.add(e0, o0), inv4));
  }
  for (; i < hs; i++) {
    let acc: f32 = 0;
    for (let t = 0; t < T; t++) acc += load<f32>(w + <usize>t * 4) * load<f32>(v + <usize>t * row + <usize>i * 4);
    store<f32>(out + <usize>i * 4, acc * inv);
  }
}

/**
 * Causal attention of the newest position over T cached positions, for query heads [start, end).
 * q, out: nHeads x hs. kc, vc: this layer's cache, T rows of kvDim floats (kvDim = nKv * hs);
 * query head h reads KV head h / group. att: nHeads x attStride scratch for the weights.
 * out_h = sum_t softmax_t(q_h . k_t * scale) v_t.
 */
export function attention_decode(
  q: usize, kc: usize, vc: usize, att: usize, out: usize, T: i32, hs: i32, kvDim: i32, group: i32,
  attStride: i32, scale: f32, start: i32, end: i32,
): void {
  const row = <usize>kvDim * 4;
  for (let h = start; h < end; h++) {
    const kvOff = <usize>(h / group) * <usize>hs * 4;
    const a = att + <usize>h * <usize>attStride * 4;
    const mx = scores(q + <usize>h * <usize>hs * 4, kc + kvOff, row, a, T, hs, scale);
    const sum = expShifted(a, T, mx);
    weightedSum(a, vc + kvOff, row, out + <usize>h * <usize>hs * 4, T, hs, 1 / sum);
  }
}

/** y[i] = silu(a[i]) * b[i] = a / (1 + e^-a) * b, for i in [start, end). */
export function swiglu_forward(a: usize, b: usize, y: usize, start: i32, end: i32): void {
  const one = f32x4.splat(1);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const o = <usize>i * 4;
    const x = v128.load(a + o);
    const sig = f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
    v128.store(y + o, f32x4.mul(f32x4.mul(x, sig), v128.load(b + o)));
  }
  for (; i < end; i++) {
    const o = <usize>i * 4;
    const x = load<f32>(a + o);
    const e = f32x4.extract_lane(exp4(f32x4.splat(-x)), 0);
    store<f32>(y + o, x / (1 + e) * load<f32>(b + o));
  }
}

/**
 * One output row of the causal depthwise conv for the newest input: window holds the last
 * (Kw-1)*dil + 1 input rows of C channels, oldest first (zeros before the sequence began);
 * y[c] = bias[c] + sum_i w[i, c] * window[last - (Kw-1-i)*dil, c], for channels [start, end).
 */
export function conv1d_step(window: usize, w: usize, bias: usize, y: usize, C: i32, Kw: i32, dil: i32, start: i32, end: i32): void {
  const rowBytes = <usize>C * 4;
  const last = window + <usize>((Kw - 1) * dil) * rowBytes;
  let c = start;
  for (; c + 4 <= end; c += 4) {
    const p = <usize>c * 4;
    let acc = bias != 0 ? v128.load(bias + p) : f32x4.splat(0);
    for (let i = 0; i < Kw; i++) {
      const back = <usize>((Kw - 1 - i) * dil) * rowBytes;
      acc = f32x4.add(acc, f32x4.mul(v128.load(w + <usize>i * rowBytes + p), v128.load(last - back + p)));
    }
    v128.store(y + p, acc);
  }
  for (; c < end; c++) {
    const p = <usize>c * 4;
    let acc: f32 = bias != 0 ? load<f32>(bias + p) : 0;
    for (let i = 0; i < Kw; i++) {
      const back = <usize>((Kw - 1 - i) * dil) * rowBytes;
      acc += load<f32>(w + <usize>i * rowBytes + p) * load<f32>(last - back + p);
    }
    store<f32>(y + p, acc);
  }
}
