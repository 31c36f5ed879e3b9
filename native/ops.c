// Native kernels: the other kernels the training profiles say are hot — elementwise
// (assembly/elementwise.ts: unary_forward/backward, binary_forward, mul_scaled, scale_f32,
// dropout_f32, copy_rows), col_sum (reduce.ts), the norms (norm.ts) and adamw_update (optim.ts).
//
// Each kernel reads its arguments and runs the AVX-512, AVX2 + FMA or scalar C version. The
// AVX-512 versions handle tails with masked loads and stores; the AVX2 versions run the scalar
// version on the last (fewer than 8) elements. Arrays are flat f32, rows of D floats.
#include <math.h>
#include <string.h>
#include "kernels.h"
#if defined(__x86_64__)
#include "vmath.h"
#endif

// Unary op codes (src/core/kernels.ts Unary, assembly/elementwise.ts); any other code is exp.
enum { RELU = 0, RELU2 = 1, SILU = 2, GELU = 3, SIGMOID = 4, TANH = 5, EXP = 6, ELU_PLUS_ONE = 7 };
// Binary op codes (src/core/kernels.ts Binary); any other code is mul.
enum { ADD = 0, SUB = 1, MUL = 2, DIV = 3 };

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

// ---------------------------------------------------------------- scalar C

static inline float sigmoid1(float x) { return 1.0f / (1.0f + expf(-x)); }
/** tanh x = 2 sigmoid(2x) - 1, as the wasm kernel computes it. */
static inline float tanh1(float x) { return 2.0f * sigmoid1(x + x) - 1.0f; }

/** f(x) for unary op `op`. */
static inline float unary1(int op, float x) {
  switch (op) {
    case RELU: return x > 0 ? x : 0;
    case RELU2: { const float r = x > 0 ? x : 0; return r * r; }
    case SILU: return x * sigmoid1(x);
    case GELU: return 0.5f * x * (1.0f + tanh1(GELU_C * (GELU_A * x * x * x + x)));
    case SIGMOID: return sigmoid1(x);
    case TANH: return tanh1(x);
    case ELU_PLUS_ONE: return x > 0 ? x + 1.0f : expf(x);
    default: return expf(x);
  }
}

/** f'(x) for unary op `op`, given x and y = f(x). */
static inline float unary_derivative1(int op, float x, float y) {
  switch (op) {
    case RELU: return x > 0 ? 1.0f : 0.0f;
    case RELU2: return 2.0f * (x > 0 ? x : 0);
    case SILU: { const float s = sigmoid1(x); return s * (1.0f + x * (1.0f - s)); }
    case GELU: {
      const float x2 = x * x;
      const float t = tanh1(GELU_C * (GELU_A * x * x2 + x));
      const float du = GELU_C * (3 * GELU_A * x2 + 1.0f);
      return 0.5f * (1.0f + t) + 0.5f * x * ((1.0f - t * t) * du);
    }
    case SIGMOID: return y * (1.0f - y);
    case TANH: return 1.0f - y * y;
    case ELU_PLUS_ONE: return x > 0 ? 1.0f : y;
    default: return y;
  }
}

static inline float binary1(int op, float a, float b) {
  switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case DIV: return a / b;
    default: return a * b;
  }
}

/** murmur3's 32-bit finaliser: the dropout hash (assembly/elementwise.ts mix32x4). */
static inline uint32_t mix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

static void unary_forward_scalar(int op, const float* x, float* y, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i++) y[i] = unary1(op, x[i]);
}

static void unary_backward_scalar(int op, const float* x, const float* y, const float* dy, float* dx, int acc, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i++) {
    const float g = dy[i] * unary_derivative1(op, x[i], y[i]);
    dx[i] = acc ? dx[i] + g : g;
  }
}

/** y[i] = a[i] op b[i] for i < n (one run of the broadcast row). */
static void binary_scalar(int op, const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = binary1(op, a[i], b[i]);
}

/** y[i] (+)= a[i] * b[i] * s for i < n. */
static void mul_scaled_scalar(const float* a, const float* b, float s, float* y, int acc, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float v = a[i] * b[i] * s;
    y[i] = acc ? y[i] + v : v;
  }
}

static void scale_scalar(const float* x, float s, float* y, int acc, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i++) y[i] = acc ? y[i] + s * x[i] : s * x[i];
}

static void dropout_scalar(const float* x, float* y, uint32_t threshold, float scale, uint32_t seed, int acc, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i++) {
    const float v = mix32((uint32_t)i * 0x9e3779b9u + seed) >= threshold ? x[i] * scale : 0.0f;
    y[i] = acc ? y[i] + v : v;
  }
}

/** d[k] += s[k] for k < n. */
static void add_scalar(const float* s, float* d, int64_t n) {
  for (int64_t k = 0; k < n; k++) d[k] += s[k];
}

static void col_sum_scalar(const float* x, int64_t rows, int64_t cols, float s, float* out, int acc, int64_t start, int64_t end) {
  for (int64_t c = start; c < end; c++) {
    float t = 0;
    for (int64_t r = 0; r < rows; r++) t += x[r * cols + c];
    t *= s;
    out[c] = acc ? out[c] + t : t;
  }
}

static void rmsnorm_forward_scalar(const float* x, const float* w, float* y, float* rstd, int64_t D, float eps, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float ss = 0;
    for (int64_t i = 0; i < D; i++) ss += xr[i] * xr[i];
    const float rs = 1.0f / sqrtf(ss / (float)D + eps);
    rstd[r] = rs;
    for (int64_t i = 0; i < D; i++) yr[i] = w ? xr[i] * rs * w[i] : xr[i] * rs;
  }
}

static void rmsnorm_backward_scalar(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dwp, int64_t D, int acc, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float rs = rstd[r];
    float gx = 0;
    for (int64_t i = 0; i < D; i++) gx += (w ? dyr[i] * w[i] : dyr[i]) * xr[i];
    const float c = rs * rs * rs * gx / (float)D;
    for (int64_t i = 0; i < D; i++) {
      const float g = w ? dyr[i] * w[i] : dyr[i];
      if (w && dwp) dwp[i] += dyr[i] * (xr[i] * rs);
      const float v = rs * g - c * xr[i];
      dxr[i] = acc ? dxr[i] + v : v;
    }
  }
}

/** mean and rstd of row xr: the sum, then the sum of squared deviations (two passes, as wasm). */
static void row_moments_scalar(const float* xr, int64_t D, float eps, float* mu, float* rs) {
  float s = 0;
  for (int64_t i = 0; i < D; i++) s += xr[i];
  const float m = s / (float)D;
  float v = 0;
  for (int64_t i = 0; i < D; i++) v += (xr[i] - m) * (xr[i] - m);
  *mu = m;
  *rs = 1.0f / sqrtf(v / (float)D + eps);
}

static void layernorm_forward_scalar(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t D, float eps, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float mu, rs;
    row_moments_scalar(xr, D, eps, &mu, &rs);
    mean[r] = mu;
    rstd[r] = rs;
    for (int64_t i = 0; i < D; i++) {
      float o = (xr[i] - mu) * rs;
      if (w) o *= w[i];
      if (b) o += b[i];
      yr[i] = o;
    }
  }
}

static void layernorm_backward_scalar(const float* x, const float* w, const float* mean, const float* rstd, const float* dy, float* dx, float* dwp, int64_t D, int acc, int64_t start, int64_t end) {
  float* dbp = dwp ? dwp + D : 0;
  for (int64_t r = start; r < end; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float mu = mean[r], rs = rstd[r];
    float sg = 0, sgx = 0;
    for (int64_t i = 0; i < D; i++) {
      const float xh = (xr[i] - mu) * rs;
      const float g = w ? dyr[i] * w[i] : dyr[i];
      sg += g;
      sgx += g * xh;
      if (dwp) {
        dwp[i] += dyr[i] * xh;
        dbp[i] += dyr[i];
      }
    }
    const float mg = sg / (float)D, mgx = sgx / (float)D;
    for (int64_t i = 0; i < D; i++) {
      const float xh = (xr[i] - mu) * rs;
      const float g = w ? dyr[i] * w[i] : dyr[i];
      const float v = rs * (g - mg - xh * mgx);
      dxr[i] = acc ? dxr[i] + v : v;
    }
  }
}

/** The AdamW step's constants: b1, 1 - b1, b2, 1 - b2, lr, eps, wd, 1 / bc1, 1 / bc2. */
typedef struct { float b1, b1c, b2, b2c, lr, eps, wd, ibc1, ibc2; } Adam;

static void adamw_scalar(float* p, const float* g, float* m, float* v, const Adam* h, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i++) {
    const float mv = h->b1 * m[i] + h->b1c * g[i];
    const float vv = h->b2 * v[i] + h->b2c * (g[i] * g[i]);
    m[i] = mv;
    v[i] = vv;
    p[i] = p[i] - h->lr * ((mv * h->ibc1) / (sqrtf(vv * h->ibc2) + h->eps) + h->wd * p[i]);
  }
}

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2 + FMA (8 lanes)

static inline TARGET_AVX2 __m256 sigmoid256(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

static inline TARGET_AVX2 __m256 tanh256(__m256 x) {
  return _mm256_sub_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), sigmoid256(_mm256_add_ps(x, x))), _mm256_set1_ps(1.0f));
}

static inline TARGET_AVX2 __m256 unary256(int op, __m256 x) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  switch (op) {
    case RELU: return _mm256_max_ps(x, zero);
    case RELU2: { const __m256 r = _mm256_max_ps(x, zero); return _mm256_mul_ps(r, r); }
    case SILU: return _mm256_mul_ps(x, sigmoid256(x));
    case GELU: {
      const __m256 u = _mm256_mul_ps(_mm256_set1_ps(GELU_C), _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_A), x), _mm256_mul_ps(x, x), x));
      return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, tanh256(u)));
    }
    case SIGMOID: return sigmoid256(x);
    case TANH: return tanh256(x);
    case ELU_PLUS_ONE: return _mm256_blendv_ps(exp256(x), _mm256_add_ps(x, one), _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
    default: return exp256(x);
  }
}

static inline TARGET_AVX2 __m256 unary_derivative256(int op, __m256 x, __m256 y) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  switch (op) {
    case RELU: return _mm256_and_ps(_mm256_cmp_ps(x, zero, _CMP_GT_OQ), one);
    case RELU2: return _mm256_mul_ps(_mm256_set1_ps(2.0f), _mm256_max_ps(x, zero));
    case SILU: {
      const __m256 s = sigmoid256(x);
      return _mm256_mul_ps(s, _mm256_add_ps(one, _mm256_mul_ps(x, _mm256_sub_ps(one, s))));
    }
    case GELU: {
      const __m256 x2 = _mm256_mul_ps(x, x);
      const __m256 t = tanh256(_mm256_mul_ps(_mm256_set1_ps(GELU_C), _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(GELU_A), x), x2, x)));
      const __m256 du = _mm256_mul_ps(_mm256_set1_ps(GELU_C), _mm256_fmadd_ps(_mm256_set1_ps(3 * GELU_A), x2, one));
      const __m256 sech2 = _mm256_sub_ps(one, _mm256_mul_ps(t, t));
      return _mm256_add_ps(_mm256_mul_ps(half, _mm256_add_ps(one, t)), _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_mul_ps(sech2, du)));
    }
    case SIGMOID: return _mm256_mul_ps(y, _mm256_sub_ps(one, y));
    case TANH: return _mm256_sub_ps(one, _mm256_mul_ps(y, y));
    case ELU_PLUS_ONE: return _mm256_blendv_ps(y, one, _mm256_cmp_ps(x, zero, _CMP_GT_OQ));
    default: return y;
  }
}

static TARGET_AVX2 void unary_forward_avx2(int op, const float* x, float* y, int64_t start, int64_t end) {
  int64_t i = start;
  for (; i + 8 <= end; i += 8) _mm256_storeu_ps(y + i, unary256(op, _mm256_loadu_ps(x + i)));
  unary_forward_scalar(op, x, y, i, end);
}

static TARGET_AVX2 void unary_backward_avx2(int op, const float* x, const float* y, const float* dy, float* dx, int acc, int64_t start, int64_t end) {
  int64_t i = start;
  for (; i + 8 <= end; i += 8) {
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + i), unary_derivative256(op, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    if (acc) g = _mm256_add_ps(g, _mm256_loadu_ps(dx + i));
    _mm256_storeu_ps(dx + i, g);
  }
  unary_backward_scalar(op, x, y, dy, dx, acc, i, end);
}

static TARGET_AVX2 void binary_avx2(int op, const float* a, const float* b, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 av = _mm256_loadu_ps(a + i), bv = _mm256_loadu_ps(b + i);
    __m256 v;
    switch (op) {
      case ADD: v = _mm256_add_ps(av, bv); break;
      case SUB: v = _mm256_sub_ps(av, bv); break;
      case DIV: v = _mm256_div_ps(av, bv); break;
      default: v = _mm256_mul_ps(av, bv);
    }
    _mm256_storeu_ps(y + i, v);
  }
  binary_scalar(op, a + i, b + i, y + i, n - i);
}

static TARGET_AVX2 void mul_scaled_avx2(const float* a, const float* b, float s, float* y, int acc, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)), sv);
    if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(y + i));
    _mm256_storeu_ps(y + i, v);
  }
  mul_scaled_scalar(a + i, b + i, s, y + i, acc, n - i);
}

static TARGET_AVX2 void scale_avx2(const float* x, float s, float* y, int acc, int64_t start, int64_t end) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = start;
  for (; i + 8 <= end; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(y + i, acc ? _mm256_fmadd_ps(xv, sv, _mm256_loadu_ps(y + i)) : _mm256_mul_ps(xv, sv));
  }
  scale_scalar(x, s, y, acc, i, end);
}

static inline TARGET_AVX2 __m256i mix256(__m256i h) {
  h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
  h = _mm256_mullo_epi32(h, _mm256_set1_epi32((int)0x85ebca6bu));
  h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 13));
  h = _mm256_mullo_epi32(h, _mm256_set1_epi32((int)0xc2b2ae35u));
  return _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
}

static TARGET_AVX2 void dropout_avx2(const float* x, float* y, uint32_t threshold, float scale, uint32_t seed, int acc, int64_t start, int64_t end) {
  // Unsigned h >= t as signed compares after flipping the sign bits: keep = !(t' > h').
  const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
  const __m256i tv = _mm256_xor_si256(_mm256_set1_epi32((int)threshold), sign);
  const __m256i golden = _mm256_set1_epi32((int)0x9e3779b9u), sd = _mm256_set1_epi32((int)seed);
  const __m256 sv = _mm256_set1_ps(scale);
  __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)start), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  int64_t i = start;
  for (; i + 8 <= end; i += 8) {
    const __m256i h = _mm256_xor_si256(mix256(_mm256_add_epi32(_mm256_mullo_epi32(idx, golden), sd)), sign);
    const __m256 drop = _mm256_castsi256_ps(_mm256_cmpgt_epi32(tv, h));
    __m256 v = _mm256_andnot_ps(drop, _mm256_mul_ps(_mm256_loadu_ps(x + i), sv));
    if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(y + i));
    _mm256_storeu_ps(y + i, v);
    idx = _mm256_add_epi32(idx, _mm256_set1_epi32(8));
  }
  dropout_scalar(x, y, threshold, scale, seed, acc, i, end);
}

static TARGET_AVX2 void add_avx2(const float* s, float* d, int64_t n) {
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) _mm256_storeu_ps(d + k, _mm256_add_ps(_mm256_loadu_ps(d + k), _mm256_loadu_ps(s + k)));
  add_scalar(s + k, d + k, n - k);
}

static TARGET_AVX2 void col_sum_avx2(const float* x, int64_t rows, int64_t cols, float s, float* out, int acc, int64_t start, int64_t end) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t c = start;
  for (; c + 32 <= end; c += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t r = 0; r < rows; r++) {
      const float* p = x + r * cols + c;
      a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p));
      a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + 8));
      a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + 16));
      a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + 24));
    }
    const __m256 acc4[4] = {a0, a1, a2, a3};
    for (int k = 0; k < 4; k++) {
      __m256 v = _mm256_mul_ps(acc4[k], sv);
      if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(out + c + 8 * k));
      _mm256_storeu_ps(out + c + 8 * k, v);
    }
  }
  for (; c + 8 <= end; c += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t r = 0; r < rows; r++) a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + r * cols + c));
    __m256 v = _mm256_mul_ps(a0, sv);
    if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(out + c));
    _mm256_storeu_ps(out + c, v);
  }
  col_sum_scalar(x, rows, cols, s, out, acc, c, end);
}

/** a . b over n floats. */
static inline TARGET_AVX2 float dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum256(acc);
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

static TARGET_AVX2 void rmsnorm_forward_avx2(const float* x, const float* w, float* y, float* rstd, int64_t D, float eps, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    const float rs = 1.0f / sqrtf(dot_avx2(xr, xr, D) / (float)D + eps);
    rstd[r] = rs;
    const __m256 sv = _mm256_set1_ps(rs);
    int64_t i = 0;
    for (; i + 8 <= D; i += 8) {
      __m256 v = _mm256_mul_ps(_mm256_loadu_ps(xr + i), sv);
      if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
      _mm256_storeu_ps(yr + i, v);
    }
    for (; i < D; i++) yr[i] = w ? xr[i] * rs * w[i] : xr[i] * rs;
  }
}

static TARGET_AVX2 void rmsnorm_backward_avx2(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dwp, int64_t D, int acc, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float rs = rstd[r];
    float gx;
    if (w) {
      __m256 a = _mm256_setzero_ps();
      int64_t i = 0;
      for (; i + 8 <= D; i += 8) a = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(dyr + i), _mm256_loadu_ps(w + i)), _mm256_loadu_ps(xr + i), a);
      gx = hsum256(a);
      for (; i < D; i++) gx += dyr[i] * w[i] * xr[i];
    } else {
      gx = dot_avx2(dyr, xr, D);
    }
    const float c = rs * rs * rs * gx / (float)D;
    const __m256 rsv = _mm256_set1_ps(rs), cv = _mm256_set1_ps(c);
    int64_t i = 0;
    for (; i + 8 <= D; i += 8) {
      const __m256 xv = _mm256_loadu_ps(xr + i), dyv = _mm256_loadu_ps(dyr + i);
      __m256 g = dyv;
      if (w) {
        g = _mm256_mul_ps(g, _mm256_loadu_ps(w + i));
        if (dwp) _mm256_storeu_ps(dwp + i, _mm256_fmadd_ps(dyv, _mm256_mul_ps(xv, rsv), _mm256_loadu_ps(dwp + i)));
      }
      __m256 v = _mm256_fmsub_ps(rsv, g, _mm256_mul_ps(cv, xv));
      if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(dxr + i));
      _mm256_storeu_ps(dxr + i, v);
    }
    for (; i < D; i++) {
      const float g = w ? dyr[i] * w[i] : dyr[i];
      if (w && dwp) dwp[i] += dyr[i] * (xr[i] * rs);
      const float v = rs * g - c * xr[i];
      dxr[i] = acc ? dxr[i] + v : v;
    }
  }
}

static TARGET_AVX2 void layernorm_forward_avx2(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t D, float eps, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    __m256 a = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= D; i += 8) a = _mm256_add_ps(a, _mm256_loadu_ps(xr + i));
    float s = hsum256(a);
    for (; i < D; i++) s += xr[i];
    const float mu = s / (float)D;
    const __m256 muv = _mm256_set1_ps(mu);
    a = _mm256_setzero_ps();
    for (i = 0; i + 8 <= D; i += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + i), muv);
      a = _mm256_fmadd_ps(d, d, a);
    }
    float v = hsum256(a);
    for (; i < D; i++) v += (xr[i] - mu) * (xr[i] - mu);
    const float rs = 1.0f / sqrtf(v / (float)D + eps);
    mean[r] = mu;
    rstd[r] = rs;
    const __m256 rsv = _mm256_set1_ps(rs);
    for (i = 0; i + 8 <= D; i += 8) {
      __m256 o = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), muv), rsv);
      if (w) o = _mm256_mul_ps(o, _mm256_loadu_ps(w + i));
      if (b) o = _mm256_add_ps(o, _mm256_loadu_ps(b + i));
      _mm256_storeu_ps(yr + i, o);
    }
    for (; i < D; i++) {
      float o = (xr[i] - mu) * rs;
      if (w) o *= w[i];
      if (b) o += b[i];
      yr[i] = o;
    }
  }
}

static TARGET_AVX2 void layernorm_backward_avx2(const float* x, const float* w, const float* mean, const float* rstd, const float* dy, float* dx, float* dwp, int64_t D, int acc, int64_t start, int64_t end) {
  float* dbp = dwp ? dwp + D : 0;
  for (int64_t r = start; r < end; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float mu = mean[r], rs = rstd[r];
    const __m256 muv = _mm256_set1_ps(mu), rsv = _mm256_set1_ps(rs);
    __m256 ag = _mm256_setzero_ps(), agx = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= D; i += 8) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), muv), rsv);
      const __m256 dyv = _mm256_loadu_ps(dyr + i);
      const __m256 g = w ? _mm256_mul_ps(dyv, _mm256_loadu_ps(w + i)) : dyv;
      ag = _mm256_add_ps(ag, g);
      agx = _mm256_fmadd_ps(g, xh, agx);
      if (dwp) {
        _mm256_storeu_ps(dwp + i, _mm256_fmadd_ps(dyv, xh, _mm256_loadu_ps(dwp + i)));
        _mm256_storeu_ps(dbp + i, _mm256_add_ps(_mm256_loadu_ps(dbp + i), dyv));
      }
    }
    float sg = hsum256(ag), sgx = hsum256(agx);
    for (; i < D; i++) {
      const float xh = (xr[i] - mu) * rs;
      const float g = w ? dyr[i] * w[i] : dyr[i];
      sg += g;
      sgx += g * xh;
      if (dwp) {
        dwp[i] += dyr[i] * xh;
        dbp[i] += dyr[i];
      }
    }
    const float mg = sg / (float)D, mgx = sgx / (float)D;
    const __m256 mgv = _mm256_set1_ps(mg), mgxv = _mm256_set1_ps(mgx);
    for (i = 0; i + 8 <= D; i += 8) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), muv), rsv);
      const __m256 dyv = _mm256_loadu_ps(dyr + i);
      const __m256 g = w ? _mm256_mul_ps(dyv, _mm256_loadu_ps(w + i)) : dyv;
      __m256 v = _mm256_mul_ps(rsv, _mm256_fnmadd_ps(xh, mgxv, _mm256_sub_ps(g, mgv)));
      if (acc) v = _mm256_add_ps(v, _mm256_loadu_ps(dxr + i));
      _mm256_storeu_ps(dxr + i, v);
    }
    for (; i < D; i++) {
      const float xh = (xr[i] - mu) * rs;
      const float g = w ? dyr[i] * w[i] : dyr[i];
      const float v = rs * (g - mg - xh * mgx);
      dxr[i] = acc ? dxr[i] + v : v;
    }
  }
}

static TARGET_AVX2 void adamw_avx2(float* p, const float* g, float* m, float* v, const Adam* h, int64_t start, int64_t end) {
  const __m256 b1 = _mm256_set1_ps(h->b1), b1c = _mm256_set1_ps(h->b1c), b2 = _mm256_set1_ps(h->b2), b2c = _mm256_set1_ps(h->b2c);
  const __m256 lr = _mm256_set1_ps(h->lr), eps = _mm256_set1_ps(h->eps), wd = _mm256_set1_ps(h->wd);
  const __m256 ibc1 = _mm256_set1_ps(h->ibc1), ibc2 = _mm256_set1_ps(h->ibc2);
  int64_t i = start;
  for (; i + 8 <= end; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 mv = _mm256_fmadd_ps(b1, _mm256_loadu_ps(m + i), _mm256_mul_ps(b1c, gv));
    const __m256 vv = _mm256_fmadd_ps(b2, _mm256_loadu_ps(v + i), _mm256_mul_ps(b2c, _mm256_mul_ps(gv, gv)));
    _mm256_storeu_ps(m + i, mv);
    _mm256_storeu_ps(v + i, vv);
    const __m256 pv = _mm256_loadu_ps(p + i);
    const __m256 step = _mm256_fmadd_ps(wd, pv, _mm256_div_ps(_mm256_mul_ps(mv, ibc1), _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vv, ibc2)), eps)));
    _mm256_storeu_ps(p + i, _mm256_fnmadd_ps(lr, step, pv));
  }
  adamw_scalar(p, g, m, v, h, i, end);
}

// ---------------------------------------------------------------- AVX-512 (16 lanes, masked tails)

/** The lanes of a 16-float block of which `left` floats remain. */
static inline __mmask16 tail16(int64_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

static inline TARGET_AVX512 __m512 sigmoid512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

static inline TARGET_AVX512 __m512 tanh512(__m512 x) {
  return _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), sigmoid512(_mm512_add_ps(x, x))), _mm512_set1_ps(1.0f));
}

static inline TARGET_AVX512 __m512 unary512(int op, __m512 x) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  switch (op) {
    case RELU: return _mm512_max_ps(x, zero);
    case RELU2: { const __m512 r = _mm512_max_ps(x, zero); return _mm512_mul_ps(r, r); }
    case SILU: return _mm512_mul_ps(x, sigmoid512(x));
    case GELU: {
      const __m512 u = _mm512_mul_ps(_mm512_set1_ps(GELU_C), _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_A), x), _mm512_mul_ps(x, x), x));
      return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(one, tanh512(u)));
    }
    case SIGMOID: return sigmoid512(x);
    case TANH: return tanh512(x);
    case ELU_PLUS_ONE: return _mm512_mask_add_ps(exp512(x), _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), x, one);
    default: return exp512(x);
  }
}

static inline TARGET_AVX512 __m512 unary_derivative512(int op, __m512 x, __m512 y) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
  switch (op) {
    case RELU: return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), one);
    case RELU2: return _mm512_mul_ps(_mm512_set1_ps(2.0f), _mm512_max_ps(x, zero));
    case SILU: {
      const __m512 s = sigmoid512(x);
      return _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(x, _mm512_sub_ps(one, s))));
    }
    case GELU: {
      const __m512 x2 = _mm512_mul_ps(x, x);
      const __m512 t = tanh512(_mm512_mul_ps(_mm512_set1_ps(GELU_C), _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(GELU_A), x), x2, x)));
      const __m512 du = _mm512_mul_ps(_mm512_set1_ps(GELU_C), _mm512_fmadd_ps(_mm512_set1_ps(3 * GELU_A), x2, one));
      const __m512 sech2 = _mm512_sub_ps(one, _mm512_mul_ps(t, t));
      return _mm512_add_ps(_mm512_mul_ps(half, _mm512_add_ps(one, t)), _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_mul_ps(sech2, du)));
    }
    case SIGMOID: return _mm512_mul_ps(y, _mm512_sub_ps(one, y));
    case TANH: return _mm512_sub_ps(one, _mm512_mul_ps(y, y));
    case ELU_PLUS_ONE: return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, zero, _CMP_GT_OQ), one);
    default: return y;
  }
}

static TARGET_AVX512 void unary_forward_avx512(int op, const float* x, float* y, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i += 16) {
    const __mmask16 k = tail16(end - i);
    _mm512_mask_storeu_ps(y + i, k, unary512(op, _mm512_maskz_loadu_ps(k, x + i)));
  }
}

static TARGET_AVX512 void unary_backward_avx512(int op, const float* x, const float* y, const float* dy, float* dx, int acc, int64_t start, int64_t end) {
  for (int64_t i = start; i < end; i += 16) {
    const __mmask16 k = tail16(end - i);
    __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), unary_derivative512(op, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i)));
    if (acc) g = _mm512_add_ps(g, _mm512_maskz_loadu_ps(k, dx + i));
    _mm512_mask_storeu_ps(dx + i, k, g);
  }
}

static TARGET_AVX512 void binary_avx512(int op, const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    const __m512 av = _mm512_maskz_loadu_ps(k, a + i), bv = _mm512_maskz_loadu_ps(k, b + i);
    __m512 v;
    switch (op) {
      case ADD: v = _mm512_add_ps(av, bv); break;
      case SUB: v = _mm512_sub_ps(av, bv); break;
      case DIV: v = _mm512_maskz_div_ps(k, av, bv); break;
      default: v = _mm512_mul_ps(av, bv);
    }
    _mm512_mask_storeu_ps(y + i, k, v);
  }
}

static TARGET_AVX512 void mul_scaled_avx512(const float* a, const float* b, float s, float* y, int acc, int64_t n) {
  const __m512 sv = _mm512_set1_ps(s);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i)), sv);
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, y + i));
    _mm512_mask_storeu_ps(y + i, k, v);
  }
}

static TARGET_AVX512 void scale_avx512(const float* x, float s, float* y, int acc, int64_t start, int64_t end) {
  const __m512 sv = _mm512_set1_ps(s);
  for (int64_t i = start; i < end; i += 16) {
    const __mmask16 k = tail16(end - i);
    const __m512 xv = _mm512_maskz_loadu_ps(k, x + i);
    _mm512_mask_storeu_ps(y + i, k, acc ? _mm512_fmadd_ps(xv, sv, _mm512_maskz_loadu_ps(k, y + i)) : _mm512_mul_ps(xv, sv));
  }
}

static inline TARGET_AVX512 __m512i mix512(__m512i h) {
  h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
  h = _mm512_mullo_epi32(h, _mm512_set1_epi32((int)0x85ebca6bu));
  h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 13));
  h = _mm512_mullo_epi32(h, _mm512_set1_epi32((int)0xc2b2ae35u));
  return _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
}

static TARGET_AVX512 void dropout_avx512(const float* x, float* y, uint32_t threshold, float scale, uint32_t seed, int acc, int64_t start, int64_t end) {
  const __m512i tv = _mm512_set1_epi32((int)threshold), golden = _mm512_set1_epi32((int)0x9e3779b9u), sd = _mm512_set1_epi32((int)seed);
  const __m512 sv = _mm512_set1_ps(scale);
  __m512i idx = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)start), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  for (int64_t i = start; i < end; i += 16) {
    const __mmask16 k = tail16(end - i);
    const __mmask16 keep = _mm512_cmpge_epu32_mask(mix512(_mm512_add_epi32(_mm512_mullo_epi32(idx, golden), sd)), tv);
    __m512 v = _mm512_maskz_mul_ps(keep, _mm512_maskz_loadu_ps(k, x + i), sv);
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, y + i));
    _mm512_mask_storeu_ps(y + i, k, v);
    idx = _mm512_add_epi32(idx, _mm512_set1_epi32(16));
  }
}

static TARGET_AVX512 void add_avx512(const float* s, float* d, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail16(n - i);
    _mm512_mask_storeu_ps(d + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, d + i), _mm512_maskz_loadu_ps(k, s + i)));
  }
}

static TARGET_AVX512 void col_sum_avx512(const float* x, int64_t rows, int64_t cols, float s, float* out, int acc, int64_t start, int64_t end) {
  const __m512 sv = _mm512_set1_ps(s);
  int64_t c = start;
  for (; c + 64 <= end; c += 64) {
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t r = 0; r < rows; r++) {
      const float* p = x + r * cols + c;
      for (int j = 0; j < 4; j++) a[j] = _mm512_add_ps(a[j], _mm512_loadu_ps(p + 16 * j));
    }
    for (int j = 0; j < 4; j++) {
      __m512 v = _mm512_mul_ps(a[j], sv);
      if (acc) v = _mm512_add_ps(v, _mm512_loadu_ps(out + c + 16 * j));
      _mm512_storeu_ps(out + c + 16 * j, v);
    }
  }
  for (; c < end; c += 16) {
    const __mmask16 k = tail16(end - c);
    __m512 a0 = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(k, x + r * cols + c));
    __m512 v = _mm512_mul_ps(a0, sv);
    if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, out + c));
    _mm512_mask_storeu_ps(out + c, k, v);
  }
}

static TARGET_AVX512 void rmsnorm_forward_avx512(const float* x, const float* w, float* y, float* rstd, int64_t D, float eps, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    __m512 a = _mm512_setzero_ps();
    for (int64_t i = 0; i < D; i += 16) {
      const __m512 xv = _mm512_maskz_loadu_ps(tail16(D - i), xr + i);
      a = _mm512_fmadd_ps(xv, xv, a);
    }
    const float rs = 1.0f / sqrtf(hsum512(a) / (float)D + eps);
    rstd[r] = rs;
    const __m512 sv = _mm512_set1_ps(rs);
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, xr + i), sv);
      if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, w + i));
      _mm512_mask_storeu_ps(yr + i, k, v);
    }
  }
}

static TARGET_AVX512 void rmsnorm_backward_avx512(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dwp, int64_t D, int acc, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float* dxr = dx + r * D;
    const float rs = rstd[r];
    __m512 a = _mm512_setzero_ps();
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      __m512 g = _mm512_maskz_loadu_ps(k, dyr + i);
      if (w) g = _mm512_mul_ps(g, _mm512_maskz_loadu_ps(k, w + i));
      a = _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(k, xr + i), a);
    }
    const float c = rs * rs * rs * hsum512(a) / (float)D;
    const __m512 rsv = _mm512_set1_ps(rs), cv = _mm512_set1_ps(c);
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      const __m512 xv = _mm512_maskz_loadu_ps(k, xr + i), dyv = _mm512_maskz_loadu_ps(k, dyr + i);
      __m512 g = dyv;
      if (w) {
        g = _mm512_mul_ps(g, _mm512_maskz_loadu_ps(k, w + i));
        if (dwp) _mm512_mask_storeu_ps(dwp + i, k, _mm512_fmadd_ps(dyv, _mm512_mul_ps(xv, rsv), _mm512_maskz_loadu_ps(k, dwp + i)));
      }
      __m512 v = _mm512_fmsub_ps(rsv, g, _mm512_mul_ps(cv, xv));
      if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, dxr + i));
      _mm512_mask_storeu_ps(dxr + i, k, v);
    }
  }
}

static TARGET_AVX512 void layernorm_forward_avx512(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t D, float eps, int64_t start, int64_t end) {
  for (int64_t r = start; r < end; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    __m512 a = _mm512_setzero_ps();
    for (int64_t i = 0; i < D; i += 16) a = _mm512_add_ps(a, _mm512_maskz_loadu_ps(tail16(D - i), xr + i));
    const float mu = hsum512(a) / (float)D;
    const __m512 muv = _mm512_set1_ps(mu);
    a = _mm512_setzero_ps();
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      const __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, xr + i), muv);
      a = _mm512_fmadd_ps(d, d, a);
    }
    const float rs = 1.0f / sqrtf(hsum512(a) / (float)D + eps);
    mean[r] = mu;
    rstd[r] = rs;
    const __m512 rsv = _mm512_set1_ps(rs);
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      __m512 o = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + i), muv), rsv);
      if (w) o = _mm512_mul_ps(o, _mm512_maskz_loadu_ps(k, w + i));
      if (b) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(k, b + i));
      _mm512_mask_storeu_ps(yr + i, k, o);
    }
  }
}

static TARGET_AVX512 void layernorm_backward_avx512(const float* x, const float* w, const float* mean, const float* rstd, const float* dy, float* dx, float* dwp, int64_t D, int acc, int64_t start, int64_t end) {
  float* dbp = dwp ? dwp + D : 0;
  for (int64_t r = start; r < end; r++) {
    const float *xr = x + r * D, *dyr = dy + r * D;
    float* dxr = dx + r * D;
    const __m512 muv = _mm512_set1_ps(mean[r]), rsv = _mm512_set1_ps(rstd[r]);
    __m512 ag = _mm512_setzero_ps(), agx = _mm512_setzero_ps();
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      const __m512 xh = _mm512_maskz_mul_ps(k, _mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + i), muv), rsv);
      const __m512 dyv = _mm512_maskz_loadu_ps(k, dyr + i);
      const __m512 g = w ? _mm512_mul_ps(dyv, _mm512_maskz_loadu_ps(k, w + i)) : dyv;
      ag = _mm512_add_ps(ag, g);
      agx = _mm512_fmadd_ps(g, xh, agx);
      if (dwp) {
        _mm512_mask_storeu_ps(dwp + i, k, _mm512_fmadd_ps(dyv, xh, _mm512_maskz_loadu_ps(k, dwp + i)));
        _mm512_mask_storeu_ps(dbp + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, dbp + i), dyv));
      }
    }
    const __m512 mgv = _mm512_set1_ps(hsum512(ag) / (float)D), mgxv = _mm512_set1_ps(hsum512(agx) / (float)D);
    for (int64_t i = 0; i < D; i += 16) {
      const __mmask16 k = tail16(D - i);
      const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xr + i), muv), rsv);
      const __m512 dyv = _mm512_maskz_loadu_ps(k, dyr + i);
      const __m512 g = w ? _mm512_mul_ps(dyv, _mm512_maskz_loadu_ps(k, w + i)) : dyv;
      __m512 v = _mm512_mul_ps(rsv, _mm512_fnmadd_ps(xh, mgxv, _mm512_sub_ps(g, mgv)));
      if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, dxr + i));
      _mm512_mask_storeu_ps(dxr + i, k, v);
    }
  }
}

static TARGET_AVX512 void adamw_avx512(float* p, const float* g, float* m, float* v, const Adam* h, int64_t start, int64_t end) {
  const __m512 b1 = _mm512_set1_ps(h->b1), b1c = _mm512_set1_ps(h->b1c), b2 = _mm512_set1_ps(h->b2), b2c = _mm512_set1_ps(h->b2c);
  const __m512 lr = _mm512_set1_ps(h->lr), eps = _mm512_set1_ps(h->eps), wd = _mm512_set1_ps(h->wd);
  const __m512 ibc1 = _mm512_set1_ps(h->ibc1), ibc2 = _mm512_set1_ps(h->ibc2);
  for (int64_t i = start; i < end; i += 16) {
    const __mmask16 k = tail16(end - i);
    const __m512 gv = _mm512_maskz_loadu_ps(k, g + i);
    const __m512 mv = _mm512_fmadd_ps(b1, _mm512_maskz_loadu_ps(k, m + i), _mm512_mul_ps(b1c, gv));
    const __m512 vv = _mm512_fmadd_ps(b2, _mm512_maskz_loadu_ps(k, v + i), _mm512_mul_ps(b2c, _mm512_mul_ps(gv, gv)));
    _mm512_mask_storeu_ps(m + i, k, mv);
    _mm512_mask_storeu_ps(v + i, k, vv);
    const __m512 pv = _mm512_maskz_loadu_ps(k, p + i);
    const __m512 step = _mm512_fmadd_ps(wd, pv, _mm512_div_ps(_mm512_mul_ps(mv, ibc1), _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(vv, ibc2)), eps)));
    _mm512_mask_storeu_ps(p + i, k, _mm512_fnmadd_ps(lr, step, pv));
  }
}
#endif

// ---------------------------------------------------------------- kernel entries

// Run the AVX-512, AVX2 or scalar version of `name` with the arguments that follow.
#if defined(__x86_64__)
#define DISPATCH(name, ...)                                                   \
  do {                                                                        \
    if (ternlm_isa == ISA_AVX512) name##_avx512(__VA_ARGS__);                 \
    else if (ternlm_isa == ISA_AVX2) name##_avx2(__VA_ARGS__);                \
    else name##_scalar(__VA_ARGS__);                                          \
  } while (0)
#else
#define DISPATCH(name, ...) name##_scalar(__VA_ARGS__)
#endif

/** unary_forward(op, x, y, start, end): y = f(x). */
static double unary_forward(const double* a, int n) {
  (void)n;
  DISPATCH(unary_forward, I32(a[0]), PTR_F32(a[1]), PTR_F32(a[2]), I64(a[3]), I64(a[4]));
  return 0;
}

/** unary_backward(op, x, y, dy, dx, accumulate, start, end): dx (+)= dy * f'(x). */
static double unary_backward(const double* a, int n) {
  (void)n;
  DISPATCH(unary_backward, I32(a[0]), PTR_F32(a[1]), PTR_F32(a[2]), PTR_F32(a[3]), PTR_F32(a[4]), I32(a[5]), I64(a[6]), I64(a[7]));
  return 0;
}

/**
 * binary_forward(op, a, b, bn, y, start, end): y[i] = a[i] op b[i % bn], run by run of the
 * broadcast row (each run contiguous in a, b and y).
 */
static double binary_forward(const double* a, int n) {
  (void)n;
  const int op = I32(a[0]);
  const float *x = PTR_F32(a[1]), *b = PTR_F32(a[2]);
  const int64_t bn = I64(a[3]), end = I64(a[6]);
  float* y = PTR_F32(a[4]);
  for (int64_t i = I64(a[5]), j = i % bn; i < end; j = 0) {
    const int64_t len = end - i < bn - j ? end - i : bn - j;
    DISPATCH(binary, op, x + i, b + j, y + i, len);
    i += len;
  }
  return 0;
}

/** mul_scaled(a, b, bn, s, y, accumulate, start, end): y[i] (+)= a[i] * b[i % bn] * s. */
static double mul_scaled(const double* a, int n) {
  (void)n;
  const float *x = PTR_F32(a[0]), *b = PTR_F32(a[1]);
  const int64_t bn = I64(a[2]), end = I64(a[7]);
  const float s = (float)a[3];
  float* y = PTR_F32(a[4]);
  const int acc = I32(a[5]);
  for (int64_t i = I64(a[6]), j = i % bn; i < end; j = 0) {
    const int64_t len = end - i < bn - j ? end - i : bn - j;
    DISPATCH(mul_scaled, x + i, b + j, s, y + i, acc, len);
    i += len;
  }
  return 0;
}

/** scale_f32(x, s, y, accumulate, start, end): y (+)= s * x. */
static double scale_f32(const double* a, int n) {
  (void)n;
  DISPATCH(scale, PTR_F32(a[0]), (float)a[1], PTR_F32(a[2]), I32(a[3]), I64(a[4]), I64(a[5]));
  return 0;
}

/**
 * dropout_f32(x, y, threshold, scale, seed, accumulate, start, end): y (+)= x * scale where
 * mix32(i * 0x9e3779b9 + seed) >= threshold, else 0 — bit for bit the wasm kernel's mask.
 */
static double dropout_f32(const double* a, int n) {
  (void)n;
  DISPATCH(dropout, PTR_F32(a[0]), PTR_F32(a[1]), (uint32_t)I64(a[2]), (float)a[3], (uint32_t)I64(a[4]), I32(a[5]), I64(a[6]), I64(a[7]));
  return 0;
}

/**
 * copy_rows(src, s0, s1, dst, d0, d1, n1, n2, accumulate, start, end): for rows r = i0 * n1 + i1
 * in [start, end), the n2 floats at src + i0*s0 + i1*s1 go to (or are added to) dst + i0*d0 + i1*d1.
 */
static double copy_rows(const double* a, int n) {
  (void)n;
  const float* src = PTR_F32(a[0]);
  float* dst = PTR_F32(a[3]);
  const int64_t s0 = I64(a[1]), s1 = I64(a[2]), d0 = I64(a[4]), d1 = I64(a[5]), n1 = I64(a[6]), n2 = I64(a[7]);
  const int acc = I32(a[8]);
  for (int64_t r = I64(a[9]); r < I64(a[10]); r++) {
    const int64_t i0 = r / n1, i1 = r - i0 * n1;
    const float* s = src + i0 * s0 + i1 * s1;
    float* d = dst + i0 * d0 + i1 * d1;
    if (acc) DISPATCH(add, s, d, n2);
    else memmove(d, s, (size_t)n2 * 4);
  }
  return 0;
}

/** col_sum(x, rows, cols, s, out, accumulate, start, end): out[c] (+)= s * sum over rows of x[r, c]. */
static double col_sum(const double* a, int n) {
  (void)n;
  DISPATCH(col_sum, PTR_F32(a[0]), I64(a[1]), I64(a[2]), (float)a[3], PTR_F32(a[4]), I32(a[5]), I64(a[6]), I64(a[7]));
  return 0;
}

/** A float pointer argument, or NULL for 0 ("none"). */
static inline float* opt_f32(double x) { return x != 0 ? PTR_F32(x) : 0; }

/** rmsnorm_forward(x, w, y, rstd, D, eps, start, end): y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps). */
static double rmsnorm_forward(const double* a, int n) {
  (void)n;
  DISPATCH(rmsnorm_forward, PTR_F32(a[0]), opt_f32(a[1]), PTR_F32(a[2]), PTR_F32(a[3]), I64(a[4]), (float)a[5], I64(a[6]), I64(a[7]));
  return 0;
}

/**
 * rmsnorm_backward(x, w, rstd, dy, dx, dwPartials, D, accumulate, start, end, tid):
 * dx (+)= rstd * g - rstd^3 * x * (g . x) / D with g = dy * w; thread tid's dw partial row
 * (dwPartials + tid * D) += dy * x * rstd.
 */
static double rmsnorm_backward(const double* a, int n) {
  (void)n;
  const int64_t D = I64(a[6]);
  float* dwp = a[5] != 0 ? PTR_F32(a[5]) + I64(a[10]) * D : 0;
  DISPATCH(rmsnorm_backward, PTR_F32(a[0]), opt_f32(a[1]), PTR_F32(a[2]), PTR_F32(a[3]), PTR_F32(a[4]), dwp, D, I32(a[7]), I64(a[8]), I64(a[9]));
  return 0;
}

/** layernorm_forward(x, w, b, y, mean, rstd, D, eps, start, end): y = (x - mean) * rstd * w + b. */
static double layernorm_forward(const double* a, int n) {
  (void)n;
  DISPATCH(layernorm_forward, PTR_F32(a[0]), opt_f32(a[1]), opt_f32(a[2]), PTR_F32(a[3]), PTR_F32(a[4]), PTR_F32(a[5]), I64(a[6]), (float)a[7], I64(a[8]), I64(a[9]));
  return 0;
}

/**
 * layernorm_backward(x, w, mean, rstd, dy, dx, partials, D, accumulate, start, end, tid):
 * dx (+)= rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * w; thread tid's partial rows
 * (partials + tid * 2D: dw then db) += dy * xhat and dy.
 */
static double layernorm_backward(const double* a, int n) {
  (void)n;
  const int64_t D = I64(a[7]);
  float* dwp = a[6] != 0 ? PTR_F32(a[6]) + I64(a[11]) * 2 * D : 0;
  DISPATCH(layernorm_backward, PTR_F32(a[0]), opt_f32(a[1]), PTR_F32(a[2]), PTR_F32(a[3]), PTR_F32(a[4]), PTR_F32(a[5]), dwp, D, I32(a[8]), I64(a[9]), I64(a[10]));
  return 0;
}

/**
 * adamw_update(p, g, m, v, lr, b1, b2, eps, wd, bc1, bc2, start, end): m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; p -= lr * (m/bc1 / (sqrt(v/bc2) + eps) + wd * p).
 */
static double adamw_update(const double* a, int n) {
  (void)n;
  const float b1 = (float)a[5], b2 = (float)a[6];
  const Adam h = {b1, 1.0f - b1, b2, 1.0f - b2, (float)a[4], (float)a[7], (float)a[8], 1.0f / (float)a[9], 1.0f / (float)a[10]};
  DISPATCH(adamw, PTR_F32(a[0]), PTR_F32(a[1]), PTR_F32(a[2]), PTR_F32(a[3]), &h, I64(a[11]), I64(a[12]));
  return 0;
}

const KernelEntry ops_kernels[] = {
  {"unary_forward", 5, unary_forward},
  {"unary_backward", 8, unary_backward},
  {"binary_forward", 7, binary_forward},
  {"mul_scaled", 8, mul_scaled},
  {"scale_f32", 6, scale_f32},
  {"dropout_f32", 8, dropout_f32},
  {"copy_rows", 11, copy_rows},
  {"col_sum", 8, col_sum},
  {"rmsnorm_forward", 8, rmsnorm_forward},
  {"rmsnorm_backward", 11, rmsnorm_backward},
  {"layernorm_forward", 10, layernorm_forward},
  {"layernorm_backward", 12, layernorm_backward},
  {"adamw_update", 13, adamw_update},
  {0, 0, 0},
};
