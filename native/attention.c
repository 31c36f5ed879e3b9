// Native kernels: attention, softmax and cross-entropy, and the one-token inference kernels
// (assembly/attention.ts, softmax.ts, infer.ts).
//
// Each kernel is written once, on top of a small set of row and tile primitives (RowOps), of
// which there are three builds: AVX-512 (16 lanes) and AVX2 + FMA (8 lanes), both compiled from
// the one text attention_simd.inc, and plain C. A kernel picks the set for ternlm_isa when it is
// called.
//
// Fused attention (attention_forward / attention_backward) follows the wasm kernels' plan: tiles
// of BR query rows against blocks of up to BC keys, an online softmax in the forward pass and
// the weights rebuilt from lse in the backward pass. Its per-thread scratch (in the shared
// memory, as the binding allocates it) holds the keys of the task's KV head as "panels" 16 keys
// wide (panel p: hd rows of the 16 floats of keys 16p..16p+15) and rows padded to hp = hd
// rounded up to 16 floats, so that the tile loops need no tails.
#include <math.h>
#include <string.h>
#include "kernels.h"

/** Query rows per tile. */
#define BR 4
/** Keys per block: a tile's scores are BR x BC floats. */
#define BC 64
/** Keys per panel, and the padding of rows. */
#define PW 16

static inline int round_up(int n, int m) { return (n + m - 1) / m * m; }
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

typedef struct {
  /** Largest of x[0..n) (-inf when n = 0). */
  float (*row_max)(const float* x, int n);
  /** y[i] = e^(x[i] - m) for i < n (y may be x, or NULL to only sum); returns the sum. */
  float (*exp_sum)(const float* x, float* y, int n, float m);
  /** y[i] = x[i] * s + c for i < n (y may be x). */
  void (*scale_add)(const float* x, float* y, int n, float s, float c);
  /** a . b over n floats. */
  float (*dot)(const float* a, const float* b, int n);
  /** dx[i] (+)= y[i] * (dy[i] - s) for i < n. */
  void (*softmax_grad)(const float* y, const float* dy, float* dx, int n, float s, int accumulate);
  /** y[i] = silu(a[i]) * b[i] for i < n. */
  void (*swiglu)(const float* a, const float* b, float* y, int n);
  /** One head of n floats (n even): y (+)= x * cos + swap_pairs(x) * sin * sign (y may be x). */
  void (*rope)(const float* x, const float* cos, const float* sin, float* y, int n, float sign, int accumulate);
  /**
   * y[c] = bias[c] (0 without bias) + sum_{i<Kw} w[i * C + c] * last[c - (Kw-1-i) * dil * C] for
   * c < n: the causal depthwise conv's newest output (pointers already at the first channel).
   */
  void (*conv_step)(const float* last, const float* w, const float* bias, float* y, int64_t C, int Kw, int dil, int n);
  /** att[t] = scale * (q . k_t) for t < T, k_t = k + t * ld, of hs floats; returns the largest. */
  float (*decode_scores)(const float* q, const float* k, int ld, float* att, int T, int hs, float scale);
  /** out[i] = inv * sum_{t<T} w[t] * v_t[i] for i < hs, v_t = v + t * ld. */
  void (*decode_sum)(const float* w, const float* v, int ld, float* out, int T, int hs, float inv);
  /**
   * s[r * BC + c] = sum_{d<hd} a[d * BR + r] * key_c[d] for r < BR, c < n (n a multiple of PW):
   * a transposed query tile times the keys whose panels start at `panels`.
   */
  void (*tile_scores)(const float* a, const float* panels, int hd, int n, float* s);
  /** acc[r][i] = acc[r][i] * alpha[r] + sum_{c<n} w[r * BC + c] * x[c * hp + i] for r < BR, i < hp. */
  void (*tile_weighted_sum)(const float* w, const float* x, int hp, int n, const float* alpha, float* acc);
  /** y[c * hp + i] += sum_{r<BR} w[r * BC + c] * a[r * lda + i] for c < n, i < hp. */
  void (*tile_outer_add)(const float* w, const float* a, int lda, int hp, int n, float* y);
} RowOps;

// ---------------------------------------------------------------- plain C

static float c_row_max(const float* x, int n) {
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

static float c_exp_sum(const float* x, float* y, int n, float m) {
  float s = 0;
  for (int i = 0; i < n; i++) {
    const float e = expf(x[i] - m);
    if (y) y[i] = e;
    s += e;
  }
  return s;
}

static void c_scale_add(const float* x, float* y, int n, float s, float c) {
  for (int i = 0; i < n; i++) y[i] = x[i] * s + c;
}

static float c_dot(const float* a, const float* b, int n) {
  float s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

static void c_softmax_grad(const float* y, const float* dy, float* dx, int n, float s, int accumulate) {
  for (int i = 0; i < n; i++) dx[i] = y[i] * (dy[i] - s) + (accumulate ? dx[i] : 0);
}

static void c_swiglu(const float* a, const float* b, float* y, int n) {
  for (int i = 0; i < n; i++) y[i] = a[i] / (1 + expf(-a[i])) * b[i];
}

static void c_rope(const float* x, const float* cos, const float* sin, float* y, int n, float sign, int accumulate) {
  for (int i = 0; i < n; i += 2) {
    const float a = x[i], b = x[i + 1];
    float ya = a * cos[i] + b * sin[i] * sign, yb = b * cos[i + 1] + a * sin[i + 1] * sign;
    if (accumulate) {
      ya += y[i];
      yb += y[i + 1];
    }
    y[i] = ya;
    y[i + 1] = yb;
  }
}

static void c_conv_step(const float* last, const float* w, const float* bias, float* y, int64_t C, int Kw, int dil, int n) {
  for (int c = 0; c < n; c++) {
    float acc = bias ? bias[c] : 0;
    for (int i = 0; i < Kw; i++) acc += w[i * C + c] * last[c - (int64_t)(Kw - 1 - i) * dil * C];
    y[c] = acc;
  }
}

static float c_decode_scores(const float* q, const float* k, int ld, float* att, int T, int hs, float scale) {
  float mx = -INFINITY;
  for (int t = 0; t < T; t++) {
    const float s = c_dot(q, k + (size_t)t * ld, hs) * scale;
    att[t] = s;
    mx = s > mx ? s : mx;
  }
  return mx;
}

static void c_decode_sum(const float* w, const float* v, int ld, float* out, int T, int hs, float inv) {
  for (int i = 0; i < hs; i++) out[i] = 0;
  for (int t = 0; t < T; t++) {
    const float* vt = v + (size_t)t * ld;
    for (int i = 0; i < hs; i++) out[i] += w[t] * vt[i];
  }
  for (int i = 0; i < hs; i++) out[i] *= inv;
}

static void c_tile_scores(const float* a, const float* panels, int hd, int n, float* s) {
  for (int c = 0; c < n; c += PW) {
    const float* p = panels + (size_t)c * hd;
    for (int r = 0; r < BR; r++) {
      for (int j = 0; j < PW; j++) {
        float acc = 0;
        for (int d = 0; d < hd; d++) acc += a[d * BR + r] * p[d * PW + j];
        s[r * BC + c + j] = acc;
      }
    }
  }
}

static void c_tile_weighted_sum(const float* w, const float* x, int hp, int n, const float* alpha, float* acc) {
  for (int r = 0; r < BR; r++) {
    float* o = acc + r * hp;
    for (int i = 0; i < hp; i++) o[i] *= alpha[r];
    for (int c = 0; c < n; c++) {
      const float wc = w[r * BC + c];
      const float* xc = x + (size_t)c * hp;
      for (int i = 0; i < hp; i++) o[i] += wc * xc[i];
    }
  }
}

static void c_tile_outer_add(const float* w, const float* a, int lda, int hp, int n, float* y) {
  for (int c = 0; c < n; c++) {
    float* yc = y + (size_t)c * hp;
    for (int r = 0; r < BR; r++) {
      const float wc = w[r * BC + c];
      const float* ar = a + (size_t)r * lda;
      for (int i = 0; i < hp; i++) yc[i] += wc * ar[i];
    }
  }
}

static const RowOps scalar_ops = {
  c_row_max, c_exp_sum, c_scale_add, c_dot, c_softmax_grad, c_swiglu, c_rope, c_conv_step,
  c_decode_scores, c_decode_sum, c_tile_scores, c_tile_weighted_sum, c_tile_outer_add,
};

#if defined(__x86_64__)
// ---------------------------------------------------------------- AVX2 + FMA (8 lanes) and AVX-512 (16 lanes)

#define SIMD_WIDTH 8
#include "simd_width.h"
#include "attention_simd.inc"
#define SIMD_WIDTH 16
#include "simd_width.h"
#include "attention_simd.inc"
#endif

/** The primitives of the instruction set in use. */
static const RowOps* ops(void) {
#if defined(__x86_64__)
  if (ternlm_isa == ISA_AVX512) return &ops_avx512;
  if (ternlm_isa == ISA_AVX2) return &ops_avx2;
#endif
  return &scalar_ops;
}

// ---------------------------------------------------------------- softmax and cross-entropy

/** softmax_forward(x, y, D, causalT, start, end): y = softmax(x) per row; causalT > 0 keeps columns 0..r % causalT, the rest 0. */
static double softmax_forward(const double* a, int nargs) {
  (void)nargs;
  const float* x = PTR_F32(a[0]);
  float* y = PTR_F32(a[1]);
  const int D = I32(a[2]), causalT = I32(a[3]);
  const RowOps* o = ops();
  for (int64_t r = I64(a[4]); r < I64(a[5]); r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    const int n = causalT > 0 ? (int)(r % causalT) + 1 : D;
    const float s = o->exp_sum(xr, yr, n, o->row_max(xr, n));
    o->scale_add(yr, yr, n, 1 / s, 0);
    memset(yr + n, 0, (size_t)(D - n) * 4);
  }
  return 0;
}

/** softmax_backward(y, dy, dx, D, accumulate, start, end): dx (+)= y * (dy - sum(dy * y)) per row. */
static double softmax_backward(const double* a, int nargs) {
  (void)nargs;
  const float *y = PTR_F32(a[0]), *dy = PTR_F32(a[1]);
  float* dx = PTR_F32(a[2]);
  const int D = I32(a[3]), accumulate = I32(a[4]) != 0;
  const RowOps* o = ops();
  for (int64_t r = I64(a[5]); r < I64(a[6]); r++) {
    const int64_t off = r * D;
    o->softmax_grad(y + off, dy + off, dx + off, D, o->dot(y + off, dy + off, D), accumulate);
  }
  return 0;
}

/**
 * cross_entropy_forward(logits, V, targets, losses, gradScale, start, end): losses[r] =
 * logsumexp(row) - row[target] (0 for a target < 0); with gradScale != 0 the row becomes its
 * gradient (softmax(row) - onehot(target)) * gradScale (all zeros for an ignored target).
 */
static double cross_entropy_forward(const double* a, int nargs) {
  (void)nargs;
  float* logits = PTR_F32(a[0]);
  const int V = I32(a[1]);
  const int32_t* targets = PTR_I32(a[2]);
  float* losses = PTR_F32(a[3]);
  const float gradScale = (float)a[4];
  const RowOps* o = ops();
  for (int64_t r = I64(a[5]); r < I64(a[6]); r++) {
    float* row = logits + r * V;
    const int32_t t = targets[r];
    if (t < 0) {
      losses[r] = 0;
      if (gradScale != 0) memset(row, 0, (size_t)V * 4);
      continue;
    }
    const float m = o->row_max(row, V), target = row[t];
    const float s = o->exp_sum(row, gradScale != 0 ? row : NULL, V, m);
    losses[r] = logf(s) + m - target;
    if (gradScale == 0) continue;
    o->scale_add(row, row, V, gradScale / s, 0);
    row[t] -= gradScale;
  }
  return 0;
}

/** log_softmax_forward(x, y, D, start, end): y = log softmax(x) per row (y may be x). */
static double log_softmax_forward(const double* a, int nargs) {
  (void)nargs;
  const float* x = PTR_F32(a[0]);
  float* y = PTR_F32(a[1]);
  const int D = I32(a[2]);
  const RowOps* o = ops();
  for (int64_t r = I64(a[3]); r < I64(a[4]); r++) {
    const float* xr = x + r * D;
    const float m = o->row_max(xr, D);
    o->scale_add(xr, y + r * D, D, 1, -(m + logf(o->exp_sum(xr, NULL, D, m))));
  }
  return 0;
}

// ---------------------------------------------------------------- one-token inference

/** rope_rotate(x, table, hs, start, end): heads [start, end) of x turned in place by one table row (hs cosines, hs signed sines). */
static double rope_rotate(const double* a, int nargs) {
  (void)nargs;
  float* x = PTR_F32(a[0]);
  const float* table = PTR_F32(a[1]);
  const int hs = I32(a[2]);
  const RowOps* o = ops();
  for (int64_t h = I64(a[3]); h < I64(a[4]); h++) o->rope(x + h * hs, table, table + hs, x + h * hs, hs, 1, 0);
  return 0;
}

/**
 * attention_decode(q, kc, vc, att, out, T, hs, kvDim, group, attStride, scale, start, end):
 * for query heads [start, end), out_h = sum_{t<T} softmax_t(scale q_h . k_t) v_t, KV head h / group;
 * att holds each head's weights (nHeads x attStride).
 */
static double attention_decode(const double* a, int nargs) {
  (void)nargs;
  const float *q = PTR_F32(a[0]), *kc = PTR_F32(a[1]), *vc = PTR_F32(a[2]);
  float *att = PTR_F32(a[3]), *out = PTR_F32(a[4]);
  const int T = I32(a[5]), hs = I32(a[6]), kvDim = I32(a[7]), group = I32(a[8]), attStride = I32(a[9]);
  const float scale = (float)a[10];
  const RowOps* o = ops();
  for (int64_t h = I64(a[11]); h < I64(a[12]); h++) {
    const int64_t kvOff = (h / group) * hs;
    float* w = att + h * attStride;
    const float mx = o->decode_scores(q + h * hs, kc + kvOff, kvDim, w, T, hs, scale);
    const float sum = o->exp_sum(w, w, T, mx);
    o->decode_sum(w, vc + kvOff, kvDim, out + h * hs, T, hs, 1 / sum);
  }
  return 0;
}

/** swiglu_forward(a, b, y, start, end): y[i] = silu(a[i]) * b[i] for i in [start, end). */
static double swiglu_forward(const double* a, int nargs) {
  (void)nargs;
  const int64_t start = I64(a[3]);
  ops()->swiglu(PTR_F32(a[0]) + start, PTR_F32(a[1]) + start, PTR_F32(a[2]) + start, (int)(I64(a[4]) - start));
  return 0;
}

/**
 * conv1d_step(window, w, bias, y, C, Kw, dil, start, end): the causal depthwise conv's output for
 * the newest of the (Kw-1)*dil + 1 input rows of C channels in window (oldest first), for
 * channels [start, end): y[c] = bias[c] + sum_i w[i, c] * window[last - (Kw-1-i)*dil, c]; bias 0 = none.
 */
static double conv1d_step(const double* a, int nargs) {
  (void)nargs;
  const int C = I32(a[4]), Kw = I32(a[5]), dil = I32(a[6]);
  const int64_t start = I64(a[7]);
  const float* last = PTR_F32(a[0]) + (int64_t)(Kw - 1) * dil * C;
  const float* bias = a[2] != 0 ? PTR_F32(a[2]) + start : NULL;
  ops()->conv_step(last + start, PTR_F32(a[1]) + start, bias, PTR_F32(a[3]) + start, C, Kw, dil, (int)(I64(a[8]) - start));
  return 0;
}

// ---------------------------------------------------------------- training attention

/**
 * rope_forward(x, table, y, T, heads, hd, inverse, accumulate, start, end): rows [start, end) of
 * x (row r at position r % T) turned by the table of rope_rotate into y (+=); inverse turns back.
 */
static double rope_forward(const double* a, int nargs) {
  (void)nargs;
  const float *x = PTR_F32(a[0]), *table = PTR_F32(a[1]);
  float* y = PTR_F32(a[2]);
  const int T = I32(a[3]), heads = I32(a[4]), hd = I32(a[5]);
  const float sign = I32(a[6]) != 0 ? -1.f : 1.f;
  const int accumulate = I32(a[7]) != 0;
  const RowOps* o = ops();
  for (int64_t r = I64(a[8]); r < I64(a[9]); r++) {
    const float* cos = table + (r % T) * 2 * hd;
    for (int h = 0; h < heads; h++) {
      const int64_t at = (r * heads + h) * hd;
      o->rope(x + at, cos, cos + hd, y + at, hd, sign, accumulate);
    }
  }
  return 0;
}

/**
 * attention_scratch_floats(T, hd, backward): floats of per-thread scratch the native forward
 * (backward = 0) or backward pass needs (every part a multiple of 16 floats).
 */
static int scratch_floats(int T, int hd, int backward) {
  const int tp = round_up(T, PW), hp = round_up(hd, PW);
  // forward: key panels, value rows, transposed query tile, output tile, scores, m / l / alpha
  if (!backward) return tp * hd + tp * hp + BR * hp + BR * hp + BR * BC + PW;
  // backward: key and value panels, key / dK / dV rows, transposed query and dO tiles, query /
  // dO / dQ tiles, P and dP tiles, L / D / ones
  return 2 * tp * hd + 3 * tp * hp + 2 * BR * hp + 3 * BR * hp + 2 * BR * BC + PW;
}

static double attention_scratch_floats(const double* a, int nargs) {
  (void)nargs;
  return scratch_floats(I32(a[0]), I32(a[1]), I32(a[2]));
}

/** Panels of T rows (row j at src + j * ld, hd floats) into dst, keys from T up to tp zero. */
static void pack_panels(const float* src, int64_t ld, int T, int tp, int hd, float* dst) {
  for (int j = 0; j < tp; j++) {
    float* col = dst + (size_t)(j / PW) * hd * PW + j % PW;
    const float* row = src + j * ld;
    for (int d = 0; d < hd; d++) col[d * PW] = j < T ? row[d] : 0;
  }
}

/** dst (tp x hp) = s * src rows (T rows of hd floats, stride ld), zero padded. */
static void pack_rows(const float* src, int64_t ld, int T, int tp, int hd, int hp, float s, float* dst) {
  for (int j = 0; j < tp; j++) {
    float* out = dst + (size_t)j * hp;
    int d = 0;
    if (j < T) {
      for (; d < hd; d++) out[d] = src[j * ld + d] * s;
    }
    for (; d < hp; d++) out[d] = 0;
  }
}

/** dst[d * BR + r] = s * row_r[d] for r < BR, d < hd (row r at src + r * ld); rows from `rows` on are zero. */
static void transpose_tile(const float* src, int64_t ld, int rows, int hd, float s, float* dst) {
  for (int d = 0; d < hd; d++) {
    for (int r = 0; r < BR; r++) dst[d * BR + r] = r < rows ? src[r * ld + d] * s : 0;
  }
}

/** dst rows (n of hd floats, stride ld) (+)= s * src rows (of hp floats). */
static void unpack_rows(const float* src, int hp, int n, int hd, float s, float* dst, int64_t ld, int accumulate) {
  for (int j = 0; j < n; j++) {
    const float* from = src + (size_t)j * hp;
    float* to = dst + j * ld;
    for (int d = 0; d < hd; d++) to[d] = from[d] * s + (accumulate ? to[d] : 0);
  }
}

/**
 * attention_forward(q, k, v, o, lse, T, hd, heads, kvHeads, scale, scratch, scratchFloats, start,
 * end, tid): causal attention for tasks [start, end) of B * heads (task = b * heads + h), query
 * head h reading KV head h / (heads / kvHeads): o_i = sum_{j<=i} softmax_j(scale q_i . k_j) v_j and
 * lse_i = log sum_{j<=i} e^(scale q_i . k_j). Keys come in blocks of BC with an online softmax
 * (running max m and sum l per row; alpha = e^(m_old - m_new) shrinks what came before).
 */
static double attention_forward(const double* a, int nargs) {
  (void)nargs;
  const float *q = PTR_F32(a[0]), *k = PTR_F32(a[1]), *v = PTR_F32(a[2]);
  float *o = PTR_F32(a[3]), *lse = PTR_F32(a[4]);
  const int T = I32(a[5]), hd = I32(a[6]), heads = I32(a[7]), kvHeads = I32(a[8]);
  const float scale = (float)a[9];
  const int scratchFloats = I32(a[11]);
  const int tid = I32(a[14]);
  const RowOps* ops_ = ops();
  const int tp = round_up(T, PW), hp = round_up(hd, PW), group = heads / kvHeads;
  const int64_t qLd = (int64_t)heads * hd, kvLd = (int64_t)kvHeads * hd;
  // This thread's scratch, in the order of scratch_floats.
  float* kPanels = PTR_F32(a[10]) + (size_t)tid * scratchFloats;
  float* vRows = kPanels + (size_t)tp * hd;
  float* qTile = vRows + (size_t)tp * hp;
  float* oTile = qTile + BR * hp;
  float* sTile = oTile + BR * hp;
  float *mRow = sTile + BR * BC, *lRow = mRow + BR, *alpha = lRow + BR;
  for (int64_t task = I64(a[12]); task < I64(a[13]); task++) {
    const int64_t b = task / heads, h = task % heads;
    const int64_t qOff = b * T * qLd + h * hd, kvOff = b * T * kvLd + (h / group) * hd;
    float* lh = lse + task * T;
    pack_panels(k + kvOff, kvLd, T, tp, hd, kPanels);
    pack_rows(v + kvOff, kvLd, T, tp, hd, hp, 1, vRows);
    for (int i0 = 0; i0 < T; i0 += BR) {
      // The scale goes into the query tile; rows past T are zeros (their results are dropped).
      transpose_tile(q + qOff + i0 * qLd, qLd, T - i0, hd, scale, qTile);
      memset(oTile, 0, sizeof(float) * BR * hp);
      for (int r = 0; r < BR; r++) {
        mRow[r] = -INFINITY;
        lRow[r] = 0;
      }
      const int nk = imin(i0 + BR, T);
      for (int j0 = 0; j0 < nk; j0 += BC) {
        const int bc = imin(BC, nk - j0), n = round_up(bc, PW);
        ops_->tile_scores(qTile, kPanels + (size_t)j0 * hd, hd, n, sTile);
        for (int r = 0; r < BR; r++) {
          // Row i0 + r sees keys 0..i0 + r; padding rows see what the last row sees.
          const int valid = imin(imax(imin(i0 + r, T - 1) + 1 - j0, 0), bc);
          float* s = sTile + r * BC;
          const float mOld = mRow[r], mx = ops_->row_max(s, valid), m = mx > mOld ? mx : mOld;
          const float l = ops_->exp_sum(s, s, valid, m);
          memset(s + valid, 0, sizeof(float) * (n - valid));
          alpha[r] = expf(mOld - m);
          lRow[r] = lRow[r] * alpha[r] + l;
          mRow[r] = m;
        }
        ops_->tile_weighted_sum(sTile, vRows + (size_t)j0 * hp, hp, n, alpha, oTile);
      }
      for (int r = 0; r < imin(BR, T - i0); r++) {
        unpack_rows(oTile + r * hp, hp, 1, hd, 1 / lRow[r], o + qOff + (i0 + r) * qLd, qLd, 0);
        lh[i0 + r] = mRow[r] + logf(lRow[r]);
      }
    }
  }
  return 0;
}

/**
 * attention_backward(q, k, v, o, dout, lse, dq, dk, dv, T, hd, heads, kvHeads, scale, flags,
 * scratch, scratchFloats, start, end, tid): gradients of attention_forward for tasks [start, end)
 * of B * kvHeads (task = b * kvHeads + g owns KV head g and its query heads). With
 * P_ij = e^(scale q_i . k_j - lse_i) (j <= i) and D_i = dO_i . o_i:
 *   dV_j += P_ij dO_i,  dP_ij = dO_i . v_j,  dS_ij = P_ij (dP_ij - D_i),
 *   dQ_i += scale dS_ij k_j,  dK_j += scale dS_ij q_i.
 * A zero dq / dk / dv skips that gradient; flags bit 0/1/2 adds into dq/dk/dv. Within a task dq
 * is written before dk and dk before dv (as in the wasm kernel).
 */
static double attention_backward(const double* a, int nargs) {
  (void)nargs;
  const float *q = PTR_F32(a[0]), *k = PTR_F32(a[1]), *v = PTR_F32(a[2]), *o = PTR_F32(a[3]);
  const float *dout = PTR_F32(a[4]), *lse = PTR_F32(a[5]);
  const int wantDq = a[6] != 0, wantDk = a[7] != 0, wantDv = a[8] != 0, wantDp = wantDq || wantDk;
  float *dq = PTR_F32(a[6]), *dk = PTR_F32(a[7]), *dv = PTR_F32(a[8]);
  const int T = I32(a[9]), hd = I32(a[10]), heads = I32(a[11]), kvHeads = I32(a[12]);
  const float scale = (float)a[13];
  const int flags = I32(a[14]), scratchFloats = I32(a[16]), tid = I32(a[19]);
  const RowOps* ops_ = ops();
  const int tp = round_up(T, PW), hp = round_up(hd, PW), group = heads / kvHeads;
  const int64_t qLd = (int64_t)heads * hd, kvLd = (int64_t)kvHeads * hd;
  // This thread's scratch, in the order of scratch_floats.
  float* kPanels = PTR_F32(a[15]) + (size_t)tid * scratchFloats;
  float* vPanels = kPanels + (size_t)tp * hd;
  float* kRows = vPanels + (size_t)tp * hd;
  float* dkRows = kRows + (size_t)tp * hp;
  float* dvRows = dkRows + (size_t)tp * hp;
  float* qTileT = dvRows + (size_t)tp * hp;
  float* doTileT = qTileT + BR * hp;
  float* qTile = doTileT + BR * hp;
  float* doTile = qTile + BR * hp;
  float* dqTile = doTile + BR * hp;
  float* pTile = dqTile + BR * hp;
  float* dpTile = pTile + BR * BC;
  float *lRow = dpTile + BR * BC, *dRow = lRow + BR, *ones = dRow + BR;
  for (int r = 0; r < BR; r++) ones[r] = 1;
  for (int64_t task = I64(a[17]); task < I64(a[18]); task++) {
    const int64_t b = task / kvHeads, g = task % kvHeads;
    const int64_t kvOff = b * T * kvLd + g * hd;
    pack_panels(k + kvOff, kvLd, T, tp, hd, kPanels);
    if (wantDp) pack_panels(v + kvOff, kvLd, T, tp, hd, vPanels);
    if (wantDq) pack_rows(k + kvOff, kvLd, T, tp, hd, hp, 1, kRows);
    memset(dkRows, 0, sizeof(float) * 2 * tp * hp);
    for (int64_t h = g * group; h < (g + 1) * group; h++) {
      const int64_t qOff = b * T * qLd + h * hd;
      const float* lh = lse + (b * heads + h) * T;
      for (int i0 = 0; i0 < T; i0 += BR) {
        const int rows = imin(BR, T - i0);
        const int64_t rowOff = qOff + i0 * qLd;
        // q scaled, as in the forward pass: its scores are then q_s . k.
        transpose_tile(q + rowOff, qLd, rows, hd, scale, qTileT);
        if (wantDp) transpose_tile(dout + rowOff, qLd, rows, hd, 1, doTileT);
        // dK and dV read rows of q and dO hp floats wide: in place when that stays inside the
        // rows, else from zero-padded copies. (dK takes scale * q when it is written out.)
        const float *qRows = q + rowOff, *doRows = dout + rowOff;
        int ldRows = (int)qLd;
        if (hd % PW != 0 || rows < BR) {
          qRows = qTile;
          doRows = doTile;
          ldRows = hp;
          if (wantDk) pack_rows(q + rowOff, qLd, rows, BR, hd, hp, 1, qTile);
          if (wantDv) pack_rows(dout + rowOff, qLd, rows, BR, hd, hp, 1, doTile);
        }
        if (wantDq) memset(dqTile, 0, sizeof(float) * BR * hp);
        for (int r = 0; r < BR; r++) {
          lRow[r] = r < rows ? lh[i0 + r] : 0;
          dRow[r] = r < rows ? ops_->dot(dout + rowOff + r * qLd, o + rowOff + r * qLd, hd) : 0;
        }
        const int nk = imin(i0 + BR, T);
        for (int j0 = 0; j0 < nk; j0 += BC) {
          const int bc = imin(BC, nk - j0), n = round_up(bc, PW);
          ops_->tile_scores(qTileT, kPanels + (size_t)j0 * hd, hd, n, pTile);
          for (int r = 0; r < BR; r++) {
            // Padding rows (past T) get no weight at all.
            const int valid = r < rows ? imin(imax(i0 + r + 1 - j0, 0), bc) : 0;
            float* p = pTile + r * BC;
            ops_->exp_sum(p, p, valid, lRow[r]);
            memset(p + valid, 0, sizeof(float) * (n - valid));
          }
          if (wantDv) ops_->tile_outer_add(pTile, doRows, ldRows, hp, n, dvRows + (size_t)j0 * hp);
          if (!wantDp) continue;
          ops_->tile_scores(doTileT, vPanels + (size_t)j0 * hd, hd, n, dpTile);
          for (int r = 0; r < BR; r++) {
            const float *p = pTile + r * BC, d = dRow[r];
            float* ds = dpTile + r * BC;
            for (int c = 0; c < n; c++) ds[c] = p[c] * (ds[c] - d);
          }
          if (wantDk) ops_->tile_outer_add(dpTile, qRows, ldRows, hp, n, dkRows + (size_t)j0 * hp);
          if (wantDq) ops_->tile_weighted_sum(dpTile, kRows + (size_t)j0 * hp, hp, n, ones, dqTile);
        }
        if (wantDq) unpack_rows(dqTile, hp, rows, hd, scale, dq + rowOff, qLd, (flags & 1) != 0);
      }
    }
    if (wantDk) unpack_rows(dkRows, hp, T, hd, scale, dk + kvOff, kvLd, (flags & 2) != 0);
    if (wantDv) unpack_rows(dvRows, hp, T, hd, 1, dv + kvOff, kvLd, (flags & 4) != 0);
  }
  return 0;
}

const KernelEntry attention_kernels[] = {
  KERNEL(attention_scratch_floats, 3),
  KERNEL(attention_forward, 15),
  KERNEL(attention_backward, 20),
  KERNEL(rope_forward, 10),
  KERNEL(softmax_forward, 6),
  KERNEL(softmax_backward, 7),
  KERNEL(cross_entropy_forward, 7),
  KERNEL(log_softmax_forward, 5),
  KERNEL(rope_rotate, 5),
  KERNEL(attention_decode, 13),
  KERNEL(swiglu_forward, 5),
  KERNEL(conv1d_step, 9),
  {0, 0, 0},
};
