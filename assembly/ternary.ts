// Ternary weights {-1, 0, +1}: AbsMean ternarization, 2-bit packing, and integer matmuls in
// which a weight only ever selects +x, -x or nothing (i32x4.dot_i16x8_s against {-1, 0, 1}).
//
// Packed layout: each weight row is padded to Kp (a multiple of 64) and stored as Kp/4 bytes,
// in groups of 16 bytes holding 64 weights. In a group, bits 2j..2j+1 of byte b hold the code
// of weight 16j + b, and code = w + 1 (0, 1, 2). Shifting a whole group by 2j and masking gives
// 16 consecutive weights in 16 lanes, so unpacking is four shift-and-mask steps per 64 weights.

/** codes 0..2 of 16 consecutive weights in lanes -> weights -1..1 as i8 lanes. */
// @ts-ignore: decorator
@inline function group16(v: v128, j: i32): v128 {
  return i8x16.sub(v128.and(i8x16.shr_u(v, j * 2), i8x16.splat(3)), i8x16.splat(1));
}

/**
 * Ternarize and pack rows [start, end) of W (N x K, f32): t = clamp(round(w * invAlpha), -1, 1).
 * packed row n starts at packed + n * Kp / 4.
 */
export function ternary_pack(w: usize, invAlpha: f32, packed: usize, K: i32, Kp: i32, start: i32, end: i32): void {
  const inv = f32x4.splat(invAlpha);
  const one = f32x4.splat(1);
  const mone = f32x4.splat(-1);
  for (let n = start; n < end; n++) {
    const row = w + <usize>n * <usize>K * 4;
    const dst = packed + <usize>n * <usize>(Kp >> 2);
    for (let g = 0; g < Kp; g += 64) {
      let bytes = i8x16.splat(0);
      for (let j = 0; j < 4; j++) {
        const k0 = g + j * 16;
        let codes = i8x16.splat(0);
        if (k0 + 16 <= K) {
          const p = row + <usize>k0 * 4;
          const q0 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.max(mone, f32x4.min(one, f32x4.nearest(f32x4.mul(v128.load(p), inv)))), one));
          const q1 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.max(mone, f32x4.min(one, f32x4.nearest(f32x4.mul(v128.load(p, 16), inv)))), one));
          const q2 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.max(mone, f32x4.min(one, f32x4.nearest(f32x4.mul(v128.load(p, 32), inv)))), one));
          const q3 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.max(mone, f32x4.min(one, f32x4.nearest(f32x4.mul(v128.load(p, 48), inv)))), one));
          codes = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q0, q1), i16x8.narrow_i32x4_u(q2, q3));
        } else {
          // Tail of the row: padded weights are 0, i.e. code 1.
          for (let b = 0; b < 16; b++) {
            let code: i32 = 1;
            if (k0 + b < K) {
              const t = nearest<f32>(load<f32>(row + <usize>(k0 + b) * 4) * invAlpha);
              code = <i32>max<f32>(-1, min<f32>(1, <f32>t)) + 1;
            }
            codes = i8x16.replace_lane(codes, 0, <i8>code);
            codes = v128.shuffle<u8>(codes, codes, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0);
          }
        }
        bytes = v128.or(bytes, i8x16.shl(codes, j * 2));
      }
      v128.store(dst + <usize>(g >> 2), bytes);
    }
  }
}

/** Unpack rows [start, end) to f32 weights scaled by alpha: out (N x K) = alpha * t. */
export function ternary_unpack_f32(packed: usize, alpha: f32, out: usize, K: i32, Kp: i32, start: i32, end: i32): void {
  const a = f32x4.splat(alpha);
  for (let n = start; n < end; n++) {
    const src = packed + <usize>n * <usize>(Kp >> 2);
    const row = out + <usize>n * <usize>K * 4;
    for (let g = 0; g < Kp; g += 64) {
      const v = v128.load(src + <usize>(g >> 2));
      for (let j = 0; j < 4; j++) {
        const k0 = g + j * 16;
        if (k0 >= K) break;
        const w8 = group16(v, j);
        const lo = i16x8.extend_low_i8x16_s(w8);
        const hi = i16x8.extend_high_i8x16_s(w8);
        if (k0 + 16 <= K) {
          const p = row + <usize>k0 * 4;
          v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), a));
          v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), a), 16);
          v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), a), 32);
          v128.store(p, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), a), 48);
        } else {
          for (let b = k0; b < K; b++) {
            const code = (<i32>load<u8>(src + <usize>(g >> 2) + <usize>(b - k0)) >> (j * 2)) & 3;
            store<f32>(row + <usize>b * 4, <f32>(code - 1) * alpha);
          }
        }
      }
    }
  }
}

/**
 * Unpack panels [start, end) to int16 weights in the operand layout of ternary_matmul_i16:
 * columns (weight rows) in panels of 4, panel p holding columns 4p..4p+3 (columns >= N are 0);
 * in a panel, each pair of k (2i, 2i+1) is 8 int16 [w(4p, 2i), w(4p, 2i+1), w(4p+1, 2i), ...,
 * w(4p+3, 2i+1)], so a panel is Kp / 2 vectors of 16 bytes and out holds ceil(N / 4) * 4 * Kp int16.
 */
export function ternary_unpack_i16(packed: usize, out: usize, N: i32, Kp: i32, start: i32, end: i32): void {
  const rowBytes = <usize>(Kp >> 2);
  for (let p = start; p < end; p++) {
    const n = p * 4;
    const src = packed + <usize>n * rowBytes;
    const dst = out + <usize>p * <usize>Kp * 8;
    for (let g = 0; g < Kp; g += 64) {
      const off = <usize>(g >> 2);
      const v0 = v128.load(src + off);
      const v1 = n + 1 < N ? v128.load(src + rowBytes + off) : i8x16.splat(0x55);
      const v2 = n + 2 < N ? v128.load(src + 2 * rowBytes + off) : i8x16.splat(0x55);
      const v3 = n + 3 < N ? v128.load(src + 3 * rowBytes + off) : i8x16.splat(0x55);
      for (let j = 0; j < 4; j++) {
        // 16 weights (k = g + 16j ..) of each column, then a transpose of their 8 k-pairs
        const c0 = group16(v0, j), c1 = group16(v1, j), c2 = group16(v2, j), c3 = group16(v3, j);
        const t01lo = v128.shuffle<u8>(c0, c1, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        const t01hi = v128.shuffle<u8>(c0, c1, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        const t23lo = v128.shuffle<u8>(c2, c3, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        const t23hi = v128.shuffle<u8>(c2, c3, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        const d = dst + <usize>(g + 16 * j) * 8;
        let u = v128.shuffle<u8>(t01lo, t23lo, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        v128.store(d, i16x8.extend_low_i8x16_s(u));
        v128.store(d, i16x8.extend_high_i8x16_s(u), 16);
        u = v128.shuffle<u8>(t01lo, t23lo, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        v128.store(d, i16x8.extend_low_i8x16_s(u), 32);
        v128.store(d, i16x8.extend_high_i8x16_s(u), 48);
        u = v128.shuffle<u8>(t01hi, t23hi, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        v128.store(d, i16x8.extend_low_i8x16_s(u), 64);
        v128.store(d, i16x8.extend_high_i8x16_s(u), 80);
        u = v128.shuffle<u8>(t01hi, t23hi, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        v128.store(d, i16x8.extend_low_i8x16_s(u), 96);
        v128.store(d, i16x8.extend_high_i8x16_s(u), 112);
      }
    }
  }
}

/**
 * 8-bit per-row absmax quantization of rows [start, end) of x (M x K, f32):
 * q = round(x * 127 / absmax) stored as int16 (M x Kp, zero padded), scale[m] = absmax / 127.
 */
export function quantize_rows_i8(x: usize, K: i32, q: usize, Kp: i32, scale: usize, start: i32, end: i32): void {
  for (let m = start; m < end; m++) {
    const row = x + <usize>m * <usize>K * 4;
    let mx = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) mx = f32x4.max(mx, f32x4.abs(v128.load(row + <usize>k * 4)));
    let absmax = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
    for (; k < K; k++) absmax = max(absmax, Mathf.abs(load<f32>(row + <usize>k * 4)));
    const s: f32 = absmax > 0 ? absmax / 127 : 1;
    store<f32>(scale + <usize>m * 4, s);
    const inv = f32x4.splat(1 / s);
    const dst = q + <usize>m * <usize>Kp * 2;
    k = 0;
    for (; k + 8 <= K; k += 8) {
      const p = row + <usize>k * 4;
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), inv)));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), inv)));
      v128.store(dst + <usize>k * 2, i16x8.narrow_i32x4_s(a, b));
    }
    for (; k < K; k++) store<i16>(dst + <usize>k * 2, <i16>(<i32>nearest<f32>(load<f32>(row + <usize>k * 4) / s)));
    for (; k < Kp; k++) store<i16>(dst + <usize>k * 2, 0);
  }
}

/** f32 values of quantized rows: x = q * scale (M x K), the activations the layer really saw. */
export function dequantize_rows_i8(q: usize, Kp: i32, scale: usize, x: usize, K: i32, start: i32, end: i32): void {
  for (let m = start; m < end; m++) {
    const s = load<f32>(scale + <usize>m * 4);
    const src = q + <usize>m * <usize>Kp * 2;
    const row = x + <usize>m * <usize>K * 4;
    for (let k = 0; k < K; k++) store<f32>(row + <usize>k * 4, <f32>load<i16>(src + <usize>k * 2) * s);
  }
}

// @ts-ignore: decorator
@inline function dot8(acc: v128, x: v128, w: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(x, w));
}

// @ts-ignore: decorator
@inline function finish(acc: v128, s: f32, dst: usize, accumulate: bool): void {
  let v = <f32>(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3)) * s;
  if (accumulate) v += load<f32>(dst);
  store<f32>(dst, v);
}

/** y[0..cols) (+)= f32(acc lane i) * s for the first cols (1..4) of 4 column sums. */
// @ts-ignore: decorator
@inline function store4(acc: v128, s: f32, dst: usize, cols: i32, accumulate: bool): void {
  if (cols >= 4) {
    let v = f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.splat(s));
    if (accumulate) v = f32x4.add(v, v128.load(dst));
    v128.store(dst, v);
    return;
  }
  let v = <f32>i32x4.extract_lane(acc, 0) * s;
  if (accumulate) v += load<f32>(dst);
  store<f32>(dst, v);
  if (cols > 1) {
    v = <f32>i32x4.extract_lane(acc, 1) * s;
    if (accumulate) v += load<f32>(dst, 4);
    store<f32>(dst, v, 4);
  }
  if (cols > 2) {
    v = <f32>i32x4.extract_lane(acc, 2) * s;
    if (accumulate) v += load<f32>(dst, 8);
    store<f32>(dst, v, 8);
  }
}

// @ts-ignore: decorator
@inline function dot2(acc: v128, x: usize, w: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(v128.load32_splat(x), w));
}

const TM: i32 = 32; // rows of activations per block: 32 x Kp int16 stays in L1 for Kp <= 256

/**
 * Y[m, n] (+)= scale[m] * alpha * sum_k q[m, k] * w[n, k] for rows [start, end) of Y (ldy).
 * q: int16 M x Kp (quantize_rows_i8), Kp even; w: int16 panels of 4 columns (ternary_unpack_i16).
 * 4 rows x 8 columns register block: per k-pair, a broadcast pair of a row's activations
 * against a panel's 4 interleaved weight pairs (i32x4.dot_i16x8_s) adds to 4 columns' sums,
 * so no horizontal sum is ever needed.
 */
export function ternary_matmul_i16(
  q: usize, scale: usize, w: usize, alpha: f32, y: usize, ldy: i32, M: i32, N: i32, Kp: i32,
  accumulate: i32, start: i32, end: i32,
): void {
  const acc = accumulate != 0;
  const rowBytes = <usize>Kp * 2;
  const panelBytes = <usize>Kp * 8;
  const rs = <usize>ldy * 4;
  for (let m0 = start; m0 < end; m0 += TM) {
    const m1 = min(end, m0 + TM);
    for (let n = 0; n < N; n += 8) {
      const w0 = w + <usize>(n >> 2) * panelBytes;
      const w1 = n + 4 < N ? w0 + panelBytes : w0;
      for (let m = m0; m < m1; m += 4) {
        const x0 = q + <usize>m * rowBytes;
        const x1 = m + 1 < m1 ? x0 + rowBytes : x0;
        const x2 = m + 2 < m1 ? x0 + 2 * rowBytes : x0;
        const x3 = m + 3 < m1 ? x0 + 3 * rowBytes : x0;
        let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
        let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
        for (let k: usize = 0; k < rowBytes; k += 4) {
          const v0 = v128.load(w0 + k * 4);
          const v1 = v128.load(w1 + k * 4);
          a00 = dot2(a00, x0 + k, v0);
          a01 = dot2(a01, x0 + k, v1);
          a10 = dot2(a10, x1 + k, v0);
          a11 = dot2(a11, x1 + k, v1);
          a20 = dot2(a20, x2 + k, v0);
          a21 = dot2(a21, x2 + k, v1);
          a30 = dot2(a30, x3 + k, v0);
          a31 = dot2(a31, x3 + k, v1);
        }
        const c0 = min(4, N - n), c1 = min(4, N - n - 4);
        const d = y + (<usize>m * <usize>ldy + <usize>n) * 4;
        let s = load<f32>(scale + <usize>m * 4) * alpha;
        store4(a00, s, d, c0, acc);
        if (c1 > 0) store4(a01, s, d + 16, c1, acc);
        if (m + 1 < m1) {
          s = load<f32>(scale + <usize>(m + 1) * 4) * alpha;
          store4(a10, s, d + rs, c0, acc);
          if (c1 > 0) store4(a11, s, d + rs + 16, c1, acc);
        }
        if (m + 2 < m1) {
          s = load<f32>(scale + <usize>(m + 2) * 4) * alpha;
          store4(a20, s, d + 2 * rs, c0, acc);
          if (c1 > 0) store4(a21, s, d + 2 * rs + 16, c1, acc);
        }
        if (m + 3 < m1) {
          s = load<f32>(scale + <usize>(m + 3) * 4) * alpha;
          store4(a30, s, d + 3 * rs, c0, acc);
          if (c1 > 0) store4(a31, s, d + 3 * rs + 16, c1, acc);
        }
      }
    }
  }
}

/**
 * One-token (or few-token) product straight from the 2-bit packed weights, for inference:
 * Y[m, n] (+)= scale[m] * alpha * sum_k q[m, k] t[n, k], for output columns [start, end).
 */
export function ternary_matvec_packed(
  q: usize, scale: usize, packed: usize, alpha: f32, y: usize, ldy: i32, M: i32, Kp: i32,
  accumulate: i32, start: i32, end: i32,
): void {
  const acc = accumulate != 0;
  const rowBytes = <usize>Kp * 2;
  for (let n = start; n < end; n++) {
    const src = packed + <usize>n * <usize>(Kp >> 2);
    for (let m = 0; m < M; m++) {
      const x = q + <usize>m * rowBytes;
      let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
      for (let g = 0; g < Kp; g += 64) {
        const v = v128.load(src + <usize>(g >> 2));
        const p = x + <usize>g * 2;
        let w8 = group16(v, 0);
        s0 = dot8(s0, v128.load(p), i16x8.extend_low_i8x16_s(w8));
        s1 = dot8(s1, v128.load(p, 16), i16x8.extend_high_i8x16_s(w8));
        w8 = group16(v, 1);
        s0 = dot8(s0, v128.load(p, 32), i16x8.extend_low_i8x16_s(w8));
        s1 = dot8(s1, v128.load(p, 48), i16x8.extend_high_i8x16_s(w8));
        w8 = group16(v, 2);
        s0 = dot8(s0, v128.load(p, 64), i16x8.extend_low_i8x16_s(w8));
        s1 = dot8(s1, v128.load(p, 80), i16x8.extend_high_i8x16_s(w8));
        w8 = group16(v, 3);
        s0 = dot8(s0, v128.load(p, 96), i16x8.extend_low_i8x16_s(w8));
        s1 = dot8(s1, v128.load(p, 112), i16x8.extend_high_i8x16_s(w8));
      }
      finish(i32x4.add(s0, s1), load<f32>(scale + <usize>m * 4) * alpha, y + (<usize>m * <usize>ldy + <usize>n) * 4, acc);
    }
  }
}

/**
 * Counts of -1, 0, +1 after ternarization of x[start, end) with 1/alpha, added into
 * counts + tid * 12 (three i32 per thread) so that threads never share a counter.
 */
export function ternary_counts(x: usize, invAlpha: f32, counts: usize, start: i32, end: i32, tid: i32): void {
  let neg = 0, zero = 0, pos = 0;
  for (let i = start; i < end; i++) {
    const t = nearest<f32>(load<f32>(x + <usize>i * 4) * invAlpha);
    if (t <= -1) neg++;
    else if (t >= 1) pos++;
    else zero++;
  }
  const c = counts + <usize>tid * 12;
  store<i32>(c, load<i32>(c) + neg);
  store<i32>(c, load<i32>(c, 4) + zero, 4);
  store<i32>(c, load<i32>(c, 8) + pos, 8);
}

/** Straight-through ternarization: out = alpha * clamp(round(w / alpha), -1, 1) over [start, end). */
export function ternarize_f32(w: usize, alpha: f32, out: usize, start: i32, end: i32): void {
  const inv = f32x4.splat(alpha > 0 ? 1 / alpha : 0);
  const a = f32x4.splat(alpha);
  const one = f32x4.splat(1);
  const mone = f32x4.splat(-1);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const p = <usize>i * 4;
    const t = f32x4.max(mone, f32x4.min(one, f32x4.nearest(f32x4.mul(v128.load(w + p), inv))));
    v128.store(out + p, f32x4.mul(t, a));
  }
  const invs: f32 = alpha > 0 ? 1 / alpha : 0;
  for (; i < end; i++) {
    const t = max<f32>(-1, min<f32>(1, nearest<f32>(load<f32>(w + <usize>i * 4) * invs)));
    store<f32>(out + <usize>i * 4, t * alpha);
  }
}
