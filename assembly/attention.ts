// Kernels of training-time attention: fused causal attention (FlashAttention-style forward and
// backward, never a T x T matrix) and rotary position embedding over whole sequences.
//
// Shapes: q, o (B, T, heads*hd); k, v (B, T, kvHeads*hd); lse (B, heads, T). Query head h reads
// KV head h / group (group = heads / kvHeads). Work is split over (batch, head) tasks.
//
// Both passes work on tiles of BR query rows against blocks of up to BC keys. Per task the keys
// (and values) of its KV head are first copied into per-thread scratch in the layouts the tile
// products read: "panels" (transposed, 8 keys wide: panel p holds hd rows of the 8 floats of
// keys 8p..8p+7) for the products with a query tile, and rows padded to hp = hd rounded up to 8
// floats for the products that sum over keys. Padding keys and columns are zero, so the inner
// loops never need a tail.
import { dot, hmax, hsum, madd } from './simd';

/** Query rows per tile. */
const BR = 4;
/** Keys per block: a tile's scores are BR x BC floats. */
const BC = 64;

// @ts-ignore: decorator
@inline function roundUp(n: i32, m: i32): i32 {
  return (n + m - 1) / m * m;
}

/**
 * Floats of per-thread scratch the forward (backward = 0) or backward pass needs for sequences
 * of T positions and heads of hd floats (every part a multiple of 4 floats, so 16-byte aligned).
 */
export function attention_scratch_floats(T: i32, hd: i32, backward: i32): i32 {
  const tp = roundUp(T, 8), hp = roundUp(hd, 8), tile = BR * hp;
  // forward: key panels, value rows, query tile, output tile, scores, m / l / alpha per row
  if (backward == 0) return tp * hd + tp * hp + 2 * tile + BR * BC + 3 * BR;
  // backward: key and value panels, key rows, dK and dV rows, query / dO / dQ tiles and the
  // query and dO tiles transposed, P and dP tiles, L / D / ones per row
  return 2 * tp * hd + 3 * tp * hp + 5 * tile + 2 * BR * BC + 3 * BR;
}

/** Lanes [p[0], p[ld], p[2 ld], p[3 ld]]: one float from each of four rows ld bytes apart. */
// @ts-ignore: decorator
@inline function gather4(p: usize, ld: usize): v128 {
  let v = v128.load32_zero(p);
  v = v128.load32_lane(p + ld, v, 1);
  v = v128.load32_lane(p + 2 * ld, v, 2);
  return v128.load32_lane(p + 3 * ld, v, 3);
}

/**
 * Four rows turned into lanes: dst[d * stride + r * 4 bytes] = s * row_r[d] for r < 4, d < hd,
 * row r at src + r * ld bytes; rows from `rows` on (rows may be <= 0) are zero.
 */
// @ts-ignore: decorator
@inline function transpose4(src: usize, ld: usize, rows: i32, hd: i32, s: f32, dst: usize, stride: usize): void {
  if (rows >= 4) {
    const s4 = f32x4.splat(s);
    for (let d = 0; d < hd; d++) v128.store(dst + <usize>d * stride, f32x4.mul(gather4(src + <usize>d * 4, ld), s4));
    return;
  }
  for (let d = 0; d < hd; d++) {
    for (let r = 0; r < 4; r++) {
      store<f32>(dst + <usize>d * stride + <usize>r * 4, r < rows ? load<f32>(src + <usize>r * ld + <usize>d * 4) * s : 0);
    }
  }
}

/** Panels of T rows (row j at src + j * ld bytes, hd floats each) into dst, zero up to tp rows. */
// @ts-ignore: decorator
@inline function packPanels(src: usize, ld: usize, T: i32, tp: i32, hd: i32, dst: usize): void {
  for (let j = 0; j < tp; j += 4) {
    transpose4(src + <usize>j * ld, ld, T - j, hd, 1, dst + <usize>(j >> 3) * <usize>hd * 32 + <usize>(j & 4) * 4, 32);
  }
}

/** Rows: dst (tp x hp) = src rows (T of hd floats, stride ld bytes), scaled by s, zero padded. */
// @ts-ignore: decorator
@inline function packRows(src: usize, ld: usize, T: i32, tp: i32, hd: i32, hp: i32, s: f32, dst: usize): void {
  const s4 = f32x4.splat(s);
  for (let j = 0; j < tp; j++) {
    const row = src + <usize>j * ld;
    const out = dst + <usize>j * <usize>hp * 4;
    let d = 0;
    if (j < T) {
      for (; d + 4 <= hd; d += 4) v128.store(out + <usize>d * 4, f32x4.mul(v128.load(row + <usize>d * 4), s4));
      for (; d < hd; d++) store<f32>(out + <usize>d * 4, load<f32>(row + <usize>d * 4) * s);
    }
    for (; d < hp; d++) store<f32>(out + <usize>d * 4, 0);
  }
}

/** dst (rows < n of hd floats, stride ld bytes) (+)= s * src (rows of hp floats). */
// @ts-ignore: decorator
@inline function unpackRows(src: usize, hp: i32, n: i32, hd: i32, s: f32, dst: usize, ld: usize, accumulate: bool): void {
  const s4 = f32x4.splat(s);
  for (let j = 0; j < n; j++) {
    const from = src + <usize>j * <usize>hp * 4;
    const to = dst + <usize>j * ld;
    let d = 0;
    for (; d + 4 <= hd; d += 4) {
      const o = <usize>d * 4;
      let x = f32x4.mul(v128.load(from + o), s4);
      if (accumulate) x = f32x4.add(x, v128.load(to + o));
      v128.store(to + o, x);
    }
    for (; d < hd; d++) {
      const o = <usize>d * 4;
      let x = load<f32>(from + o) * s;
      if (accumulate) x += load<f32>(to + o);
      store<f32>(to + o, x);
    }
  }
}

/**
 * s[r][c] = sum_d a[d][r] * key(c)[d] for r < BR and the n keys (n a multiple of 8) whose panels
 * start at panels: a transposed query tile (transpose4) times a block of keys, 4 x 8 at a time.
 */
// @ts-ignore: decorator
@inline function tileScores(a: usize, panels: usize, hd: i32, n: i32, s: usize): void {
  let p = panels;
  for (let c = 0; c < n; c += 8) {
    let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
    let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s30 = f32x4.splat(0), s31 = f32x4.splat(0);
    let x = a;
    const pEnd = p + <usize>hd * 32;
    while (p < pEnd) {
      const k0 = v128.load(p), k1 = v128.load(p, 16);
      let xr = v128.load32_splat(x);
      s00 = madd(xr, k0, s00); s01 = madd(xr, k1, s01);
      xr = v128.load32_splat(x, 4);
      s10 = madd(xr, k0, s10); s11 = madd(xr, k1, s11);
      xr = v128.load32_splat(x, 8);
      s20 = madd(xr, k0, s20); s21 = madd(xr, k1, s21);
      xr = v128.load32_splat(x, 12);
      s30 = madd(xr, k0, s30); s31 = madd(xr, k1, s31);
      p += 32;
      x += 16;
    }
    const out = s + <usize>c * 4;
    v128.store(out, s00); v128.store(out, s01, 16);
    v128.store(out, s10, BC * 4); v128.store(out, s11, BC * 4 + 16);
    v128.store(out, s20, 2 * BC * 4); v128.store(out, s21, 2 * BC * 4 + 16);
    v128.store(out, s30, 3 * BC * 4); v128.store(out, s31, 3 * BC * 4 + 16);
  }
}

/**
 * acc[r] = acc[r] * alpha[r] + sum_{c<n} w[r][c] * x[c] for r < BR: a weight tile (BR x BC)
 * times n rows of hp floats starting at x (values, or keys for dQ); acc is BR rows of hp floats.
 */
// @ts-ignore: decorator
@inline function tileWeightedSum(w: usize, x: usize, hp: i32, n: i32, alpha: usize, acc: usize): void {
  const al0 = v128.load32_splat(alpha), al1 = v128.load32_splat(alpha, 4);
  const al2 = v128.load32_splat(alpha, 8), al3 = v128.load32_splat(alpha, 12);
  const rowBytes = <usize>hp * 4;
  for (let i = 0; i < hp; i += 8) {
    const o0 = acc + <usize>i * 4, o1 = o0 + rowBytes, o2 = o1 + rowBytes, o3 = o2 + rowBytes;
    let a00 = f32x4.mul(v128.load(o0), al0), a01 = f32x4.mul(v128.load(o0, 16), al0);
    let a10 = f32x4.mul(v128.load(o1), al1), a11 = f32x4.mul(v128.load(o1, 16), al1);
    let a20 = f32x4.mul(v128.load(o2), al2), a21 = f32x4.mul(v128.load(o2, 16), al2);
    let a30 = f32x4.mul(v128.load(o3), al3), a31 = f32x4.mul(v128.load(o3, 16), al3);
    let xc = x + <usize>i * 4;
    let wc = w;
    const wEnd = w + <usize>n * 4;
    while (wc < wEnd) {
      const x0 = v128.load(xc), x1 = v128.load(xc, 16);
      let wr = v128.load32_splat(wc);
      a00 = madd(wr, x0, a00); a01 = madd(wr, x1, a01);
      wr = v128.load32_splat(wc, BC * 4);
      a10 = madd(wr, x0, a10); a11 = madd(wr, x1, a11);
      wr = v128.load32_splat(wc, 2 * BC * 4);
      a20 = madd(wr, x0, a20); a21 = madd(wr, x1, a21);
      wr = v128.load32_splat(wc, 3 * BC * 4);
      a30 = madd(wr, x0, a30); a31 = madd(wr, x1, a31);
      xc += rowBytes;
      wc += 4;
    }
    v128.store(o0, a00); v128.store(o0, a01, 16);
    v128.store(o1, a10); v128.store(o1, a11, 16);
    v128.store(o2, a20); v128.store(o2, a21, 16);
    v128.store(o3, a30); v128.store(o3, a31, 16);
  }
}

/**
 * y[c] += sum_{r<BR} w[r][c] * a[r] for c < n: the transposed product of a weight tile (BR x BC)
 * with a tile of BR rows (lda bytes apart, hp floats read), added into n rows of hp floats (dK and dV).
 */
// @ts-ignore: decorator
@inline function tileOuterAdd(w: usize, a: usize, lda: usize, hp: i32, n: i32, y: usize): void {
  const rowBytes = <usize>hp * 4;
  for (let i = 0; i < hp; i += 8) {
    const r0 = a + <usize>i * 4, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda;
    const a00 = v128.load(r0), a01 = v128.load(r0, 16), a10 = v128.load(r1), a11 = v128.load(r1, 16);
    const a20 = v128.load(r2), a21 = v128.load(r2, 16), a30 = v128.load(r3), a31 = v128.load(r3, 16);
    let yc = y + <usize>i * 4;
    let wc = w;
    const wEnd = w + <usize>n * 4;
    while (wc < wEnd) {
      const w0 = v128.load32_splat(wc), w1 = v128.load32_splat(wc, BC * 4);
      const w2 = v128.load32_splat(wc, 2 * BC * 4), w3 = v128.load32_splat(wc, 3 * BC * 4);
      let y0 = v128.load(yc), y1 = v128.load(yc, 16);
      y0 = madd(w0, a00, y0); y1 = madd(w0, a01, y1);
      y0 = madd(w1, a10, y0); y1 = madd(w1, a11, y1);
      y0 = madd(w2, a20, y0); y1 = madd(w2, a21, y1);
      y0 = madd(w3, a30, y0); y1 = madd(w3, a31, y1);
      v128.store(yc, y0); v128.store(yc, y1, 16);
      yc += rowBytes;
      wc += 4;
    }
  }
}

/**
 * e^x for four lanes where x <= 0 (a score minus its row's max or log-sum-exp). n = round(x / ln2)
 * by the 1.5 * 2^23 trick (t's low bits then hold n), x = n ln2 + r (Cody-Waite), e^r by its
 * degree-6 Taylor polynomial in Estrin's form (a shorter dependency chain than Horner's), 2^n put
 * into the exponent bits. Below -87, e^x comes out about 2^-126 (x = -inf included). Only the
 * lower clamp is needed, and pmax is one instruction where max is a NaN-aware sequence.
 */
// @ts-ignore: decorator
@inline function expNonPositive4(x: v128): v128 {
  const magic = f32x4.splat(12582912);
  x = f32x4.pmax(x, f32x4.splat(-87));
  const t = madd(x, f32x4.splat(1.44269504088896341), magic);
  const n = f32x4.sub(t, magic);
  let r = madd(n, f32x4.splat(-0.693359375), x);
  r = madd(n, f32x4.splat(2.12194440e-4), r);
  const r2 = f32x4.mul(r, r);
  // (1 + r) + r^2 (1/2 + r/6) + r^4 (1/24 + r/120 + r^2/720)
  const low = madd(r2, madd(r, f32x4.splat(1.0 / 6.0), f32x4.splat(0.5)), f32x4.add(r, f32x4.splat(1)));
  const high = madd(r2, f32x4.splat(1.0 / 720.0), madd(r, f32x4.splat(1.0 / 120.0), f32x4.splat(1.0 / 24.0)));
  const p = madd(f32x4.mul(r2, r2), high, low);
  // t's bits are those of 1.5 * 2^23 (0x4b400000) plus n.
  return f32x4.mul(p, i32x4.shl(i32x4.add(t, i32x4.splat(127 - 0x4b400000)), 23));
}

/** All-ones lanes where c + lane < valid: the lanes of the group at c that the causal mask keeps. */
// @ts-ignore: decorator
@inline function lanesBelow(c: i32, valid: i32): v128 {
  return i32x4.lt_s(i32x4.add(i32x4(0, 1, 2, 3), i32x4.splat(c)), i32x4.splat(valid));
}

/** Largest of row[0..valid) (-inf when valid = 0); row is readable in whole groups of 4. */
// @ts-ignore: decorator
@inline function rowMax(row: usize, valid: i32): f32 {
  let m4 = f32x4.splat(-Infinity);
  let c = 0;
  for (; c + 4 <= valid; c += 4) m4 = f32x4.pmax(m4, v128.load(row + <usize>c * 4));
  if (c < valid) m4 = f32x4.pmax(m4, v128.bitselect(v128.load(row + <usize>c * 4), f32x4.splat(-Infinity), lanesBelow(c, valid)));
  return hmax(m4);
}

/**
 * row[c] = e^(row[c] - shift) for c < valid, 0 for valid <= c < n (n a multiple of 8): the
 * causal mask and the padding keys become exact zeros. Returns the row's sum.
 */
// @ts-ignore: decorator
@inline function expMasked(row: usize, valid: i32, n: i32, shift: f32): f32 {
  const sh = f32x4.splat(shift);
  let sum4 = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= valid; c += 4) {
    const e = expNonPositive4(f32x4.sub(v128.load(row + <usize>c * 4), sh));
    v128.store(row + <usize>c * 4, e);
    sum4 = f32x4.add(sum4, e);
  }
  if (c < valid) {
    // The group the causal boundary cuts.
    const e = v128.and(expNonPositive4(f32x4.sub(v128.load(row + <usize>c * 4), sh)), lanesBelow(c, valid));
    v128.store(row + <usize>c * 4, e);
    sum4 = f32x4.add(sum4, e);
    c += 4;
  }
  for (; c < n; c += 4) v128.store(row + <usize>c * 4, f32x4.splat(0));
  return hsum(sum4);
}

/**
 * Forward of causal attention for tasks [start, end) of B * heads (task = b * heads + h):
 * o_i = sum_{j<=i} softmax_j(scale q_i . k_j) v_j, and lse_i = log sum_{j<=i} e^(scale q_i . k_j),
 * the one number per row the backward pass needs to rebuild the weights. Keys come in blocks of
 * BC with an online softmax: a running max m and sum l per row; when a block raises the max, the
 * output so far and l shrink by alpha = e^(m_old - m_new).
 */
export function attention_forward(
  q: usize, k: usize, v: usize, o: usize, lse: usize, T: i32, hd: i32, heads: i32, kvHeads: i32, scale: f32,
  scratch: usize, scratchFloats: i32, start: i32, end: i32, tid: i32,
): void {
  const tp = roundUp(T, 8), hp = roundUp(hd, 8), group = heads / kvHeads;
  const qLd = <usize>heads * <usize>hd * 4, kvLd = <usize>kvHeads * <usize>hd * 4;
  // This thread's scratch, in the order of attention_scratch_floats.
  const panelBytes = <usize>tp * <usize>hd * 4, rowsBytes = <usize>tp * <usize>hp * 4, tileBytes = <usize>BR * <usize>hp * 4;
  const kPanels = scratch + <usize>tid * <usize>scratchFloats * 4, vRows = kPanels + panelBytes;
  const qTile = vRows + rowsBytes, oTile = qTile + tileBytes, sTile = oTile + tileBytes;
  const mRow = sTile + BR * BC * 4, lRow = mRow + BR * 4, alphaRow = lRow + BR * 4;
  for (let task = start; task < end; task++) {
    const b = task / heads, h = task % heads;
    const qh = q + <usize>b * <usize>T * qLd + <usize>h * <usize>hd * 4;
    const oh = o + <usize>b * <usize>T * qLd + <usize>h * <usize>hd * 4;
    const kvOff = <usize>b * <usize>T * kvLd + <usize>(h / group) * <usize>hd * 4;
    const lh = lse + <usize>task * <usize>T * 4;
    packPanels(k + kvOff, kvLd, T, tp, hd, kPanels);
    packRows(v + kvOff, kvLd, T, tp, hd, hp, 1, vRows);
    for (let i0 = 0; i0 < T; i0 += BR) {
      // The scale goes into the query tile; rows past T are zeros (their results are dropped).
      transpose4(qh + <usize>i0 * qLd, qLd, T - i0, hd, scale, qTile, BR * 4);
      memory.fill(oTile, 0, <usize>BR * <usize>hp * 4);
      for (let r = 0; r < BR; r++) {
        store<f32>(mRow + <usize>r * 4, -Infinity);
        store<f32>(lRow + <usize>r * 4, 0);
      }
      const nk = min(i0 + BR, T);
      for (let j0 = 0; j0 < nk; j0 += BC) {
        const bc = min(BC, nk - j0), n = roundUp(bc, 8);
        tileScores(qTile, kPanels + <usize>j0 * <usize>hd * 4, hd, n, sTile);
        // Row i0 + r sees keys 0..i0 + r; padding rows see what the last row sees.
        const mOld = v128.load(mRow), lOld = v128.load(lRow);
        for (let r = 0; r < BR; r++) {
          const valid = min(max(min(i0 + r, T - 1) + 1 - j0, 0), bc);
          const m = max(load<f32>(mRow + <usize>r * 4), rowMax(sTile + <usize>(r * BC) * 4, valid));
          store<f32>(mRow + <usize>r * 4, m);
          store<f32>(lRow + <usize>r * 4, expMasked(sTile + <usize>(r * BC) * 4, valid, n, m));
        }
        const alpha = expNonPositive4(f32x4.sub(mOld, v128.load(mRow)));
        v128.store(alphaRow, alpha);
        v128.store(lRow, madd(lOld, alpha, v128.load(lRow)));
        tileWeightedSum(sTile, vRows + <usize>j0 * <usize>hp * 4, hp, n, alphaRow, oTile);
      }
      for (let r = 0; r < min(BR, T - i0); r++) {
        const l = load<f32>(lRow + <usize>r * 4);
        unpackRows(oTile + <usize>(r * hp) * 4, hp, 1, hd, 1 / l, oh + <usize>(i0 + r) * qLd, qLd, false);
        store<f32>(lh + <usize>(i0 + r) * 4, load<f32>(mRow + <usize>r * 4) + Mathf.log(l));
      }
    }
  }
}

/**
 * Backward of attention_forward for tasks [start, end) of B * kvHeads (task = b * kvHeads + g): a
 * task owns KV head g and all its query heads, so its dK and dV rows are its own. With
 * P_ij = e^(scale q_i . k_j - lse_i) (j <= i) and D_i = dO_i . o_i:
 *   dV_j += P_ij dO_i,  dP_ij = dO_i . v_j,  dS_ij = P_ij (dP_ij - D_i),
 *   dQ_i += scale dS_ij k_j,  dK_j += scale dS_ij q_i.
 * dq, dk, dv: 0 skips that gradient; flags bit 0/1/2: add into dq/dk/dv instead of overwriting.
 * Within a task dq is written before dk and dk before dv, so when two of them are one buffer
 * the later ones must add (the binding sets their flags so).
 */
export function attention_backward(
  q: usize, k: usize, v: usize, o: usize, dout: usize, lse: usize, dq: usize, dk: usize, dv: usize,
  T: i32, hd: i32, heads: i32, kvHeads: i32, scale: f32, flags: i32,
  scratch: usize, scratchFloats: i32, start: i32, end: i32, tid: i32,
): void {
  const tp = roundUp(T, 8), hp = roundUp(hd, 8), group = heads / kvHeads;
  const qLd = <usize>heads * <usize>hd * 4, kvLd = <usize>kvHeads * <usize>hd * 4;
  // This thread's scratch, in the order of attention_scratch_floats.
  const panelBytes = <usize>tp * <usize>hd * 4, rowsBytes = <usize>tp * <usize>hp * 4, tileBytes = <usize>BR * <usize>hp * 4;
  const kPanels = scratch + <usize>tid * <usize>scratchFloats * 4, vPanels = kPanels + panelBytes;
  const kRows = vPanels + panelBytes, dkRows = kRows + rowsBytes, dvRows = dkRows + rowsBytes;
  const qTile = dvRows + rowsBytes, doTile = qTile + tileBytes, dqTile = doTile + tileBytes;
  const qTileT = dqTile + tileBytes, doTileT = qTileT + tileBytes, pTile = doTileT + tileBytes;
  const dpTile = pTile + BR * BC * 4, lRow = dpTile + BR * BC * 4, dRow = lRow + BR * 4, ones = dRow + BR * 4;
  v128.store(ones, f32x4.splat(1));
  const wantDq = dq != 0, wantDk = dk != 0, wantDv = dv != 0, wantDp = wantDq || wantDk;
  for (let task = start; task < end; task++) {
    const b = task / kvHeads, g = task % kvHeads;
    const kvOff = <usize>b * <usize>T * kvLd + <usize>g * <usize>hd * 4;
    packPanels(k + kvOff, kvLd, T, tp, hd, kPanels);
    if (wantDp) packPanels(v + kvOff, kvLd, T, tp, hd, vPanels);
    if (wantDq) packRows(k + kvOff, kvLd, T, tp, hd, hp, 1, kRows);
    memory.fill(dkRows, 0, <usize>tp * <usize>hp * 4 * 2);
    for (let h = g * group; h < (g + 1) * group; h++) {
      const qOff = <usize>b * <usize>T * qLd + <usize>h * <usize>hd * 4;
      const lh = lse + <usize>(b * heads + h) * <usize>T * 4;
      for (let i0 = 0; i0 < T; i0 += BR) {
        const rows = min(BR, T - i0);
        const rowOff = qOff + <usize>i0 * qLd;
        // q scaled, as in the forward pass: its scores are then q_s . k.
        transpose4(q + rowOff, qLd, rows, hd, scale, qTileT, BR * 4);
        if (wantDp) transpose4(dout + rowOff, qLd, rows, hd, 1, doTileT, BR * 4);
        // dK and dV read rows of q and dO 8 floats at a time: in place when that stays inside
        // the rows, else from zero-padded copies. (dK takes scale * q when it is written out.)
        let qRows = q + rowOff, doRows = dout + rowOff, ldRows = qLd;
        if ((hd & 7) != 0 || rows < BR) {
          qRows = qTile;
          doRows = doTile;
          ldRows = <usize>hp * 4;
          if (wantDk) packRows(q + rowOff, qLd, rows, BR, hd, hp, 1, qTile);
          if (wantDv) packRows(dout + rowOff, qLd, rows, BR, hd, hp, 1, doTile);
        }
        if (wantDq) memory.fill(dqTile, 0, <usize>BR * <usize>hp * 4);
        for (let r = 0; r < BR; r++) {
          const live = r < rows;
          store<f32>(lRow + <usize>r * 4, live ? load<f32>(lh + <usize>(i0 + r) * 4) : 0);
          store<f32>(dRow + <usize>r * 4, live ? dot(dout + rowOff + <usize>r * qLd, o + rowOff + <usize>r * qLd, hd) : 0);
        }
        const nk = min(i0 + BR, T);
        for (let j0 = 0; j0 < nk; j0 += BC) {
          const bc = min(BC, nk - j0), n = roundUp(bc, 8);
          tileScores(qTileT, kPanels + <usize>j0 * <usize>hd * 4, hd, n, pTile);
          for (let r = 0; r < BR; r++) {
            // Padding rows (past T) get no weight at all.
            const valid = r < rows ? min(max(i0 + r + 1 - j0, 0), bc) : 0;
            expMasked(pTile + <usize>(r * BC) * 4, valid, n, load<f32>(lRow + <usize>r * 4));
          }
          if (wantDv) tileOuterAdd(pTile, doRows, ldRows, hp, n, dvRows + <usize>j0 * <usize>hp * 4);
          if (!wantDp) continue;
          tileScores(doTileT, vPanels + <usize>j0 * <usize>hd * 4, hd, n, dpTile);
          for (let r = 0; r < BR; r++) {
            const p = pTile + <usize>(r * BC) * 4, ds = dpTile + <usize>(r * BC) * 4;
            const d4 = v128.load32_splat(dRow + <usize>r * 4);
            for (let c = 0; c < n; c += 4) {
              const at = <usize>c * 4;
              v128.store(ds + at, f32x4.mul(v128.load(p + at), f32x4.sub(v128.load(ds + at), d4)));
            }
          }
          if (wantDk) tileOuterAdd(dpTile, qRows, ldRows, hp, n, dkRows + <usize>j0 * <usize>hp * 4);
          if (wantDq) tileWeightedSum(dpTile, kRows + <usize>j0 * <usize>hp * 4, hp, n, ones, dqTile);
        }
        if (wantDq) unpackRows(dqTile, hp, rows, hd, scale, dq + rowOff, qLd, (flags & 1) != 0);
      }
    }
    if (wantDk) unpackRows(dkRows, hp, T, hd, scale, dk + kvOff, kvLd, (flags & 2) != 0);
    if (wantDv) unpackRows(dvRows, hp, T, hd, 1, dv + kvOff, kvLd, (flags & 4) != 0);
  }
}

/**
 * Rotary embedding of rows [start, end) of x (rows = B * T, position t = row % T; heads of hd
 * floats) into y, with the table of rope_rotate (row t: hd cosines [c0, c0, c1, c1, ...] then hd
 * signed sines [-s0, s0, -s1, s1, ...]): y = x cos + swap_pairs(x) sin. inverse != 0 turns by
 * the opposite angle (the backward pass: the transpose of a rotation); accumulate adds into y.
 */
export function rope_forward(
  x: usize, table: usize, y: usize, T: i32, heads: i32, hd: i32, inverse: i32, accumulate: i32, start: i32, end: i32,
): void {
  const sign: f32 = inverse != 0 ? -1 : 1;
  const sign4 = f32x4.splat(sign);
  const rowBytes = <usize>heads * <usize>hd * 4;
  for (let r = start; r < end; r++) {
    const cos = table + <usize>(r % T) * <usize>hd * 8, sin = cos + <usize>hd * 4;
    const xr = x + <usize>r * rowBytes, yr = y + <usize>r * rowBytes;
    for (let h = 0; h < heads; h++) {
      const xh = xr + <usize>h * <usize>hd * 4, yh = yr + <usize>h * <usize>hd * 4;
      let i = 0;
      for (; i + 4 <= hd; i += 4) {
        const at = <usize>i * 4;
        const xv = v128.load(xh + at);
        const swapped = f32x4.mul(v128.shuffle<u32>(xv, xv, 1, 0, 3, 2), sign4);
        let out = madd(swapped, v128.load(sin + at), f32x4.mul(xv, v128.load(cos + at)));
        if (accumulate != 0) out = f32x4.add(out, v128.load(yh + at));
        v128.store(yh + at, out);
      }
      for (; i < hd; i += 2) {
        const at = <usize>i * 4;
        const a = load<f32>(xh + at), b = load<f32>(xh + at + 4);
        const c = load<f32>(cos + at), s = load<f32>(sin + at + 4) * sign;
        let ya = a * c - b * s, yb = a * s + b * c;
        if (accumulate != 0) {
          ya += load<f32>(yh + at);
          yb += load<f32>(yh + at + 4);
        }
        store<f32>(yh + at, ya);
        store<f32>(yh + at + 4, yb);
      }
    }
  }
}
