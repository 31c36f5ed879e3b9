// f32 GEMM: C (+)= A . B with any transposes, through packed panels and a 4x8 register block.
// Element (i,k) of A lives at a + 4*(i*sai + k*sak); element (k,j) of B at b + 4*(k*sbk + j*sbj),
// so a transpose is only a swap of strides. C is row-major with leading dimension ldc.
import { madd } from './simd';

const KC: i32 = 512; // depth of one block: a 4 x KC slice of A and a KC x 8 panel of B stay in L1
const MC: i32 = 64; // rows of A packed at once (MC x KC floats = 128 KiB, in L2)

/** Floats of per-thread scratch gemm_compute needs (packed A block plus an edge tile). */
export function gemm_scratch_floats(): i32 {
  return MC * KC + 32;
}

/**
 * Pack B (K x N) into panels of 8 columns, k-major: packed[(p*K + k)*8 + jj] = B(k, 8p + jj),
 * zero past column N. Parallel over panels [start, end).
 */
export function gemm_pack_b(b: usize, sbk: i32, sbj: i32, K: i32, N: i32, packed: usize, start: i32, end: i32): void {
  for (let p = start; p < end; p++) {
    const j0 = p * 8;
    const cols = min(8, N - j0);
    let dst = packed + <usize>p * <usize>K * 32;
    if (sbj == 1 && cols == 8) {
      let src = b + <usize>j0 * 4;
      const step = <usize>sbk * 4;
      for (let k = 0; k < K; k++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += step;
        dst += 32;
      }
    } else if (sbk == 1 && cols == 8) {
      // B is a transposed row-major matrix: column j of B is contiguous. Transpose 4x4 tiles.
      const col = <usize>sbj * 4;
      const base = b + <usize>j0 * col;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        for (let h = 0; h < 2; h++) {
          transpose4x4(base + <usize>(h * 4) * col + <usize>k * 4, col, dst + <usize>h * 16, 32);
        }
        dst += 128;
      }
      for (; k < K; k++) {
        for (let jj = 0; jj < 8; jj++) store<f32>(dst + jj * 4, load<f32>(base + <usize>jj * col + <usize>k * 4));
        dst += 32;
      }
    } else {
      for (let k = 0; k < K; k++) {
        for (let jj = 0; jj < 8; jj++) {
          let v: f32 = 0;
          if (jj < cols) v = load<f32>(b + (<usize>k * sbk + <usize>(j0 + jj) * sbj) * 4);
          store<f32>(dst + jj * 4, v);
        }
        dst += 32;
      }
    }
  }
}

/**
 * Read a 4x4 block (4 rows of 4 floats, rows srcStride bytes apart) and store its transpose
 * (4 rows dstStride bytes apart): the inner step of packing a panel across the grain.
 */
// @ts-ignore: decorator
@inline function transpose4x4(src: usize, srcStride: usize, dst: usize, dstStride: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + srcStride);
  const r2 = v128.load(src + 2 * srcStride);
  const r3 = v128.load(src + 3 * srcStride);
  const t0 = v128.shuffle<u32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<u32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<u32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<u32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<u64>(t0, t1, 0, 2));
  v128.store(dst + dstStride, v128.shuffle<u64>(t0, t1, 1, 3));
  v128.store(dst + 2 * dstStride, v128.shuffle<u64>(t2, t3, 0, 2));
  v128.store(dst + 3 * dstStride, v128.shuffle<u64>(t2, t3, 1, 3));
}

/** Pack rows [m0, m0+mc) x depth [k0, k0+kc) of A into 4-row blocks, k-major: pa[(rb*kc + k)*4 + r]. */
function packA(a: usize, sai: i32, sak: i32, m0: i32, mc: i32, k0: i32, kc: i32, pa: usize): void {
  for (let r0 = 0; r0 < mc; r0 += 4) {
    const rows = min(4, mc - r0);
    let dst = pa + <usize>r0 * <usize>kc * 4;
    const row0 = a + (<usize>(m0 + r0) * <usize>sai + <usize>k0 * <usize>sak) * 4;
    if (rows == 4 && sak == 1) {
      const rs = <usize>sai * 4;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        transpose4x4(row0 + <usize>k * 4, rs, dst, 16);
        dst += 64;
      }
      for (; k < kc; k++) {
        const s = row0 + <usize>k * 4;
        store<f32>(dst, load<f32>(s));
        store<f32>(dst, load<f32>(s + rs), 4);
        store<f32>(dst, load<f32>(s + 2 * rs), 8);
        store<f32>(dst, load<f32>(s + 3 * rs), 12);
        dst += 16;
      }
    } else if (rows == 4 && sai == 1) {
      const ks = <usize>sak * 4;
      let s = row0;
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(s));
        s += ks;
        dst += 16;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < 4; r++) {
          let v: f32 = 0;
          if (r < rows) v = load<f32>(row0 + (<usize>r * <usize>sai + <usize>k * <usize>sak) * 4);
          store<f32>(dst + r * 4, v);
        }
        dst += 16;
      }
    }
  }
}

/** 4x8 block: C[4, 8] (+)= pa (kc x 4, k-major) . pb (kc x 8, k-major). */
// @ts-ignore: decorator
@inline function micro4x8(pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, rows: i32, cols: i32, accumulate: bool, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    pa += 16;
    pb += 32;
  }
  const row = <usize>ldc * 4;
  if (rows == 4 && cols == 8) {
    if (accumulate) {
      c00 = f32x4.add(c00, v128.load(c));
      c01 = f32x4.add(c01, v128.load(c, 16));
      c10 = f32x4.add(c10, v128.load(c + row));
      c11 = f32x4.add(c11, v128.load(c + row, 16));
      c20 = f32x4.add(c20, v128.load(c + 2 * row));
      c21 = f32x4.add(c21, v128.load(c + 2 * row, 16));
      c30 = f32x4.add(c30, v128.load(c + 3 * row));
      c31 = f32x4.add(c31, v128.load(c + 3 * row, 16));
    }
    v128.store(c, c00);
    v128.store(c, c01, 16);
    v128.store(c + row, c10);
    v128.store(c + row, c11, 16);
    v128.store(c + 2 * row, c20);
    v128.store(c + 2 * row, c21, 16);
    v128.store(c + 3 * row, c30);
    v128.store(c + 3 * row, c31, 16);
    return;
  }
  // Edge block: spill to the tile, then copy the valid part.
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let r = 0; r < rows; r++) {
    const dst = c + <usize>r * row;
    for (let j = 0; j < cols; j++) {
      let v = load<f32>(tile + <usize>(r * 8 + j) * 4);
      if (accumulate) v += load<f32>(dst + <usize>j * 4);
      store<f32>(dst + <usize>j * 4, v);
    }
  }
}

/**
 * C (+)= A . B over packed B. With splitPanels = 0 the range [start, end) is rows of C (all
 * panels); with splitPanels = 1 it is panels of 8 columns (all rows), for short, wide products.
 * scratch holds gemm_scratch_floats() floats per thread, thread tid uses its own slice.
 */
export function gemm_compute(
  a: usize, sai: i32, sak: i32, packed: usize, c: usize, ldc: i32, M: i32, N: i32, K: i32,
  accumulate: i32, scratch: usize, splitPanels: i32, start: i32, end: i32, tid: i32,
): void {
  const pa = scratch + <usize>tid * <usize>gemm_scratch_floats() * 4;
  const tile = pa + <usize>(MC * KC) * 4;
  const panels = (N + 7) >> 3;
  let m0s = start, m1s = end, p0 = 0, p1 = panels;
  if (splitPanels != 0) {
    m0s = 0; m1s = M; p0 = start; p1 = end;
  }
  for (let k0 = 0; k0 < K; k0 += KC) {
    const kc = min(KC, K - k0);
    const acc = accumulate != 0 || k0 > 0;
    for (let m0 = m0s; m0 < m1s; m0 += MC) {
      const mc = min(MC, m1s - m0);
      packA(a, sai, sak, m0, mc, k0, kc, pa);
      for (let p = p0; p < p1; p++) {
        const pb = packed + (<usize>p * <usize>K + <usize>k0) * 32;
        const j0 = p * 8;
        const cols = min(8, N - j0);
        for (let r = 0; r < mc; r += 4) {
          micro4x8(pa + <usize>r * <usize>kc * 4, pb, kc, c + (<usize>(m0 + r) * <usize>ldc + <usize>j0) * 4, ldc, min(4, mc - r), cols, acc, tile);
        }
      }
    }
  }
}

/**
 * y[n] (+)= sum_k W[n, k] x[k] for rows [start, end) of W (N x K, row-major, leading dim ldw):
 * the matrix-vector product of one-token inference, where packing would cost as much as it saves.
 */
export function matvec_f32(w: usize, ldw: i32, x: usize, y: usize, K: i32, accumulate: i32, start: i32, end: i32): void {
  for (let n = start; n < end; n++) {
    const row = w + <usize>n * <usize>ldw * 4;
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let k = 0;
    for (; k + 16 <= K; k += 16) {
      const o = <usize>k * 4;
      s0 = madd(v128.load(row + o), v128.load(x + o), s0);
      s1 = madd(v128.load(row + o, 16), v128.load(x + o, 16), s1);
      s2 = madd(v128.load(row + o, 32), v128.load(x + o, 32), s2);
      s3 = madd(v128.load(row + o, 48), v128.load(x + o, 48), s3);
    }
    for (; k + 4 <= K; k += 4) s0 = madd(v128.load(row + <usize>k * 4), v128.load(x + <usize>k * 4), s0);
    const s = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
    let total = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
    for (; k < K; k++) total += load<f32>(row + <usize>k * 4) * load<f32>(x + <usize>k * 4);
    const dst = y + <usize>n * 4;
    if (accumulate != 0) total += load<f32>(dst);
    store<f32>(dst, total);
  }
}

/** Columns of a packed panel of B: the unit gemm_pack_b and the panel split of gemm_compute work in. */
export function gemm_panel_width(): i32 {
  return 8;
}
