// Native kernels: the other kernels the training profiles say are hot — elementwise
// (assembly/elementwise.ts: unary_forward/backward, binary_forward, mul_scaled, scale_f32,
// dropout_f32, copy_rows), col_sum (reduce.ts), the norms (norm.ts) and adamw_update (optim.ts).
//
// Each kernel reads its arguments and runs the AVX-512, AVX2 + FMA or scalar C version. The two
// vector versions are one text, ops_simd.inc, compiled for 16 and for 8 lanes; they handle the
// last partial block of a loop with masked loads and stores. Arrays are flat f32, rows of D floats.
#include <math.h>
#include <string.h>
#include "kernels.h"

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
// ---------------------------------------------------------------- AVX2 + FMA (8 lanes) and AVX-512 (16 lanes)

#define SIMD_WIDTH 8
#include "simd_width.h"
#include "ops_simd.inc"
#define SIMD_WIDTH 16
#include "simd_width.h"
#include "ops_simd.inc"
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
  KERNEL(unary_forward, 5),
  KERNEL(unary_backward, 8),
  KERNEL(binary_forward, 7),
  KERNEL(mul_scaled, 8),
  KERNEL(scale_f32, 6),
  KERNEL(dropout_f32, 8),
  KERNEL(copy_rows, 11),
  KERNEL(col_sum, 8),
  KERNEL(rmsnorm_forward, 8),
  KERNEL(rmsnorm_backward, 11),
  KERNEL(layernorm_forward, 10),
  KERNEL(layernorm_backward, 12),
  KERNEL(adamw_update, 13),
  {0, 0, 0},
};
