// One vector vocabulary over two widths, for kernels written once and compiled for each.
//
// A kernel file writes its vector code in a body file (`xxx_simd.inc`) with the macros below,
// then includes the body once per width:
//
//   #define SIMD_WIDTH 8
//   #include "simd_width.h"      // (it undefines SIMD_WIDTH when done)
//   #include "xxx_simd.inc"      // defines e.g. V(dot) = dot_avx2, with TARGET_W = AVX2 + FMA
//   #define SIMD_WIDTH 16
//   #include "simd_width.h"
//   #include "xxx_simd.inc"      // the same code as dot_avx512, AVX-512 F/BW/VL/DQ
//
// This header has no include guard on purpose: each inclusion redefines the macros for the
// width SIMD_WIDTH names. Tails use masks: VMASK_TAIL(k) selects the first k lanes (0 <= k < W).
#if defined(__x86_64__)
#include <immintrin.h>
#include "kernels.h"

#undef W
#undef V
#undef TARGET_W
#undef VF
#undef VI
#undef VMASK
#undef VZERO
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VADD
#undef VSUB
#undef VMUL
#undef VDIV
#undef VMAX
#undef VMIN
#undef VFMA
#undef VFNMA
#undef VABS
#undef VROUND
#undef VSCALE2
#undef VGT
#undef VSELECT
#undef VMASK_TAIL
#undef VLOAD_TAIL
#undef VSTORE_TAIL
#undef VHSUM
#undef VHMAX
// Added for ops.c and attention.c:
#undef VFMS
#undef VSQRT
#undef VSWAP_PAIRS
#undef VFOLD8
#undef VIIOTA
#undef VIXOR
#undef VIMULLO
#undef VISRLI
#undef VIGEU
#undef VLOAD_PART
#undef VSTORE_PART

#if SIMD_WIDTH == 8
/** Lanes of a float vector. */
#define W 8
/** The name of this width's copy of a function: V(dot) -> dot_avx2. */
#define V(name) name##_avx2
#define TARGET_W TARGET_AVX2
#define VF __m256
#define VI __m256i
/** A lane mask (compare results, tails). */
#define VMASK __m256
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
/** a * b + c */
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
/** c - a * b */
#define VFNMA(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define VABS(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a)
/** Round to the nearest integer, ties to even. */
#define VROUND(a) _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/** p * 2^n for whole-number n within the float exponent's range. */
#define VSCALE2(p, n) _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)))
#define VGT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
/** m ? a : b, lane by lane. */
#define VSELECT(m, a, b) _mm256_blendv_ps(b, a, m)
#define VMASK_TAIL(k) _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
/** The first lanes of p that m selects, 0 elsewhere (nothing else is read). */
#define VLOAD_TAIL(p, m) _mm256_maskload_ps(p, _mm256_castps_si256(m))
#define VSTORE_TAIL(p, m, v) _mm256_maskstore_ps(p, _mm256_castps_si256(m), v)
// Added for ops.c and attention.c:
/** a * b - c */
#define VFMS(a, b, c) _mm256_fmsub_ps(a, b, c)
#define VSQRT(a) _mm256_sqrt_ps(a)
/** Lanes swapped pairwise: [x1 x0 x3 x2 ...]. */
#define VSWAP_PAIRS(a) _mm256_permute_ps(a, 0xB1)
/** An __m256 whose horizontal sum is the vector's: here the vector itself. */
#define VFOLD8(a) (a)
/** 32-bit integer lanes: [0, 1, ..., W-1], xor, low 32 bits of the product, logical shift right (VISET1 and VIADD are below). */
#define VIIOTA() _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define VIXOR(a, b) _mm256_xor_si256(a, b)
#define VIMULLO(a, b) _mm256_mullo_epi32(a, b)
#define VISRLI(a, n) _mm256_srli_epi32(a, n)
/** The lanes where a >= b as unsigned 32-bit integers (max(a, b) == a), as a lane mask. */
#define VIGEU(a, b) _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_max_epu32(a, b), a))

#elif SIMD_WIDTH == 16
#define W 16
#define V(name) name##_avx512
#define TARGET_W TARGET_AVX512
#define VF __m512
#define VI __m512i
#define VMASK __mmask16
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VFNMA(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define VABS(a) _mm512_abs_ps(a)
#define VROUND(a) _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2(p, n) _mm512_scalef_ps(p, n)
#define VGT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define VSELECT(m, a, b) _mm512_mask_blend_ps(m, b, a)
#define VMASK_TAIL(k) ((__mmask16)((1u << (k)) - 1))
#define VLOAD_TAIL(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTORE_TAIL(p, m, v) _mm512_mask_storeu_ps(p, m, v)
// Added for ops.c and attention.c:
#define VFMS(a, b, c) _mm512_fmsub_ps(a, b, c)
#define VSQRT(a) _mm512_sqrt_ps(a)
#define VSWAP_PAIRS(a) _mm512_permute_ps(a, 0xB1)
/** Lanes i and i + 8 added: 8 lanes with the same horizontal sum. */
#define VFOLD8(a) _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1))
#define VIIOTA() _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define VIXOR(a, b) _mm512_xor_si512(a, b)
#define VIMULLO(a, b) _mm512_mullo_epi32(a, b)
#define VISRLI(a, n) _mm512_srli_epi32(a, n)
#define VIGEU(a, b) _mm512_cmpge_epu32_mask(a, b)

#else
#error "SIMD_WIDTH must be 8 or 16"
#endif

// ---------------------------------------------------------------- additions: gemm.c, ternary.c
#undef VMASK_UPTO
#undef VSTORE_I16
#undef VISET1
#undef VISUB
#undef VCVTI
#undef TARGET_W_VNNI
#undef VIZERO
#undef VILOAD
#undef VIADD
#undef VIAND
#undef VISRLV
#undef VISET1_8
#undef VISET1_16
#undef VIBCAST128
#undef VIMADDUBS
#undef VIMADD16
#undef VIDPBUSD
#undef VIHSUM
#if SIMD_WIDTH == 8
/** Lanes [0, n) for any whole n (n <= 0: none, n >= W: all), unlike VMASK_TAIL's 0 <= k < W. */
#define VMASK_UPTO(n) _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)((n) < 0 ? 0 : (n) > 8 ? 8 : (n))), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
/** Round v's lanes to the nearest integer (ties to even) and store them at p as W int16, saturated. */
#define VSTORE_I16(p, v) do { const __m256i i_ = _mm256_cvtps_epi32(v); \
    _mm_storeu_si128((__m128i*)(p), _mm_packs_epi32(_mm256_castsi256_si128(i_), _mm256_extracti128_si256(i_, 1))); } while (0)
/** int32 lanes: broadcast, a - b (wrapping), and to float (round to nearest). */
#define VISET1(x) _mm256_set1_epi32((int)(x))
#define VISUB(a, b) _mm256_sub_epi32(a, b)
#define VCVTI(a) _mm256_cvtepi32_ps(a)
/** This width's target with the int8 dot-product instruction (AVX-VNNI; AVX-512 VNNI). */
#define TARGET_W_VNNI TARGET_AVX_VNNI
#define VIZERO() _mm256_setzero_si256()
#define VILOAD(p) _mm256_loadu_si256((const __m256i*)(p))
/** int32 lanes: a + b, a & b, a >> b lane by lane (logical). */
#define VIADD(a, b) _mm256_add_epi32(a, b)
#define VIAND(a, b) _mm256_and_si256(a, b)
#define VISRLV(a, b) _mm256_srlv_epi32(a, b)
#define VISET1_8(x) _mm256_set1_epi8(x)
#define VISET1_16(x) _mm256_set1_epi16(x)
/** The 16 bytes at p in every 128-bit lane. */
#define VIBCAST128(p) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)(p)))
/** u8 a x s8 b: sums of adjacent pairs as int16 (saturating); int16 a x b: adjacent pairs as int32. */
#define VIMADDUBS(a, b) _mm256_maddubs_epi16(a, b)
#define VIMADD16(a, b) _mm256_madd_epi16(a, b)
/** acc + the sums of 4 adjacent u8 a x s8 b products per int32 lane (needs TARGET_W_VNNI). */
#define VIDPBUSD(acc, a, b) _mm256_dpbusd_avx_epi32(acc, a, b)
/** Sum of the int32 lanes (wrapping). */
#define VIHSUM(v) V(hsum_i32)(v)
static inline TARGET_W int32_t V(hsum_i32)(VI v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
#else
#define VMASK_UPTO(n) ((__mmask16)((n) >= 16 ? 0xFFFF : (n) <= 0 ? 0 : (1u << (n)) - 1))
#define VSTORE_I16(p, v) _mm256_storeu_si256((__m256i*)(p), _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(v)))
#define VISET1(x) _mm512_set1_epi32((int)(x))
#define VISUB(a, b) _mm512_sub_epi32(a, b)
#define VCVTI(a) _mm512_cvtepi32_ps(a)
#define TARGET_W_VNNI TARGET_AVX512_VNNI
#define VIZERO() _mm512_setzero_si512()
#define VILOAD(p) _mm512_loadu_si512(p)
#define VIADD(a, b) _mm512_add_epi32(a, b)
#define VIAND(a, b) _mm512_and_si512(a, b)
#define VISRLV(a, b) _mm512_srlv_epi32(a, b)
#define VISET1_8(x) _mm512_set1_epi8(x)
#define VISET1_16(x) _mm512_set1_epi16(x)
#define VIBCAST128(p) _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i*)(p)))
#define VIMADDUBS(a, b) _mm512_maddubs_epi16(a, b)
#define VIMADD16(a, b) _mm512_madd_epi16(a, b)
#define VIDPBUSD(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#define VIHSUM(v) _mm512_reduce_add_epi32(v)
#endif
// Added for ops.c and attention.c:
/**
 * A block of W floats at p of which `left` are there: all W when left >= W (plain moves), else
 * the first `left` (masked moves; lanes past them read as 0 and are not written). In a function
 * inlined with left = W (the loop over whole blocks) the test and the mask fold away.
 */
#define VLOAD_PART(p, left) ((left) >= W ? VLOAD(p) : VLOAD_TAIL(p, VMASK_TAIL(left)))
#define VSTORE_PART(p, left, v) ((left) >= W ? VSTORE(p, v) : VSTORE_TAIL(p, VMASK_TAIL(left), v))

/** Sum and largest of a vector's lanes (functions of this width, defined once per inclusion). */
#define VHSUM(v) V(hsum)(v)
#define VHMAX(v) V(hmax)(v)
#if SIMD_WIDTH == 8
static inline TARGET_W float V(hsum)(VF v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline TARGET_W float V(hmax)(VF v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}
#else
static inline TARGET_W float V(hsum)(VF v) { return _mm512_reduce_add_ps(v); }
static inline TARGET_W float V(hmax)(VF v) { return _mm512_reduce_max_ps(v); }
#endif

/**
 * e^x, relative error below 3e-7: x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-6 Taylor
 * polynomial, times 2^n; x is clamped to [-87.3, 88.7] (no inf; tiny results stay normal).
 */
static inline TARGET_W VF V(vexp)(VF x) {
  x = VMIN(VMAX(x, VSET1(-87.3f)), VSET1(88.7f));
  const VF n = VROUND(VMUL(x, VSET1(1.44269504088896341f)));
  VF r = VFNMA(n, VSET1(0.693359375f), x);
  r = VFNMA(n, VSET1(-2.12194440e-4f), r);
  VF p = VSET1(1.0f / 720);
  p = VFMA(p, r, VSET1(1.0f / 120));
  p = VFMA(p, r, VSET1(1.0f / 24));
  p = VFMA(p, r, VSET1(1.0f / 6));
  p = VFMA(p, r, VSET1(0.5f));
  p = VFMA(p, r, VSET1(1.0f));
  p = VFMA(p, r, VSET1(1.0f));
  return VSCALE2(p, n);
}
#endif
#undef SIMD_WIDTH
