// Ternary weights {-1, 0, +1}: AbsMean ternarization, 2-bit packing, and integer matmuls of
// 8-bit activations by the weights (ternary_matmul_i16 by their codes t + 1, then minus each
// row's activation sum; ternary_matvec_packed straight from the 2-bit codes).
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
 * Unpack panels [start, end) to u8 weight codes c = w + 1 (0, 1, 2) in the operand layout of
 * ternary_matmul_i16: columns (weight rows) in panels of 4, panel p holding columns 4p..4p+3
 * (columns >= N are code 1, weight 0); in a panel, each k-quad (4i..4i+3) is 16 bytes
 * [c(4p, 4i..4i+3), c(4p+1, 4i..4i+3), c(4p+2, ...), c(4p+3, ...)], so a panel is 4 * Kp bytes
 * and out holds ceil(N / 4) * 4 * Kp bytes.
 */
export function ternary_unpack_codes(packed: usize, out: usize, N: i32, Kp: i32, start: i32, end: i32): void {
  const rowBytes = <usize>(Kp >> 2);
  const three = i8x16.splat(3);
  for (let p = start; p < end; p++) {
    const n = p * 4;
    const src = packed + <usize>n * rowBytes;
    const dst = out + <usize>p * <usize>Kp * 4;
    for (let g = 0; g < Kp; g += 64) {
      const off = <usize>(g >> 2);
      const v0 = v128.load(src + off);
      const v1 = n + 1 < N ? v128.load(src + rowBytes + off) : i8x16.splat(0x55);
      const v2 = n + 2 < N ? v128.load(src + 2 * rowBytes + off) : i8x16.splat(0x55);
      const v3 = n + 3 < N ? v128.load(src + 3 * rowBytes + off) : i8x16.splat(0x55);
      for (let j = 0; j < 4; j++) {
        // codes of k = g + 16j .. + 15 of each column, then a transpose of their 4 k-quads
        const c0 = v128.and(i8x16.shr_u(v0, j * 2), three), c1 = v128.and(i8x16.shr_u(v1, j * 2), three);
        const c2 = v128.and(i8x16.shr_u(v2, j * 2), three), c3 = v128.and(i8x16.shr_u(v3, j * 2), three);
        const t01lo = v128.shuffle<u8>(c0, c1, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        const t01hi = v128.shuffle<u8>(c0, c1, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        const t23lo = v128.shuffle<u8>(c2, c3, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
        const t23hi = v128.shuffle<u8>(c2, c3, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
        const d = dst + <usize>(g + 16 * j) * 4;
        v128.store(d, v128.shuffle<u8>(t01lo, t23lo, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
        v128.store(d, v128.shuffle<u8>(t01lo, t23lo, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), 16);
        v128.store(d, v128.shuffle<u8>(t01hi, t23hi, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), 32);
        v128.store(d, v128.shuffle<u8>(t01hi, t23hi, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31), 48);
      }
    }
  }
}

/**
 * Whole f32 lanes within +-128 to i32: the relaxed build's truncation is exact there (one
 * instruction on x86, where the saturating one takes several).
 */
// @ts-ignore: decorator
@inline function truncSmall(v: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.relaxed_trunc_f32x4_s(v);
  } else {
    return i32x4.trunc_sat_f32x4_s(v);
  }
}

/** max(m, |v|) per lane (m >= 0): the relaxed build's max, exact for numbers (minps/maxps on x86). */
// @ts-ignore: decorator
@inline function maxAbs(m: v128, v: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_max(m, f32x4.abs(v));
  } else {
    return f32x4.max(m, f32x4.abs(v));
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
    for (; k + 4 <= K; k += 4) mx = maxAbs(mx, v128.load(row + <usize>k * 4));
    let absmax = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
    for (; k < K; k++) absmax = max(absmax, Mathf.abs(load<f32>(row + <usize>k * 4)));
    const s: f32 = absmax > 0 ? absmax / 127 : 1;
    store<f32>(scale + <usize>m * 4, s);
    const inv = f32x4.splat(1 / s);
    const dst = q + <usize>m * <usize>Kp * 2;
    k = 0;
    for (; k + 8 <= K; k += 8) {
      const p = row + <usize>k * 4;
      const a = truncSmall(f32x4.nearest(f32x4.mul(v128.load(p), inv)));
      const b = truncSmall(f32x4.nearest(f32x4.mul(v128.load(p, 16), inv)));
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

/** Sum of a row of int16 (length Kp, a multiple of 8). */
// @ts-ignore: decorator
@inline function rowSum(x: usize, rowBytes: usize): i32 {
  let s = i32x4.splat(0);
  for (let k: usize = 0; k < rowBytes; k += 16) s = i32x4.add(s, i32x4.extadd_pairwise_i16x8_s(v128.load(x + k)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/** 4 int16 activations at x as int8, repeated in the 4 lanes of 4 bytes. */
// @ts-ignore: decorator
@inline function quad(x: usize): v128 {
  const v = v128.load64_splat(x);
  return i8x16.narrow_i16x8_s(v, v);
}

/**
 * Relaxed build: h + [col 0 k0-1, col 0 k2-3, col 1 k0-1, ..., col 3 k2-3] of one k-quad, the
 * int8 activations x against a panel's codes w (i16x8.relaxed_dot_i8x16_i7x16_s: the codes are
 * 0..2, so the result is exact, |pair| <= 508, and CHUNK bytes of a panel (64 quads) stay within
 * int16 before i32x4.extadd_pairwise_i16x8_s widens them to the 4 columns' sums).
 */
// @ts-ignore: decorator
@inline function pairDot(h: v128, x: v128, w: v128): v128 {
  return i16x8.add(h, i16x8.relaxed_dot_i8x16_i7x16_s(x, w));
}
const CHUNK: usize = 64 * 16;

/** Baseline build: acc + i32x4.dot_i16x8_s(x, w), lanes [col a k0-1, col a k2-3, col b k0-1, col b k2-3]. */
// @ts-ignore: decorator
@inline function quadDot(acc: v128, x: v128, w: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(x, w));
}

/** [a0 + a1, a2 + a3, b0 + b1, b2 + b3]: the 4 columns' sums of a baseline-build lo/hi pair. */
// @ts-ignore: decorator
@inline function quadSums(lo: v128, hi: v128): v128 {
  return i32x4.add(v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), v128.shuffle<i32>(lo, hi, 1, 3, 5, 7));
}

/** Row m of a tile: f32(sums - rowsum) * scale[m] * alpha (+ y) for its first c0 (1..4) and next c1 (<= 4) columns. */
// @ts-ignore: decorator
@inline function store2(lo: v128, hi: v128, sum: i32, scale: usize, alpha: f32, m: i32, dst: usize, c0: i32, c1: i32, accumulate: bool): void {
  const s = load<f32>(scale + <usize>m * 4) * alpha;
  const rs = i32x4.splat(sum);
  store4(i32x4.sub(lo, rs), s, dst, c0, accumulate);
  if (c1 > 0) store4(i32x4.sub(hi, rs), s, dst + 16, c1, accumulate);
}

/**
 * Y[m, n] (+)= scale[m] * alpha * sum_k q[m, k] * t[n, k] for rows [start, end) of Y (ldy).
 * q: int16 M x Kp (quantize_rows_i8), Kp a multiple of 64; w: u8 codes t + 1 in panels of 4
 * columns (ternary_unpack_codes). sum_k q c = sum_k q t + sum_k q, so each row's sum is
 * subtracted. Register blocks of 8 columns (2 panels), no horizontal sum in the inner loop.
 * Relaxed build: 4 rows a block, i8 dot products of 4 activations x 4 codes, pairs summed in
 * int16 lanes a chunk at a time; baseline build: 2 rows a block (the widened codes put each
 * column's k-pairs in 2 lanes, so 16 accumulators of half sums fill the registers).
 */
export function ternary_matmul_i16(
  q: usize, scale: usize, w: usize, alpha: f32, y: usize, ldy: i32, M: i32, N: i32, Kp: i32,
  accumulate: i32, start: i32, end: i32,
): void {
  const acc = accumulate != 0;
  const rowBytes = <usize>Kp * 2;
  const panelBytes = <usize>Kp * 4;
  const rs = <usize>ldy * 4;
  if (ASC_FEATURE_RELAXED_SIMD) {
    for (let m = start; m < end; m += 4) {
      const x0 = q + <usize>m * rowBytes;
      const x1 = m + 1 < end ? x0 + rowBytes : x0;
      const x2 = m + 2 < end ? x0 + 2 * rowBytes : x0;
      const x3 = m + 3 < end ? x0 + 3 * rowBytes : x0;
      const s0 = rowSum(x0, rowBytes), s1 = rowSum(x1, rowBytes), s2 = rowSum(x2, rowBytes), s3 = rowSum(x3, rowBytes);
      for (let n = 0; n < N; n += 8) {
        const w0 = w + <usize>(n >> 2) * panelBytes;
        const w1 = n + 4 < N ? w0 + panelBytes : w0;
        let a00 = i32x4.splat(0), a01 = i32x4.splat(0), a10 = i32x4.splat(0), a11 = i32x4.splat(0);
        let a20 = i32x4.splat(0), a21 = i32x4.splat(0), a30 = i32x4.splat(0), a31 = i32x4.splat(0);
        for (let k0: usize = 0; k0 < panelBytes; k0 += CHUNK) {
          const k1 = min(panelBytes, k0 + CHUNK);
          let h00 = i16x8.splat(0), h01 = i16x8.splat(0), h10 = i16x8.splat(0), h11 = i16x8.splat(0);
          let h20 = i16x8.splat(0), h21 = i16x8.splat(0), h30 = i16x8.splat(0), h31 = i16x8.splat(0);
          for (let k = k0; k < k1; k += 16) {
            const v0 = v128.load(w0 + k);
            const v1 = v128.load(w1 + k);
            let x = quad(x0 + (k >> 1));
            h00 = pairDot(h00, x, v0);
            h01 = pairDot(h01, x, v1);
            x = quad(x1 + (k >> 1));
            h10 = pairDot(h10, x, v0);
            h11 = pairDot(h11, x, v1);
            x = quad(x2 + (k >> 1));
            h20 = pairDot(h20, x, v0);
            h21 = pairDot(h21, x, v1);
            x = quad(x3 + (k >> 1));
            h30 = pairDot(h30, x, v0);
            h31 = pairDot(h31, x, v1);
          }
          a00 = i32x4.add(a00, i32x4.extadd_pairwise_i16x8_s(h00));
          a01 = i32x4.add(a01, i32x4.extadd_pairwise_i16x8_s(h01));
          a10 = i32x4.add(a10, i32x4.extadd_pairwise_i16x8_s(h10));
          a11 = i32x4.add(a11, i32x4.extadd_pairwise_i16x8_s(h11));
          a20 = i32x4.add(a20, i32x4.extadd_pairwise_i16x8_s(h20));
          a21 = i32x4.add(a21, i32x4.extadd_pairwise_i16x8_s(h21));
          a30 = i32x4.add(a30, i32x4.extadd_pairwise_i16x8_s(h30));
          a31 = i32x4.add(a31, i32x4.extadd_pairwise_i16x8_s(h31));
        }
        const c0 = min(4, N - n), c1 = min(4, N - n - 4);
        const d = y + (<usize>m * <usize>ldy + <usize>n) * 4;
        store2(a00, a01, s0, scale, alpha, m, d, c0, c1, acc);
        if (m + 1 < end) store2(a10, a11, s1, scale, alpha, m + 1, d + rs, c0, c1, acc);
        if (m + 2 < end) store2(a20, a21, s2, scale, alpha, m + 2, d + 2 * rs, c0, c1, acc);
        if (m + 3 < end) store2(a30, a31, s3, scale, alpha, m + 3, d + 3 * rs, c0, c1, acc);
      }
    }
  } else {
    for (let m = start; m < end; m += 2) {
      const x0 = q + <usize>m * rowBytes;
      const x1 = m + 1 < end ? x0 + rowBytes : x0;
      const s0 = rowSum(x0, rowBytes), s1 = rowSum(x1, rowBytes);
      for (let n = 0; n < N; n += 8) {
        const w0 = w + <usize>(n >> 2) * panelBytes;
        const w1 = n + 4 < N ? w0 + panelBytes : w0;
        let l00 = i32x4.splat(0), h00 = i32x4.splat(0), l01 = i32x4.splat(0), h01 = i32x4.splat(0);
        let l10 = i32x4.splat(0), h10 = i32x4.splat(0), l11 = i32x4.splat(0), h11 = i32x4.splat(0);
        for (let k: usize = 0; k < panelBytes; k += 16) {
          const b0 = v128.load(w0 + k), b1 = v128.load(w1 + k);
          const v0 = i16x8.extend_low_i8x16_u(b0), u0 = i16x8.extend_high_i8x16_u(b0);
          const v1 = i16x8.extend_low_i8x16_u(b1), u1 = i16x8.extend_high_i8x16_u(b1);
          let x = v128.load64_splat(x0 + (k >> 1));
          l00 = quadDot(l00, x, v0);
          h00 = quadDot(h00, x, u0);
          l01 = quadDot(l01, x, v1);
          h01 = quadDot(h01, x, u1);
          x = v128.load64_splat(x1 + (k >> 1));
          l10 = quadDot(l10, x, v0);
          h10 = quadDot(h10, x, u0);
          l11 = quadDot(l11, x, v1);
          h11 = quadDot(h11, x, u1);
        }
        const c0 = min(4, N - n), c1 = min(4, N - n - 4);
        const d = y + (<usize>m * <usize>ldy + <usize>n) * 4;
        store2(quadSums(l00, h00), quadSums(l01, h01), s0, scale, alpha, m, d, c0, c1, acc);
        if (m + 1 < end) store2(quadSums(l10, h10), quadSums(l11, h11), s1, scale, alpha, m + 1, d + rs, c0, c1, acc);
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
