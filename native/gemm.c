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
#include <immintrin.h>
#endif

#define NR 32   // columns of a packed panel of B
#define KC 512  // depth block: a kc x 32 slice of a B panel is 64 KiB (L1 and L2); C is re-read once per block
#define MC 240  // rows of A packed at once (MC x KC floats = 480 KiB, in L2); a multiple of every MR
#define MR_avx512 12  // rows of a register block, per instruction set (V(MR) in gemm_simd.inc)
#define MR_avx2 6
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
// The vector register blocks (block_rows_avx512, block_rows_avx2) and matrix-vector rows
// (matvec4_*, matvec1_*) are in gemm_simd.inc, compiled once per width. The scalar block below
// computes the same: C[rows, cols] (+)= pa (kc x rows, k-major with stride MR) . pb (kc x 32).

#if defined(__x86_64__)
#define SIMD_WIDTH 8
#include "simd_width.h"
#include "gemm_simd.inc"
#define SIMD_WIDTH 16
#include "simd_width.h"
#include "gemm_simd.inc"
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
    block = block_rows_avx512;
    mr = MR_avx512;
  } else if (ternlm_isa == ISA_AVX2) {
    block = block_rows_avx2;
    mr = MR_avx2;
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
  KERNEL(gemm_scratch_floats, 0),
  KERNEL(gemm_panel_width, 0),
  KERNEL(gemm_pack_b, 8),
  KERNEL(gemm_compute, 15),
  KERNEL(matvec_f32, 8),
  {0, 0, 0},
};
