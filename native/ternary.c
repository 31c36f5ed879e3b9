// Native kernels: int8 quantization and the int8 x ternary products (assembly/ternary.ts).
//
// The products multiply u8 weight codes c = w + 1 (0, 1, 2) by s8 activations and subtract each
// row's activation sum: sum_k c x = sum_k w x + sum_k x. AVX-512 VNNI / AVX-VNNI do 4 such
// products a lane in one vpdpbusd; without VNNI, vpmaddubsw (pairs, at most 2 * 2 * 127, far
// from int16 saturation) then vpmaddwd by 1 (quads) do the same. The integer sums are exact, and
// the f32 output is f32(sum) * f32(scale[m] * alpha) (+ y), as the wasm kernels compute it.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/** Per-thread scratch, grown as needed (64-byte aligned): weight codes and int8 activations. */
static _Thread_local uint8_t* scratch = 0;
static _Thread_local size_t scratch_bytes = 0;

/** The scratch, at least `bytes` long; NULL (with ternlm_failure set) when memory runs out. */
static uint8_t* get_scratch(size_t bytes) {
  if (bytes > scratch_bytes) {
    free(scratch);
    const size_t rounded = (bytes + 4095) & ~(size_t)4095;
    scratch = aligned_alloc(64, rounded);
    scratch_bytes = scratch ? rounded : 0;
    if (!scratch) ternlm_failure = "out of memory for the ternary kernels' scratch";
  }
  return scratch;
}

/** What a tile writes: rows x cols of y (ldy) from the code sums, row sums and scales. */
typedef struct {
  float* y;
  int64_t ldy;
  int rows, cols, accumulate;
  const int32_t* sums;
  const float* s; /* scale[m] * alpha of each row */
} Tile;

/**
 * The arguments both products start with (a[0..5]): int16 activations q, their row scales, the
 * weights (ternary_matmul_i16: unpacked codes; ternary_matvec_packed: 2-bit packed), alpha, y, ldy.
 */
typedef struct {
  const int16_t* q;
  const float* scale;
  const uint8_t* w;
  float alpha;
  float* y;
  int64_t ldy;
} Product;

static Product product_args(const double* a) {
  const Product p = {PTR_I16(a[0]), PTR_F32(a[1]), PTR_U8(a[2]), (float)a[3], PTR_F32(a[4]), I64(a[5])};
  return p;
}

// The vector code both widths share (quantize_*, store_tile_*, matvec_packed*): ternary_simd.inc,
// once per width. code_shifts: matvec_packed*'s right shift of each 32-bit lane (see there).
#if defined(__x86_64__)
static const int32_t code_shifts[16] = {0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6};
#define SIMD_WIDTH 8
#include "simd_width.h"
#include "ternary_simd.inc"
#define SIMD_WIDTH 16
#include "simd_width.h"
#include "ternary_simd.inc"
#endif

/**
 * quantize_rows_i8(x, K, q, Kp, scale, start, end): rows [start, end) of x (M x K, f32) to
 * q = round(x / s) as int16 (M x Kp, zero padded), s = absmax / 127 (1 for a zero row).
 * As the wasm kernel: x * (1 / s) for the first K & ~7 columns, x / s for the rest.
 */
static void quantize_scalar(const float* row, int K, int16_t* dst, int Kp, float* s_out) {
  float absmax = 0;
  for (int k = 0; k < K; k++) absmax = fmaxf(absmax, fabsf(row[k]));
  const float s = absmax > 0 ? absmax / 127 : 1;
  *s_out = s;
  const float inv = 1 / s;
  int k = 0;
  for (; k + 8 <= K; k += 8)
    for (int i = 0; i < 8; i++) dst[k + i] = (int16_t)nearbyintf(row[k + i] * inv);
  for (; k < K; k++) dst[k] = (int16_t)nearbyintf(row[k] / s);
  for (; k < Kp; k++) dst[k] = 0;
}


static double quantize_rows_i8(const double* a, int n) {
  (void)n;
  const float* x = PTR_F32(a[0]);
  const int K = I32(a[1]), Kp = I32(a[3]);
  int16_t* q = PTR_I16(a[2]);
  float* scale = PTR_F32(a[4]);
  for (int64_t m = I64(a[5]); m < I64(a[6]); m++) {
    const float* row = x + m * K;
    int16_t* dst = q + m * Kp;
#if defined(__x86_64__)
    if (ternlm_isa == ISA_AVX512) { quantize_avx512(row, K, dst, Kp, scale + m); continue; }
    if (ternlm_isa == ISA_AVX2) { quantize_avx2(row, K, dst, Kp, scale + m); continue; }
#endif
    quantize_scalar(row, K, dst, Kp, scale + m);
  }
  return 0;
}

// ---------------------------------------------------------------- ternary_matmul_i16
#if defined(__x86_64__)
//
// The wasm operand layouts: q int16 M x Kp; w u8 codes t + 1 in panels of 4 columns, each k-quad
// of a panel 16 bytes [c(4p, 4i..4i+3), c(4p+1, 4i..4i+3), ...] (ternary_unpack_codes). Kp is a
// multiple of 64. Each thread copies, per call, all codes into panels of PW columns (64 for
// AVX-512, 16 for AVX2; columns past the 4-column panels are code 0), each k-quad of a panel
// PW * 4 bytes, and TM rows of activations at a time into int8 rows (padded with zero rows to a
// multiple of TM) with their sums.

enum { TM = 48 }; /* rows of activations per block: a multiple of every MR below */

/** codes (Np x Kp bytes, panels of PW columns) from the 4-column panels of N columns. */
static TARGET_AVX2 void repack_codes(const uint8_t* w, int N, int Kp, int PW, uint8_t* codes) {
  const int P4 = (N + 3) / 4, Np = (N + PW - 1) / PW * PW;
  for (int p = 0; p < Np / 4; p++) {
    uint8_t* dst = codes + (size_t)(p * 4 / PW) * PW * Kp + (p * 4 % PW) * 4;
    const uint8_t* src = w + (size_t)p * 4 * Kp;
    for (int i = 0; i < Kp / 4; i++)
      _mm_storeu_si128((__m128i*)(dst + (size_t)i * PW * 4), p < P4 ? _mm_loadu_si128((const __m128i*)(src + 16 * i)) : _mm_setzero_si128());
  }
}

/** One row of Kp int16 (a multiple of 16) to int8 in d (saturated; q fits), returning its sum. */
static TARGET_AVX2 int32_t row_to_i8(const int16_t* s, int Kp, int8_t* d) {
  const __m128i ones = _mm_set1_epi16(1);
  __m128i acc = _mm_setzero_si128();
  for (int k = 0; k < Kp; k += 16) {
    const __m128i lo = _mm_loadu_si128((const __m128i*)(s + k));
    const __m128i hi = _mm_loadu_si128((const __m128i*)(s + k + 8));
    acc = _mm_add_epi32(acc, _mm_add_epi32(_mm_madd_epi16(lo, ones), _mm_madd_epi16(hi, ones)));
    _mm_storeu_si128((__m128i*)(d + k), _mm_packs_epi16(lo, hi));
  }
  acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0x4e));
  acc = _mm_add_epi32(acc, _mm_shuffle_epi32(acc, 0xb1));
  return _mm_cvtsi128_si32(acc);
}

/** rows [m0, m0 + rows) of q to int8 (TM x Kp, zero rows past `rows`) and their sums. */
static TARGET_AVX2 void pack_rows_i8(const int16_t* q, int64_t m0, int rows, int Kp, int8_t* dst, int32_t* sums) {
  for (int r = 0; r < TM; r++) {
    int8_t* d = dst + (size_t)r * Kp;
    if (r >= rows) {
      memset(d, 0, (size_t)Kp);
      sums[r] = 0;
      continue;
    }
    sums[r] = row_to_i8(q + (m0 + r) * Kp, Kp, d);
  }
}



// The tiles keep their accumulators in named variables (an array indexed after the loop would
// live in memory) and hand them to the stores through an array once the sums are done.
#define ROW_QUAD(r) ({ int32_t quad_; memcpy(&quad_, x + (size_t)(r) * Kp + k, 4); quad_; })

/** 6 rows x 64 columns, AVX-512 VNNI: per k-quad, 4 weight vectors x 6 broadcast activation quads. */
static TARGET_AVX512_VNNI void tile_avx512_vnni(const int8_t* x, const uint8_t* c, int Kp, Tile t) {
#define DECL(r) __m512i r##0 = _mm512_setzero_si512(), r##1 = r##0, r##2 = r##0, r##3 = r##0;
  DECL(a) DECL(b) DECL(d) DECL(e) DECL(f) DECL(g)
#undef DECL
  for (int k = 0; k < Kp; k += 4, c += 256) {
    const __m512i w0 = _mm512_load_si512(c), w1 = _mm512_load_si512(c + 64);
    const __m512i w2 = _mm512_load_si512(c + 128), w3 = _mm512_load_si512(c + 192);
#define ROW(r, i) { const __m512i x_ = _mm512_set1_epi32(ROW_QUAD(i)); \
    r##0 = _mm512_dpbusd_epi32(r##0, w0, x_); r##1 = _mm512_dpbusd_epi32(r##1, w1, x_); \
    r##2 = _mm512_dpbusd_epi32(r##2, w2, x_); r##3 = _mm512_dpbusd_epi32(r##3, w3, x_); }
    ROW(a, 0) ROW(b, 1) ROW(d, 2) ROW(e, 3) ROW(f, 4) ROW(g, 5)
#undef ROW
  }
  const __m512i acc[6][4] = {{a0, a1, a2, a3}, {b0, b1, b2, b3}, {d0, d1, d2, d3}, {e0, e1, e2, e3}, {f0, f1, f2, f3}, {g0, g1, g2, g3}};
  store_tile_avx512(&acc[0][0], 4, t);
}

/** 4 rows x 64 columns, AVX-512 without VNNI: vpmaddubsw pairs, vpmaddwd by 1 to quads. */
static TARGET_AVX512 void tile_avx512(const int8_t* x, const uint8_t* c, int Kp, Tile t) {
  const __m512i ones = _mm512_set1_epi16(1);
#define DECL(r) __m512i r##0 = _mm512_setzero_si512(), r##1 = r##0, r##2 = r##0, r##3 = r##0;
  DECL(a) DECL(b) DECL(d) DECL(e)
#undef DECL
  for (int k = 0; k < Kp; k += 4, c += 256) {
    const __m512i w0 = _mm512_load_si512(c), w1 = _mm512_load_si512(c + 64);
    const __m512i w2 = _mm512_load_si512(c + 128), w3 = _mm512_load_si512(c + 192);
#define DOT(acc, w) acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(w, x_), ones))
#define ROW(r, i) { const __m512i x_ = _mm512_set1_epi32(ROW_QUAD(i)); DOT(r##0, w0); DOT(r##1, w1); DOT(r##2, w2); DOT(r##3, w3); }
    ROW(a, 0) ROW(b, 1) ROW(d, 2) ROW(e, 3)
#undef ROW
#undef DOT
  }
  const __m512i acc[4][4] = {{a0, a1, a2, a3}, {b0, b1, b2, b3}, {d0, d1, d2, d3}, {e0, e1, e2, e3}};
  store_tile_avx512(&acc[0][0], 4, t);
}

/** 6 rows x 16 columns, AVX-VNNI (256-bit vpdpbusd). */
static TARGET_AVX_VNNI void tile_avx2_vnni(const int8_t* x, const uint8_t* c, int Kp, Tile t) {
#define DECL(r) __m256i r##0 = _mm256_setzero_si256(), r##1 = r##0;
  DECL(a) DECL(b) DECL(d) DECL(e) DECL(f) DECL(g)
#undef DECL
  for (int k = 0; k < Kp; k += 4, c += 64) {
    const __m256i w0 = _mm256_load_si256((const __m256i*)c), w1 = _mm256_load_si256((const __m256i*)(c + 32));
#define ROW(r, i) { const __m256i x_ = _mm256_set1_epi32(ROW_QUAD(i)); \
    r##0 = _mm256_dpbusd_avx_epi32(r##0, w0, x_); r##1 = _mm256_dpbusd_avx_epi32(r##1, w1, x_); }
    ROW(a, 0) ROW(b, 1) ROW(d, 2) ROW(e, 3) ROW(f, 4) ROW(g, 5)
#undef ROW
  }
  const __m256i acc[6][2] = {{a0, a1}, {b0, b1}, {d0, d1}, {e0, e1}, {f0, f1}, {g0, g1}};
  store_tile_avx2(&acc[0][0], 2, t);
}

/** 4 rows x 16 columns, AVX2 without VNNI. */
static TARGET_AVX2 void tile_avx2(const int8_t* x, const uint8_t* c, int Kp, Tile t) {
  const __m256i ones = _mm256_set1_epi16(1);
#define DECL(r) __m256i r##0 = _mm256_setzero_si256(), r##1 = r##0;
  DECL(a) DECL(b) DECL(d) DECL(e)
#undef DECL
  for (int k = 0; k < Kp; k += 4, c += 64) {
    const __m256i w0 = _mm256_load_si256((const __m256i*)c), w1 = _mm256_load_si256((const __m256i*)(c + 32));
#define DOT(acc, w) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x_), ones))
#define ROW(r, i) { const __m256i x_ = _mm256_set1_epi32(ROW_QUAD(i)); DOT(r##0, w0); DOT(r##1, w1); }
    ROW(a, 0) ROW(b, 1) ROW(d, 2) ROW(e, 3)
#undef ROW
#undef DOT
  }
  const __m256i acc[4][2] = {{a0, a1}, {b0, b1}, {d0, d1}, {e0, e1}};
  store_tile_avx2(&acc[0][0], 2, t);
}
#undef ROW_QUAD

typedef void (*TileFn)(const int8_t* x, const uint8_t* c, int Kp, Tile t);

/** Rows [start, end) of the product on x86: repack, then TM-row blocks x PW-column panels x MR-row tiles. */
static void matmul_x86(Product p, int N, int Kp, int accumulate, int64_t start, int64_t end, TileFn tile, int PW, int MR) {
  const int Np = (N + PW - 1) / PW * PW;
  uint8_t* mem = get_scratch((size_t)Np * Kp + (size_t)TM * Kp + TM * 8);
  if (!mem) return;
  uint8_t* codes = mem;
  int8_t* xs = (int8_t*)(mem + (size_t)Np * Kp);
  int32_t* sums = (int32_t*)(mem + (size_t)Np * Kp + (size_t)TM * Kp);
  float* s = (float*)(sums + TM);
  repack_codes(p.w, N, Kp, PW, codes);
  for (int64_t m0 = start; m0 < end; m0 += TM) {
    const int rows = (int)(end - m0 < TM ? end - m0 : TM);
    pack_rows_i8(p.q, m0, rows, Kp, xs, sums);
    for (int r = 0; r < rows; r++) s[r] = p.scale[m0 + r] * p.alpha;
    for (int n0 = 0; n0 < N; n0 += PW) {
      const uint8_t* panel = codes + (size_t)n0 * Kp;
      for (int r0 = 0; r0 < rows; r0 += MR) {
        const Tile t = {p.y + (m0 + r0) * p.ldy + n0, p.ldy, rows - r0 < MR ? rows - r0 : MR, N - n0 < PW ? N - n0 : PW, accumulate, sums + r0, s + r0};
        tile(xs + (size_t)r0 * Kp, panel, Kp, t);
      }
    }
  }
}
#endif

/** y (+)= f32(sum - rowsum) * s, as the wasm kernel's finish. */
static inline void finish_one(int32_t sum, int32_t rowsum, float s, float* y, int accumulate) {
  float v = (float)(sum - rowsum) * s;
  if (accumulate) v += *y;
  *y = v;
}

/** The product in plain C, straight from the wasm layouts: a row against one 4-column panel at a time. */
static void matmul_scalar(Product p, int N, int Kp, int accumulate, int64_t start, int64_t end) {
  for (int64_t m = start; m < end; m++) {
    const int16_t* x = p.q + m * Kp;
    const float s = p.scale[m] * p.alpha;
    int32_t rowsum = 0;
    for (int k = 0; k < Kp; k++) rowsum += x[k];
    for (int n0 = 0; n0 < N; n0 += 4) {
      const uint8_t* c = p.w + (size_t)n0 * Kp;
      int32_t sum[4] = {0, 0, 0, 0};
      for (int k = 0; k < Kp; k += 4, c += 16)
        for (int j = 0; j < 4; j++)
          sum[j] += x[k] * c[4 * j] + x[k + 1] * c[4 * j + 1] + x[k + 2] * c[4 * j + 2] + x[k + 3] * c[4 * j + 3];
      for (int j = 0; j < 4 && n0 + j < N; j++) finish_one(sum[j], rowsum, s, p.y + m * p.ldy + n0 + j, accumulate);
    }
  }
}

/** ternary_matmul_i16(q, scale, w, alpha, y, ldy, M, N, Kp, accumulate, start, end): see assembly/ternary.ts. */
static double ternary_matmul_i16(const double* a, int n) {
  (void)n;
  const Product p = product_args(a);
  const int N = I32(a[7]), Kp = I32(a[8]), accumulate = I32(a[9]) != 0;
  const int64_t start = I64(a[10]), end = I64(a[11]);
#if defined(__x86_64__)
  if (ternlm_isa == ISA_AVX512 && ternlm_vnni) { matmul_x86(p, N, Kp, accumulate, start, end, tile_avx512_vnni, 64, 6); return 0; }
  if (ternlm_isa == ISA_AVX512) { matmul_x86(p, N, Kp, accumulate, start, end, tile_avx512, 64, 4); return 0; }
  if (ternlm_isa == ISA_AVX2 && ternlm_vnni) { matmul_x86(p, N, Kp, accumulate, start, end, tile_avx2_vnni, 16, 6); return 0; }
  if (ternlm_isa == ISA_AVX2) { matmul_x86(p, N, Kp, accumulate, start, end, tile_avx2, 16, 4); return 0; }
#endif
  matmul_scalar(p, N, Kp, accumulate, start, end);
  return 0;
}

// ---------------------------------------------------------------- ternary_matvec_packed
//
// Straight from the 2-bit weights (layout in assembly/ternary.ts: a 64-weight group is 16 bytes,
// bits 2j..2j+1 of byte b the code of weight 16j + b): shifting the group's 4 copies by 0, 2, 4
// and 6 and masking gives the 64 codes in k order. Activations are made int8 rows with their sums
// once per call (per thread); rows go 4 at a time so each group is decoded once for 4 rows.

#if defined(__x86_64__)
typedef void (*MatvecFn)(const uint8_t* src, const int8_t* x, int rows, int Kp, int32_t out[4]);
#endif

/** ternary_matvec_packed(q, scale, packed, alpha, y, ldy, M, Kp, accumulate, start, end): columns [start, end). */
static double ternary_matvec_packed(const double* a, int n) {
  (void)n;
  const Product p = product_args(a);
  const int M = I32(a[6]), Kp = I32(a[7]), accumulate = I32(a[8]) != 0;
  const int64_t start = I64(a[9]), end = I64(a[10]);
#if defined(__x86_64__)
  MatvecFn fn = 0;
  if (ternlm_isa == ISA_AVX512) fn = ternlm_vnni ? matvec_packed_vnni_avx512 : matvec_packed_avx512;
  else if (ternlm_isa == ISA_AVX2) fn = ternlm_vnni ? matvec_packed_vnni_avx2 : matvec_packed_avx2;
  if (fn) {
    uint8_t* mem = get_scratch((size_t)M * Kp + (size_t)M * 4);
    if (!mem) return 0;
    int8_t* x = (int8_t*)mem;
    int32_t* sums = (int32_t*)(mem + (size_t)M * Kp);
    for (int m = 0; m < M; m++) sums[m] = row_to_i8(p.q + (size_t)m * Kp, Kp, x + (size_t)m * Kp);
    for (int64_t col = start; col < end; col++) {
      const uint8_t* src = p.w + col * (Kp / 4);
      for (int m0 = 0; m0 < M; m0 += 4) {
        const int rows = M - m0 < 4 ? M - m0 : 4;
        int32_t out[4];
        fn(src, x + (size_t)m0 * Kp, rows, Kp, out);
        for (int r = 0; r < rows; r++)
          finish_one(out[r], sums[m0 + r], p.scale[m0 + r] * p.alpha, p.y + (m0 + r) * p.ldy + col, accumulate);
      }
    }
    return 0;
  }
#endif
  for (int64_t col = start; col < end; col++) {
    const uint8_t* src = p.w + col * (Kp / 4);
    for (int m = 0; m < M; m++) {
      const int16_t* x = p.q + (size_t)m * Kp;
      int32_t sum = 0;
      for (int k = 0; k < Kp; k++) sum += x[k] * (((src[(k / 64) * 16 + k % 16] >> (2 * ((k % 64) / 16))) & 3) - 1);
      finish_one(sum, 0, p.scale[m] * p.alpha, p.y + m * p.ldy + col, accumulate);
    }
  }
  return 0;
}

const KernelEntry ternary_kernels[] = {
  KERNEL(quantize_rows_i8, 7),
  KERNEL(ternary_matmul_i16, 12),
  KERNEL(ternary_matvec_packed, 11),
  {0, 0, 0},
};
