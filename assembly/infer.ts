// Kernels of one-token inference (decode): rotary position embedding, attention of one query
// over a KV cache, and the SwiGLU gate. Parallel kernels take (..., start, end) last.
import { exp4, hsum, madd } from './simd';

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

// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) acc = madd(v128.load(a + <usize>i * 4), v128.load(b + <usize>i * 4), acc);
  let s = hsum(acc);
  for (; i < n; i++) s += load<f32>(a + <usize>i * 4) * load<f32>(b + <usize>i * 4);
  return s;
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
    const qh = q + <usize>h * <usize>hs * 4;
    const kvOff = <usize>(h / group) * <usize>hs * 4;
    const a = att + <usize>h * <usize>attStride * 4;
    let mx: f32 = -Infinity;
    let kt = kc + kvOff;
    for (let t = 0; t < T; t++) {
      const s = dot(qh, kt, hs) * scale;
      store<f32>(a + <usize>t * 4, s);
      mx = max(mx, s);
      kt += row;
    }
    // Weights e^(s - max), four at a time, and their sum.
    const m4 = f32x4.splat(mx);
    let sum4 = f32x4.splat(0);
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      const p = a + <usize>t * 4;
      const e = exp4(f32x4.sub(v128.load(p), m4));
      v128.store(p, e);
      sum4 = f32x4.add(sum4, e);
    }
    let sum = hsum(sum4);
    for (; t < T; t++) {
      const p = a + <usize>t * 4;
      const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(p) - mx)), 0);
      store<f32>(p, e);
      sum += e;
    }
    const inv: f32 = 1 / sum;
    // out_h = (sum_t w_t v_t) / sum
    const oh = out + <usize>h * <usize>hs * 4;
    for (let i = 0; i < hs; i++) store<f32>(oh + <usize>i * 4, 0);
    let vt = vc + kvOff;
    for (let t = 0; t < T; t++) {
      const w = load<f32>(a + <usize>t * 4) * inv;
      const w4 = f32x4.splat(w);
      let i = 0;
      for (; i + 4 <= hs; i += 4) {
        const o = <usize>i * 4;
        v128.store(oh + o, madd(w4, v128.load(vt + o), v128.load(oh + o)));
      }
      for (; i < hs; i++) {
        const o = <usize>i * 4;
        store<f32>(oh + o, load<f32>(oh + o) + w * load<f32>(vt + o));
      }
      vt += row;
    }
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
