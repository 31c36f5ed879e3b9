// The kernel interface: every compute kernel as a function of byte offsets into the shared
// memory and sizes. It is the only layer that knows a backend exists; above it, code passes
// pointers and shapes. Work is split over the pool here, with a minimum slice per thread so that
// small calls stay on the calling thread. Each binding passes the kernel's arguments in the
// kernel's own order (the pool appends start, end, tid); test/core/bindings.test.ts checks the
// counts against the build. The heads' and the inference engines' kernels are bound in
// kernels-heads.ts and kernels-infer.ts.
import { ELEMENTWISE_MIN, FLOP_MIN } from './pool.js';
import { kernelPool, rt } from './runtime.js';
import type { KernelName } from './wasm.js';

function run(kernel: KernelName, args: readonly number[], total: number, align = 1, minChunk = 1): void {
  kernelPool().run(kernel, args, total, align, minChunk);
}

const b = (v: boolean): number => (v ? 1 : 0);

// ---------------------------------------------------------------- f32 matrix products

/** Per-thread packing scratch of gemm_compute and the backend's panel width, once per runtime. */
const gemmSetup = new WeakMap<object, { scratch: number; panelWidth: number }>();

function gemmSetupFor(): { scratch: number; panelWidth: number } {
  const r = rt();
  let s = gemmSetup.get(r);
  if (s === undefined) {
    const pool = kernelPool();
    s = { scratch: r.heap.alloc(pool.call('gemm_scratch_floats', []) * 4 * r.threads), panelWidth: pool.call('gemm_panel_width', []) };
    gemmSetup.set(r, s);
  }
  return s;
}

/**
 * C (M x N) (+)= A . B with explicit element strides: A(i,k) at a + 4*(i*sai + k*sak),
 * B(k,j) at b + 4*(k*sbk + j*sbj); C row-major with leading dimension ldc. B is packed into
 * panels of the backend's width (8 columns in wasm, 32 native), then multiplied (gemmPacked).
 */
export function gemmStrided(
  M: number, N: number, K: number,
  a: number, sai: number, sak: number,
  bp: number, sbk: number, sbj: number,
  c: number, ldc: number, accumulate: boolean,
): void {
  if (M === 0 || N === 0) return;
  if (K === 0) {
    if (!accumulate) for (let i = 0; i < M; i++) fill(c + i * ldc * 4, N, 0);
    return;
  }
  const r = rt();
  const packed = r.heap.alloc(gemmPackedFloats(N, K) * 4);
  try {
    packGemmB(K, N, bp, sbk, sbj, packed);
    gemmPacked(M, N, K, a, sai, sak, packed, c, ldc, accumulate);
  } finally {
    r.heap.free(packed);
  }
}

/** Floats B (K x N) takes packed into the backend's panels. */
export function gemmPackedFloats(N: number, K: number): number {
  const pw = gemmSetupFor().panelWidth;
  return Math.ceil(N / pw) * pw * K;
}

/**
 * packed (gemmPackedFloats(N, K) floats) = B (K x N), B(k,j) at b + 4*(k*sbk + j*sbj), in the
 * panels gemmPacked reads. A matrix multiplied many times (inference weights) is packed once.
 */
export function packGemmB(K: number, N: number, bp: number, sbk: number, sbj: number, packed: number): void {
  const pw = gemmSetupFor().panelWidth;
  run('gemm_pack_b', [bp, sbk, sbj, K, N, packed], Math.ceil(N / pw), 1, Math.ceil(ELEMENTWISE_MIN / (pw * K)));
}

/**
 * C (M x N) (+)= A . B with B packed by packGemmB; A and C as in gemmStrided (K > 0). The product
 * is split over rows of C, or over panels when C has few rows for the threads.
 */
export function gemmPacked(
  M: number, N: number, K: number,
  a: number, sai: number, sak: number,
  packed: number, c: number, ldc: number, accumulate: boolean,
): void {
  if (M === 0 || N === 0) return;
  const r = rt();
  const { scratch, panelWidth: pw } = gemmSetupFor();
  const panels = Math.ceil(N / pw);
  // Rows per thread below 8 panel widths (64 in wasm, 256 native): split the columns instead,
  // so each thread keeps its panels of B for more rows and reads only its part of B.
  const split = M < 8 * pw * r.threads && panels >= 2 * r.threads ? 1 : 0;
  const args = [a, sai, sak, packed, c, ldc, M, N, K, b(accumulate), scratch, split];
  if (split) run('gemm_compute', args, panels, 1, Math.ceil(FLOP_MIN / (M * pw * K)));
  else run('gemm_compute', args, M, 4, Math.ceil(FLOP_MIN / (N * K)));
}

/**
 * C (M x N) (+)= op(A) . op(B) for contiguous row-major operands: A is M x K (or K x M when
 * transA), B is K x N (or N x K when transB).
 */
export function matmul(
  M: number, N: number, K: number, a: number, transA: boolean, bp: number, transB: boolean,
  c: number, accumulate: boolean,
): void {
  gemmStrided(M, N, K, a, transA ? 1 : K, transA ? M : 1, bp, transB ? 1 : N, transB ? K : 1, c, N, accumulate);
}

/** y (N) (+)= W (N x K, leading dim ldw) . x (K): one-token inference. */
export function matvec(N: number, K: number, w: number, ldw: number, x: number, y: number, accumulate: boolean): void {
  run('matvec_f32', [w, ldw, x, y, K, b(accumulate)], N, 4, Math.ceil(FLOP_MIN / K));
}

// ---------------------------------------------------------------- ternary

/** Row length of a packed ternary matrix, padded to whole 64-weight groups. */
export function ternaryPaddedK(K: number): number {
  return Math.ceil(K / 64) * 64;
}

/** Ternarize W (N x K) with scale alpha and pack 2 bits per weight into packed (N * Kp/4 bytes). */
export function ternaryPack(w: number, alpha: number, packed: number, N: number, K: number): void {
  const Kp = ternaryPaddedK(K);
  run('ternary_pack', [w, alpha > 0 ? 1 / alpha : 0, packed, K, Kp], N, 1, Math.ceil(ELEMENTWISE_MIN / K));
}

/** out (N x K, f32) = alpha * unpacked ternary weights. */
export function ternaryUnpackF32(packed: number, alpha: number, out: number, N: number, K: number): void {
  run('ternary_unpack_f32', [packed, alpha, out, K, ternaryPaddedK(K)], N, 1, Math.ceil(ELEMENTWISE_MIN / K));
}

/** Bytes of N x Kp unpacked ternary weight codes: columns in panels of 4 (ceil(N / 4) * 4 * Kp). */
export function ternaryCodesBytes(N: number, Kp: number): number {
  return Math.ceil(N / 4) * 4 * Kp;
}

/**
 * out (ternaryCodesBytes(N, Kp) u8) = the packed weights' codes t + 1 in the operand layout of
 * ternaryMatmulI16: panels of 4 columns, each k-quad of a panel 16 bytes (see assembly/ternary.ts).
 */
export function ternaryUnpackCodes(packed: number, out: number, N: number, Kp: number): void {
  run('ternary_unpack_codes', [packed, out, N, Kp], Math.ceil(N / 4), 1, Math.ceil(ELEMENTWISE_MIN / (4 * Kp)));
}

/** 8-bit per-row absmax quantization: q (M x Kp int16), scale (M f32) from x (M x K f32). */
export function quantizeRowsI8(x: number, M: number, K: number, q: number, Kp: number, scale: number): void {
  run('quantize_rows_i8', [x, K, q, Kp, scale], M, 1, Math.ceil(ELEMENTWISE_MIN / K));
}

/** x (M x K f32) = q * scale: what the quantized activations stand for. */
export function dequantizeRowsI8(q: number, Kp: number, scale: number, x: number, M: number, K: number): void {
  run('dequantize_rows_i8', [q, Kp, scale, x, K], M, 1, Math.ceil(ELEMENTWISE_MIN / K));
}

/** Y (M x N, ldy) (+)= scale[m] * alpha * q (M x Kp int16) . t^T, t the ternary weights as ternaryUnpackCodes's codes w. */
export function ternaryMatmulI16(
  q: number, scale: number, w: number, alpha: number, y: number, ldy: number,
  M: number, N: number, Kp: number, accumulate: boolean,
): void {
  run('ternary_matmul_i16', [q, scale, w, alpha, y, ldy, M, N, Kp, b(accumulate)], M, 4, Math.ceil(FLOP_MIN / (N * Kp)));
}

/** Y (M x N) (+)= scale[m] * alpha * q . t^T straight from 2-bit packed weights (small M). */
export function ternaryMatvecPacked(
  q: number, scale: number, packed: number, alpha: number, y: number, ldy: number,
  M: number, N: number, Kp: number, accumulate: boolean,
): void {
  run('ternary_matvec_packed', [q, scale, packed, alpha, y, ldy, M, Kp, b(accumulate)], N, 4, Math.ceil(FLOP_MIN / (M * Kp)));
}

/** Straight-through ternarization: out = alpha * clamp(round(w / alpha), -1, 1). */
export function ternarizeF32(w: number, alpha: number, out: number, n: number): void {
  run('ternarize_f32', [w, alpha, out], n, 16, ELEMENTWISE_MIN);
}

/** Counts of -1, 0 and +1 after ternarizing n weights with alpha. */
export function ternaryCounts(w: number, alpha: number, n: number): [number, number, number] {
  const r = rt();
  const counts = r.heap.alloc(12 * r.threads);
  try {
    new Int32Array(r.memory.buffer, counts, 3 * r.threads).fill(0);
    run('ternary_counts', [w, alpha > 0 ? 1 / alpha : 0, counts], n, 16, ELEMENTWISE_MIN);
    const c = new Int32Array(r.memory.buffer, counts, 3 * r.threads);
    const out: [number, number, number] = [0, 0, 0];
    for (let t = 0; t < r.threads; t++) for (let j = 0; j < 3; j++) out[j] += c[t * 3 + j];
    return out;
  } finally {
    r.heap.free(counts);
  }
}

// ---------------------------------------------------------------- elementwise

export const Unary = { relu: 0, relu2: 1, silu: 2, gelu: 3, sigmoid: 4, tanh: 5, exp: 6, eluPlusOne: 7 } as const;
export type UnaryOp = keyof typeof Unary;
export const Binary = { add: 0, sub: 1, mul: 2, div: 3 } as const;
export type BinaryOp = keyof typeof Binary;

export function unaryForward(op: UnaryOp, x: number, y: number, n: number): void {
  run('unary_forward', [Unary[op], x, y], n, 16, ELEMENTWISE_MIN);
}

/** dx (+)= dy * f'(x), y = f(x). */
export function unaryBackward(op: UnaryOp, x: number, y: number, dy: number, dx: number, n: number, accumulate: boolean): void {
  run('unary_backward', [Unary[op], x, y, dy, dx, b(accumulate)], n, 16, ELEMENTWISE_MIN);
}

/** y[i] = a[i] op b[i % bn] (bn = n, or the row length of a broadcast row). */
export function binaryForward(op: BinaryOp, a: number, bp: number, bn: number, y: number, n: number): void {
  run('binary_forward', [Binary[op], a, bp, bn, y], n, bn % 4 === 0 ? 16 : 1, ELEMENTWISE_MIN);
}

/** y[i] (+)= a[i] * b[i % bn] * s. */
export function mulScaled(a: number, bp: number, bn: number, s: number, y: number, n: number, accumulate: boolean): void {
  run('mul_scaled', [a, bp, bn, s, y, b(accumulate)], n, bn % 4 === 0 ? 16 : 1, ELEMENTWISE_MIN);
}

/**
 * Dropout: y (+)= x / (1 - p) where a hash of (element index, seed) keeps it, else 0. The same
 * seed gives the same mask, so the backward pass applies this to dy.
 */
export function dropout(x: number, y: number, n: number, p: number, seed: number, accumulate: boolean): void {
  const threshold = Math.min(0xffffffff, Math.round(p * 2 ** 32));
  run('dropout_f32', [x, y, threshold, 1 / (1 - p), seed >>> 0, b(accumulate)], n, 16, ELEMENTWISE_MIN);
}

/** y (+)= s * x. */
export function scale(x: number, s: number, y: number, n: number, accumulate: boolean): void {
  run('scale_f32', [x, s, y, b(accumulate)], n, 16, ELEMENTWISE_MIN);
}

export function fill(y: number, n: number, v: number): void {
  run('fill_f32', [y, v], n, 16, ELEMENTWISE_MIN);
}

/**
 * A job of almost no work split over every thread the pool may use (16 floats each): its time is
 * what one parallel dispatch costs (`bench kernels`). `y`: room for 16 floats per pool thread.
 */
export function dispatchProbe(y: number): void {
  run('fill_f32', [y, 0], 16 * rt().threads, 16, 16);
}

/**
 * Rows of n2 contiguous floats: row (i0, i1) for i0 < n0, i1 < n1 goes from src + i0*s0 + i1*s1
 * to dst + i0*d0 + i1*d1 (strides in floats), added when accumulating.
 */
export function copyRows(
  src: number, s0: number, s1: number, dst: number, d0: number, d1: number,
  n0: number, n1: number, n2: number, accumulate: boolean,
): void {
  run('copy_rows', [src, s0, s1, dst, d0, d1, n1, n2, b(accumulate)], n0 * n1, 1, Math.ceil(ELEMENTWISE_MIN / Math.max(1, n2)));
}

// ---------------------------------------------------------------- reductions

export const Reduce = { sum: 0, sumsq: 1, sumabs: 2, maxabs: 3 } as const;
export type ReduceOp = keyof typeof Reduce;

/** One number from n floats (sum, sum of squares, sum of |x|, max |x|), accumulated in f64. */
export function reduce(op: ReduceOp, x: number, n: number): number {
  const r = rt();
  const partials = r.heap.alloc(8 * r.threads);
  try {
    new Float64Array(r.memory.buffer, partials, r.threads).fill(0);
    run('reduce_f32', [Reduce[op], x, partials], n, 16, ELEMENTWISE_MIN);
    const p = new Float64Array(r.memory.buffer, partials, r.threads);
    let out = 0;
    for (let t = 0; t < r.threads; t++) out = op === 'maxabs' ? Math.max(out, p[t]) : out + p[t];
    return out;
  } finally {
    r.heap.free(partials);
  }
}

/** out[c] (+)= s * sum_r x[r, c]. */
export function colSum(x: number, rows: number, cols: number, s: number, out: number, accumulate: boolean): void {
  run('col_sum', [x, rows, cols, s, out, b(accumulate)], cols, 4, Math.ceil(ELEMENTWISE_MIN / Math.max(1, rows)));
}

/** out[r] (+)= s * sum_c x[r, c]. */
export function rowSum(x: number, rows: number, cols: number, s: number, out: number, accumulate: boolean): void {
  run('row_sum', [x, cols, s, out, b(accumulate)], rows, 1, Math.ceil(ELEMENTWISE_MIN / Math.max(1, cols)));
}

/**
 * Run a kernel that adds into per-thread partial rows of `width` floats, then sum the partials
 * into `out` (accumulating or overwriting). `launch(partials)` dispatches the kernel.
 */
function withPartials(width: number, out: number, accumulate: boolean, launch: (partials: number) => void): void {
  const r = rt();
  const partials = r.heap.alloc(width * 4 * r.threads);
  try {
    new Float32Array(r.memory.buffer, partials, width * r.threads).fill(0);
    launch(partials);
    run('sum_partials', [partials, r.threads, width, out, b(accumulate)], width, 4, ELEMENTWISE_MIN);
  } finally {
    r.heap.free(partials);
  }
}

// ---------------------------------------------------------------- normalization

export function rmsNormForward(x: number, w: number, y: number, rstd: number, rows: number, D: number, eps: number): void {
  run('rmsnorm_forward', [x, w, y, rstd, D, eps], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
}

/** dx (+)= ...; dw (+)= ... when w and dw are non-zero. */
export function rmsNormBackward(
  x: number, w: number, rstd: number, dy: number, dx: number, dw: number, rows: number, D: number,
  accumulateDx: boolean, accumulateDw: boolean,
): void {
  const launch = (partials: number) =>
    run('rmsnorm_backward', [x, w, rstd, dy, dx, partials, D, b(accumulateDx)], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
  if (w !== 0 && dw !== 0) withPartials(D, dw, accumulateDw, launch);
  else launch(0);
}

export function layerNormForward(
  x: number, w: number, bias: number, y: number, mean: number, rstd: number, rows: number, D: number, eps: number,
): void {
  run('layernorm_forward', [x, w, bias, y, mean, rstd, D, eps], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
}

/** dwdb: 2D floats, dw then db (0 = no parameter gradients). */
export function layerNormBackward(
  x: number, w: number, mean: number, rstd: number, dy: number, dx: number, dwdb: number, rows: number, D: number,
  accumulateDx: boolean, accumulateDwDb: boolean,
): void {
  const launch = (partials: number) =>
    run('layernorm_backward', [x, w, mean, rstd, dy, dx, partials, D, b(accumulateDx)], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
  if (dwdb !== 0) withPartials(2 * D, dwdb, accumulateDwDb, launch);
  else launch(0);
}

// ---------------------------------------------------------------- softmax and cross-entropy

/** Row softmax over D; causalT > 0 masks column j > r % causalT. */
export function softmaxForward(x: number, y: number, rows: number, D: number, causalT: number): void {
  run('softmax_forward', [x, y, D, causalT], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
}

/** y = log softmax(x) per row (y may be x). */
export function logSoftmaxForward(x: number, y: number, rows: number, D: number): void {
  run('log_softmax_forward', [x, y, D], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
}

export function softmaxBackward(y: number, dy: number, dx: number, rows: number, D: number, accumulate: boolean): void {
  run('softmax_backward', [y, dy, dx, D, b(accumulate)], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
}

/**
 * losses[r] = cross-entropy of logits row r (V wide) against targets[r] (i32, < 0 ignored).
 * gradScale != 0 replaces the logits by their gradient times gradScale.
 */
export function crossEntropyForward(logits: number, rows: number, V: number, targets: number, losses: number, gradScale: number): void {
  run('cross_entropy_forward', [logits, V, targets, losses, gradScale], rows, 1, Math.ceil(ELEMENTWISE_MIN / V));
}

// ---------------------------------------------------------------- convolution, embedding, optimizer

/** Causal depthwise dilated conv over rows = B*T rows of C channels; w: Kw x C; bias C or 0. */
export function conv1dForward(x: number, w: number, bias: number, y: number, rows: number, T: number, C: number, Kw: number, dil: number): void {
  run('conv1d_forward', [x, w, bias, y, T, C, Kw, dil], rows, 1, Math.ceil(ELEMENTWISE_MIN / (C * Kw)));
}

/** dx (+)= ...; dw (Kw x C) (+)= ... when dw != 0. */
export function conv1dBackward(
  x: number, w: number, dy: number, dx: number, dw: number, rows: number, T: number, C: number, Kw: number, dil: number,
  accumulateDx: boolean, accumulateDw: boolean,
): void {
  const launch = (partials: number) =>
    run('conv1d_backward', [x, w, dy, dx, partials, T, C, Kw, dil, b(accumulateDx)], rows, 1, Math.ceil(ELEMENTWISE_MIN / (C * Kw)));
  if (dw !== 0) withPartials(Kw * C, dw, accumulateDw, launch);
  else launch(0);
}

export function embeddingForward(table: number, ids: number, out: number, rows: number, D: number): void {
  run('embedding_forward', [table, ids, out, D], rows, 1, Math.ceil(ELEMENTWISE_MIN / D));
}

/** dtable[ids[r]] += dout[r] (dtable must hold valid values: zero it first if it is fresh). */
export function embeddingBackward(dout: number, ids: number, dtable: number, rows: number, D: number): void {
  run('embedding_backward', [dout, ids, dtable, rows, D], D, 4, Math.ceil(ELEMENTWISE_MIN / Math.max(1, rows)));
}

export interface AdamWStep {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number;
}

export function adamwUpdate(p: number, g: number, m: number, v: number, n: number, s: AdamWStep): void {
  const bc1 = 1 - Math.pow(s.beta1, s.step);
  const bc2 = 1 - Math.pow(s.beta2, s.step);
  run('adamw_update', [p, g, m, v, s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, bc1, bc2], n, 16, ELEMENTWISE_MIN);
}

/**
 * NorMuon row normalisation of o (rows x cols) in place, updating the per-row second moment
 * v (rows): v = beta2 v + (1 - beta2) mean(o_r^2); o_r /= sqrt(v / (1 - beta2^step)) + eps.
 */
export function normuonRows(o: number, v: number, rows: number, cols: number, beta2: number, step: number, eps: number): void {
  const bc2 = 1 - Math.pow(beta2, step);
  run('normuon_rows', [o, v, cols, beta2, bc2, eps], rows, 1, Math.max(1, Math.ceil(ELEMENTWISE_MIN / cols)));
}

// ---------------------------------------------------------------- host probe

/** Runs a chain of 8n dependent one-cycle integer ops from a, b on this thread (benchmarks time it to estimate the clock). */
export function clockProbe(n: number, a: number, b: number): number {
  return kernelPool().call('clock_probe', [n, a, b]);
}
