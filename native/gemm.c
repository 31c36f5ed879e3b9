// Native kernels: f32 GEMM and matrix-vector products (assembly/gemm.ts).
//
// GEMM: C (+)= A . B with any transposes. Element (i,k) of A lives at a + 4*(i*sai + k*sak),
// element (k,j) of B at b + 4*(k*sbk + j*sbj); C is row-major with leading dimension ldc.
// gemm_pack_b packs all of B once into panels of NR = 32 columns (the wasm kernels use 8; the
// binding asks gemm_panel_width), k-major: packed[(p*K + k)*32 + jj] = B(k, 32p + jj), zero past
// column N. gemm_compute then, per depth block of KC and block of MC rows, packs A into blocks of
// MR rows, k-major (pa[(rb*kc + k)*MR + r]), and runs an MR x 32 register block over every
// (row block, panel): the kc x 32 slice of the panel stays in cache while the MC rows of A
// stream past it, and the next block's C tile is prefetched (C rows are far apart and, in a
// large product, in no cache). MR is 12 on AVX-512 (24 zmm accumulators), 6 on AVX2 (the panel
// as two 16-column halves, 12 ymm accumulators) and 4 in scalar C.
#include <string.h>
#include "kernels.h"
#if defined(__x86_64__)
#include "vmath.h"
#endif

#define NR 32   // columns of a packed panel of B
#define KC 512  // depth block: a kc x 32 slice of a B panel is 64 KiB (L1 and L2); C is re-read once per block
#define MC 240  // rows of A packed at once (MC x KC floats = 480 KiB, in L2); a multiple of every MR
#define MR_AVX512 12
#define MR_AVX2 6
#define MR_SCALAR 4

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/** gemm_scratch_floats(): floats of per-thread scratch gemm_compute needs (the packed A block). */
static double gemm_scratch_floats(const double* a, int n) {
  (void)a;
  (void)n;
  return MC * KC;
}

/** gemm_panel_width(): columns of a packed panel of B (the unit gemm_compute splits panels by). */
static double gemm_panel_width(const double* a, int n) {
  (void)a;
  (void)n;
  return NR;
}

#if defined(__x86_64__)
/**
 * Read a 4x4 block (4 rows of 4 floats, rows srcStride floats apart) and store its transpose
 * (4 rows dstStride floats apart): the inner step of packing across the grain. SSE, so every
 * x86-64 has it; the scalar path does not use it.
 */
static inline void transpose4x4(const float* src, int64_t srcStride, float* dst, int64_t dstStride) {
  __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + srcStride);
  __m128 r2 = _mm_loadu_ps(src + 2 * srcStride), r3 = _mm_loadu_ps(src + 3 * srcStride);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(dst, r0);
  _mm_storeu_ps(dst + dstStride, r1);
  _mm_storeu_ps(dst + 2 * dstStride, r2);
  _mm_storeu_ps(dst + 3 * dstStride, r3);
}
#endif

/**
 * gemm_pack_b(b, sbk, sbj, K, N, packed, start, end): pack panels [start, end) of B (K x N) into
 * 32-column panels, k-major, zero past column N.
 */
static double gemm_pack_b(const double* a, int n) {
  (void)n;
  const float* b = PTR_F32(a[0]);
  const int64_t sbk = I64(a[1]), sbj = I64(a[2]), K = I64(a[3]), N = I64(a[4]);
  float* packed = PTR_F32(a[5]);
  const int64_t start = I64(a[6]), end = I64(a[7]);
  for (int64_t p = start; p < end; p++) {
    const int64_t j0 = p * NR, cols = min64(NR, N - j0);
    float* dst = packed + p * K * NR;
    if (sbj == 1 && cols == NR) {
      // Rows of B are contiguous: copy 32 floats per k.
      for (int64_t k = 0; k < K; k++) memcpy(dst + k * NR, b + k * sbk + j0, NR * sizeof(float));
      continue;
    }
    int64_t k = 0;
#if defined(__x86_64__)
    if (sbk == 1 && cols == NR && ternlm_isa != ISA_SCALAR) {
      // B is a transposed row-major matrix (column j of B contiguous): transpose 4x4 tiles.
      const float* base = b + j0 * sbj;
      for (; k + 4 <= K; k += 4) {
        for (int h = 0; h < NR / 4; h++) transpose4x4(base + h * 4 * sbj + k, sbj, dst + k * NR + h * 4, NR);
      }
    }
#endif
    for (; k < K; k++) {
      for (int64_t jj = 0; jj < NR; jj++) dst[k * NR + jj] = jj < cols ? b[k * sbk + (j0 + jj) * sbj] : 0.0f;
    }
  }
  return 0;
}

/**
 * Pack rows [m0, m0+mc) x depth [k0, k0+kc) of A into blocks of mr rows, k-major:
 * pa[(rb*kc + k)*mr + r]. A last block of fewer rows fills only its rows (the register block for
 * that many rows reads no more).
 */
static void pack_a(int mr, const float* a, int64_t sai, int64_t sak, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float* pa) {
  if (sai == 1) {
    // A transposed: the rows of one k are contiguous; read them in order, one k at a time, and
    // ask for the row 8 ahead (each in another page when A is wide: no hardware prefetch).
    for (int64_t k = 0; k < kc; k++) {
      const float* src = a + m0 + (k0 + k) * sak;
      if (k + 8 < kc) {
        for (int64_t i = 0; i < mc; i += 16) __builtin_prefetch(src + 8 * sak + i, 0, 3);
      }
      for (int64_t r0 = 0; r0 < mc; r0 += mr) {
        const int64_t rows = min64(mr, mc - r0);
        float* dst = pa + r0 * kc + k * mr;
        int64_t r = 0;
#if defined(__x86_64__)
        if (ternlm_isa != ISA_SCALAR) {
          for (; r + 4 <= rows; r += 4) _mm_storeu_ps(dst + r, _mm_loadu_ps(src + r0 + r));
        }
#endif
        for (; r < rows; r++) dst[r] = src[r0 + r];
      }
    }
    return;
  }
  for (int64_t r0 = 0; r0 < mc; r0 += mr) {
    const int64_t rows = min64(mr, mc - r0);
    float* dst = pa + r0 * kc;
    const float* src = a + (m0 + r0) * sai + k0 * sak;
    int64_t k = 0;
#if defined(__x86_64__)
    if (sak == 1 && rows == mr && ternlm_isa != ISA_SCALAR) {
      // Rows of A contiguous along k: transpose 4x4 tiles, the rows past a multiple of 4 one by one.
      for (; k + 4 <= kc; k += 4) {
        int g = 0;
        for (; g + 4 <= mr; g += 4) transpose4x4(src + g * sai + k, sai, dst + k * mr + g, mr);
        for (; g < mr; g++) {
          for (int kk = 0; kk < 4; kk++) dst[(k + kk) * mr + g] = src[g * sai + k + kk];
        }
      }
    }
#endif
    for (; k < kc; k++) {
      for (int64_t r = 0; r < rows; r++) dst[k * mr + r] = src[r * sai + k * sak];
    }
  }
}

// ---------------------------------------------------------------- register blocks
// Each computes C[rows, cols] (+)= pa (kc x rows, k-major with stride MR) . pb (kc x 32, k-major),
// rows <= MR, cols <= 32. `rows` is a compile-time constant at every call (dispatch below), so the
// accumulator arrays live in registers.

#if defined(__x86_64__)
static inline __attribute__((always_inline)) TARGET_AVX512 void block_avx512(
    const int rows, const float* pa, const float* pb, int64_t kc, float* c, int64_t ldc, int64_t cols, int acc) {
  __m512 c0[MR_AVX512], c1[MR_AVX512];
  _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
    _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) {
      const __m512 av = _mm512_set1_ps(pa[r]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
    pa += MR_AVX512;
    pb += NR;
  }
  const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (__mmask16)((1u << (cols - 16)) - 1);
  _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) {
    float* row = c + r * ldc;
    if (acc) {
      c0[r] = _mm512_add_ps(c0[r], _mm512_maskz_loadu_ps(m0, row));
      c1[r] = _mm512_add_ps(c1[r], _mm512_maskz_loadu_ps(m1, row + 16));
    }
    _mm512_mask_storeu_ps(row, m0, c0[r]);
    _mm512_mask_storeu_ps(row + 16, m1, c1[r]);
  }
}

static TARGET_AVX512 void block_avx512_rows(int64_t rows, const float* pa, const float* pb, int64_t kc, float* c, int64_t ldc, int64_t cols, int acc) {
  switch (rows) {
#define ROWS(R) case R: block_avx512(R, pa, pb, kc, c, ldc, cols, acc); break;
    ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8) ROWS(9) ROWS(10) ROWS(11) ROWS(12)
#undef ROWS
  }
}

/** Lanes [0, n) of 8 set (n clamped to [0, 8]), for the AVX2 masked loads and stores. */
static inline TARGET_AVX2 __m256i lanes_below(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 0 ? 0 : n > 8 ? 8 : n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/** One 16-column half of a panel (pb points at its first column; rows still 32 floats apart). */
static inline __attribute__((always_inline)) TARGET_AVX2 void block_avx2(
    const int rows, const float* pa, const float* pb, int64_t kc, float* c, int64_t ldc, int64_t cols, int acc) {
  __m256 c0[MR_AVX2], c1[MR_AVX2];
  _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) c0[r] = c1[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
    _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) {
      const __m256 av = _mm256_broadcast_ss(pa + r);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
    pa += MR_AVX2;
    pb += NR;
  }
  if (cols >= 16) {
    _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) {
      float* row = c + r * ldc;
      if (acc) {
        c0[r] = _mm256_add_ps(c0[r], _mm256_loadu_ps(row));
        c1[r] = _mm256_add_ps(c1[r], _mm256_loadu_ps(row + 8));
      }
      _mm256_storeu_ps(row, c0[r]);
      _mm256_storeu_ps(row + 8, c1[r]);
    }
    return;
  }
  const __m256i m0 = lanes_below(cols), m1 = lanes_below(cols - 8);
  _Pragma("GCC unroll 12") for (int r = 0; r < rows; r++) {
    float* row = c + r * ldc;
    if (acc) {
      c0[r] = _mm256_add_ps(c0[r], _mm256_maskload_ps(row, m0));
      c1[r] = _mm256_add_ps(c1[r], _mm256_maskload_ps(row + 8, m1));
    }
    _mm256_maskstore_ps(row, m0, c0[r]);
    _mm256_maskstore_ps(row + 8, m1, c1[r]);
  }
}

static TARGET_AVX2 void block_avx2_rows(int64_t rows, const float* pa, const float* pb, int64_t kc, float* c, int64_t ldc, int64_t cols, int acc) {
  for (int h = 0; h < 2 && cols > 16 * h; h++) {
    const float* pbh = pb + 16 * h;
    float* ch = c + 16 * h;
    const int64_t colsh = cols - 16 * h;
    switch (rows) {
#define ROWS(R) case R: block_avx2(R, pa, pbh, kc, ch, ldc, colsh, acc); break;
      ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)
#undef ROWS
    }
  }
}
#endif

static void block_scalar_rows(int64_t rows, const float* pa, const float* pb, int64_t kc, float* c, int64_t ldc, int64_t cols, int acc) {
  float t[MR_SCALAR][NR] = {{0}};
  for (int64_t k = 0; k < kc; k++) {
    for (int64_t r = 0; r < rows; r++) {
      const float av = pa[r];
      for (int j = 0; j < NR; j++) t[r][j] += av * pb[j];
    }
    pa += MR_SCALAR;
    pb += NR;
  }
  for (int64_t r = 0; r < rows; r++) {
    float* row = c + r * ldc;
    for (int64_t j = 0; j < cols; j++) row[j] = acc ? row[j] + t[r][j] : t[r][j];
  }
}

/**
 * gemm_compute(a, sai, sak, packed, c, ldc, M, N, K, accumulate, scratch, splitPanels, start,
 * end, tid): C (+)= A . B over packed B. With splitPanels = 0 the range [start, end) is rows of C
 * (all panels); with splitPanels = 1 it is 32-column panels (all rows). scratch holds
 * gemm_scratch_floats() floats per thread; thread tid uses its own slice.
 */
static double gemm_compute(const double* a, int n) {
  (void)n;
  const float* A = PTR_F32(a[0]);
  const int64_t sai = I64(a[1]), sak = I64(a[2]);
  const float* packed = PTR_F32(a[3]);
  float* C = PTR_F32(a[4]);
  const int64_t ldc = I64(a[5]), M = I64(a[6]), N = I64(a[7]), K = I64(a[8]);
  const int accumulate = I32(a[9]) != 0;
  const int split = I32(a[11]) != 0;
  const int64_t start = I64(a[12]), end = I64(a[13]), tid = I64(a[14]);
  float* pa = PTR_F32(a[10]) + tid * (int64_t)(MC * KC);
  const int64_t panels = (N + NR - 1) / NR;
  const int64_t m0s = split ? 0 : start, m1s = split ? M : end;
  const int64_t p0 = split ? start : 0, p1 = split ? end : panels;

  void (*block)(int64_t, const float*, const float*, int64_t, float*, int64_t, int64_t, int) = block_scalar_rows;
  int mr = MR_SCALAR;
#if defined(__x86_64__)
  if (ternlm_isa == ISA_AVX512) {
    block = block_avx512_rows;
    mr = MR_AVX512;
  } else if (ternlm_isa == ISA_AVX2) {
    block = block_avx2_rows;
    mr = MR_AVX2;
  }
#endif
  for (int64_t k0 = 0; k0 < K; k0 += KC) {
    const int64_t kc = min64(KC, K - k0);
    const int acc = accumulate || k0 > 0;
    for (int64_t m0 = m0s; m0 < m1s; m0 += MC) {
      const int64_t mc = min64(MC, m1s - m0);
      pack_a(mr, A, sai, sak, m0, mc, k0, kc, pa);
      for (int64_t p = p0; p < p1; p++) {
        const float* pb = packed + (p * K + k0) * NR;
        const int64_t j0 = p * NR, cols = min64(NR, N - j0);
        for (int64_t r = 0; r < mc; r += mr) {
          // Ask for the C tile of the next block while this one computes (its rows are far apart
          // and, in a large C, in no cache): the next rows of this panel, else the first of the next.
          const int64_t nr = r + mr < mc ? r + mr : 0, nj = r + mr < mc ? j0 : j0 + NR;
          if (nj < N) {
            for (int64_t i = nr; i < min64(mc, nr + mr); i++) {
              __builtin_prefetch(C + (m0 + i) * ldc + nj, 1, 3);
              __builtin_prefetch(C + (m0 + i) * ldc + nj + 16, 1, 3);
            }
          }
          block(min64(mr, mc - r), pa + r * kc, pb, kc, C + (m0 + r) * ldc + j0, ldc, cols, acc);
        }
      }
    }
  }
  return 0;
}

// ---------------------------------------------------------------- matrix-vector

#if defined(__x86_64__)
/** Rows [n0, n0+4) of W . x: four rows share each load of x; two accumulators per row. */
static TARGET_AVX512 void matvec4_avx512(const float* w, int64_t ldw, const float* x, int64_t K, float* out) {
  const float* r0 = w;
  const float* r1 = w + ldw;
  const float* r2 = w + 2 * ldw;
  const float* r3 = w + 3 * ldw;
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + k), x0, s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + k), x0, s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + k), x0, s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + k), x0, s3);
    t0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + k + 16), x1, t0);
    t1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + k + 16), x1, t1);
    t2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + k + 16), x1, t2);
    t3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + k + 16), x1, t3);
  }
  for (; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1);
    const __m512 x0 = _mm512_maskz_loadu_ps(m, x + k);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r0 + k), x0, s0);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r1 + k), x0, s1);
    s2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r2 + k), x0, s2);
    s3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r3 + k), x0, s3);
  }
  out[0] = _mm512_reduce_add_ps(_mm512_add_ps(s0, t0));
  out[1] = _mm512_reduce_add_ps(_mm512_add_ps(s1, t1));
  out[2] = _mm512_reduce_add_ps(_mm512_add_ps(s2, t2));
  out[3] = _mm512_reduce_add_ps(_mm512_add_ps(s3, t3));
}

/** One row of W . x. */
static TARGET_AVX512 float matvec1_avx512(const float* w, const float* x, int64_t K) {
  __m512 s = _mm512_setzero_ps(), t = s;
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    s = _mm512_fmadd_ps(_mm512_loadu_ps(w + k), _mm512_loadu_ps(x + k), s);
    t = _mm512_fmadd_ps(_mm512_loadu_ps(w + k + 16), _mm512_loadu_ps(x + k + 16), t);
  }
  for (; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1);
    s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + k), _mm512_maskz_loadu_ps(m, x + k), s);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s, t));
}

static TARGET_AVX2 void matvec4_avx2(const float* w, int64_t ldw, const float* x, int64_t K, float* out) {
  const float* r0 = w;
  const float* r1 = w + ldw;
  const float* r2 = w + 2 * ldw;
  const float* r3 = w + 3 * ldw;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + k), x0, s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + k), x0, s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + k), x0, s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + k), x0, s3);
    t0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + k + 8), x1, t0);
    t1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + k + 8), x1, t1);
    t2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + k + 8), x1, t2);
    t3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + k + 8), x1, t3);
  }
  for (; k < K; k += 8) {
    const __m256i m = lanes_below(K - k);
    const __m256 x0 = _mm256_maskload_ps(x + k, m);
    s0 = _mm256_fmadd_ps(_mm256_maskload_ps(r0 + k, m), x0, s0);
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(r1 + k, m), x0, s1);
    s2 = _mm256_fmadd_ps(_mm256_maskload_ps(r2 + k, m), x0, s2);
    s3 = _mm256_fmadd_ps(_mm256_maskload_ps(r3 + k, m), x0, s3);
  }
  out[0] = hsum256(_mm256_add_ps(s0, t0));
  out[1] = hsum256(_mm256_add_ps(s1, t1));
  out[2] = hsum256(_mm256_add_ps(s2, t2));
  out[3] = hsum256(_mm256_add_ps(s3, t3));
}

static TARGET_AVX2 float matvec1_avx2(const float* w, const float* x, int64_t K) {
  __m256 s = _mm256_setzero_ps(), t = s;
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    s = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), s);
    t = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(x + k + 8), t);
  }
  for (; k < K; k += 8) {
    const __m256i m = lanes_below(K - k);
    s = _mm256_fmadd_ps(_mm256_maskload_ps(w + k, m), _mm256_maskload_ps(x + k, m), s);
  }
  return hsum256(_mm256_add_ps(s, t));
}
#endif

static float matvec1_scalar(const float* w, const float* x, int64_t K) {
  float s = 0;
  for (int64_t k = 0; k < K; k++) s += w[k] * x[k];
  return s;
}

/**
 * matvec_f32(w, ldw, x, y, K, accumulate, start, end): y[n] (+)= sum_k W[n, k] x[k] for rows
 * [start, end) of W (N x K, row-major, leading dimension ldw): one-token inference.
 */
static double matvec_f32(const double* a, int n) {
  (void)n;
  const float* w = PTR_F32(a[0]);
  const int64_t ldw = I64(a[1]);
  const float* x = PTR_F32(a[2]);
  float* y = PTR_F32(a[3]);
  const int64_t K = I64(a[4]);
  const int accumulate = I32(a[5]) != 0;
  const int64_t start = I64(a[6]), end = I64(a[7]);
  int64_t row = start;
#if defined(__x86_64__)
  if (ternlm_isa != ISA_SCALAR) {
    const int wide = ternlm_isa == ISA_AVX512;
    for (; row + 4 <= end; row += 4) {
      float out[4];
      if (wide) matvec4_avx512(w + row * ldw, ldw, x, K, out);
      else matvec4_avx2(w + row * ldw, ldw, x, K, out);
      for (int i = 0; i < 4; i++) y[row + i] = accumulate ? y[row + i] + out[i] : out[i];
    }
    for (; row < end; row++) {
      const float s = wide ? matvec1_avx512(w + row * ldw, x, K) : matvec1_avx2(w + row * ldw, x, K);
      y[row] = accumulate ? y[row] + s : s;
    }
  }
#endif
  for (; row < end; row++) {
    const float s = matvec1_scalar(w + row * ldw, x, K);
    y[row] = accumulate ? y[row] + s : s;
  }
  return 0;
}

const KernelEntry gemm_kernels[] = {
  {"gemm_scratch_floats", 0, gemm_scratch_floats},
  {"gemm_panel_width", 0, gemm_panel_width},
  {"gemm_pack_b", 8, gemm_pack_b},
  {"gemm_compute", 15, gemm_compute},
  {"matvec_f32", 8, matvec_f32},
  {0, 0, 0},
};
