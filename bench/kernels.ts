// ternlm bench kernels: GFLOP/s of the f32 GEMM and the ternary matmul, the time of fused
// causal attention against its unfused composition, of the head's cross-entropy and of one-token
// attention, 1 thread and all threads.
import { parseArgs } from 'node:util';
import { backward } from '../src/core/autograd.js';
import * as K from '../src/core/kernels.js';
import { attentionDecode } from '../src/core/kernels-infer.js';
import { Rng } from '../src/core/rng.js';
import { initRuntime, rt } from '../src/core/runtime.js';
import { Tensor, scope } from '../src/core/tensor.js';
import * as ops from '../src/ops/index.js';
import { bestOf, fmt, simdCeiling } from './util.js';

const HELP = `usage: ternlm bench kernels [--threads N] [--reps N] [--build relaxed|baseline] [--json]

Measures, best of --reps runs (default 20: on a shared VM the best of few runs swings by up to 1.5x), on 1 thread and on all --threads (default: all cores):
  f32 GEMM  M=4096 K=256 N=4096 and N=768, M=128 K=256 N=4096 (GFLOP/s, 2*M*N*K flops; the
            shapes of the numpy comparison), and two training transposes at batch*seq 2048:
            forward X.W^T (M=2048 K=256 N=768) and weight gradient dY^T.X (M=768 K=2048 N=256)
  matvec    one-token W.x, N=4096 K=256 (a vocabulary head) and N=768 K=288 (GFLOP/s, 2*N*K)
  ternary   M=4096 K=256 N=768, int8 activations    (Gop/s, 2*M*N*K ops; kernel only, and
            the whole BitLinear forward: quantize activations, ternarize+pack, unpack, product),
            and 1 and 4 rows straight from the 2-bit packed weights (one-token decoding)
  attention B=16 T=256 heads=4 hd=64, forward + backward (ms): the fused kernels
            (ops.causalAttention) and bmm + causal softmax + bmm with the head transposes
  ops       the training step's other kernels on 4096 rows of 256 (ms per call): gelu forward +
            backward, rmsnorm and layernorm forward + backward (with weight gradients),
            dropout, col_sum (a bias gradient), AdamW over 4M parameters
  head      cross-entropy and its gradient over 2048 rows of 4096 logits (ms; gpt2-4m's head
            without its product)
  decode    one-token attention over 256 cached positions, 8 heads over 4 KV heads of 8
            floats (µs per call; llama2.c's stories260K)
  dispatch  µs per kernel call of almost no work: on 1 thread (the call itself) and split over
            all threads (the call, waking the workers, waiting for the last one)
and the estimated f32 ceiling of this host for wasm's 128-bit vectors and the native kernels' width.`;

/** Causal attention composed of unfused ops: x (B, T, heads*hd) -> (B, heads, T, hd) and back. */
function unfusedAttention(q: Tensor, k: Tensor, v: Tensor, heads: number): Tensor {
  const [B, T, C] = q.shape, hd = C / heads;
  const split = (x: Tensor) => ops.swapAxes12(ops.reshape(x, [B, T, heads, hd]));
  const scores = ops.scale(ops.bmm(split(q), split(k), false, true), 1 / Math.sqrt(hd));
  return ops.reshape(ops.swapAxes12(ops.bmm(ops.softmax(scores, true), split(v))), [B, T, C]);
}

function randomTensor(shape: number[], rng: Rng): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return Tensor.from(v, shape);
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      threads: { type: 'string' }, reps: { type: 'string', default: '20' }, build: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const build = values.build as 'relaxed' | 'baseline' | undefined;
  await initRuntime({ threads: values.threads ? Number(values.threads) : undefined, build });
  const r = rt();
  const reps = Number(values.reps);
  const rng = new Rng(1);
  const results: Record<string, Record<string, number>> = {};
  const threadCounts = r.threads > 1 ? [1, r.threads] : [1];
  const record = (name: string, threads: number, value: number) => {
    (results[name] ??= {})[`threads_${threads}`] = value;
  };
  /** Time fn (best of reps) on each thread count and record value(seconds) under name. */
  const measure = (name: string, fn: () => void, value: (seconds: number) => number): void => {
    for (const t of threadCounts) record(name, t, value(r.pool.withThreads(t, () => bestOf(reps, fn))));
  };

  // C (M x N) = op(A) . op(B): A is M x K (K x M when transA), B is K x N (N x K when transB).
  const gemmShapes: [string, number, number, number, boolean, boolean][] = [
    ['gemm_f32_M4096_K256_N4096', 4096, 4096, 256, false, false],
    ['gemm_f32_M4096_K256_N768', 4096, 768, 256, false, false],
    ['gemm_f32_M128_K256_N4096', 128, 4096, 256, false, false],
    ['gemm_f32_xwt_M2048_K256_N768', 2048, 768, 256, false, true],
    ['gemm_f32_dyt_x_M768_K2048_N256', 768, 256, 2048, true, false],
  ];
  for (const [name, M, N, Kd, tA, tB] of gemmShapes) {
    const a = randomTensor([M, Kd], rng), b = randomTensor([Kd, N], rng), c = Tensor.empty([M, N]);
    measure(`${name}_gflops`, () => K.matmul(M, N, Kd, a.ptr, tA, b.ptr, tB, c.ptr, false), (s) => (2 * M * N * Kd) / s / 1e9);
    a.dispose(); b.dispose(); c.dispose();
  }

  for (const [N, Kd] of [[4096, 256], [768, 288]]) {
    const w = randomTensor([N, Kd], rng), x = randomTensor([Kd], rng), y = Tensor.empty([N]);
    const calls = Math.ceil(1e7 / (N * Kd)); // a few ms per timing, the matrix warm in cache
    measure(`matvec_f32_N${N}_K${Kd}_gflops`, () => {
      for (let i = 0; i < calls; i++) K.matvec(N, Kd, w.ptr, Kd, x.ptr, y.ptr, false);
    }, (s) => (2 * N * Kd * calls) / s / 1e9);
    w.dispose(); x.dispose(); y.dispose();
  }

  const M = 4096, Kd = 256;
  const N = 768;
  const Kp = K.ternaryPaddedK(Kd);
  const x = randomTensor([M, Kd], rng), w = randomTensor([N, Kd], rng);
  const q = Tensor.empty([M, Kp], 'i16'), sc = Tensor.empty([M]);
  const packed = Tensor.empty([N * Kp / 4], 'u8'), codes = Tensor.empty([K.ternaryCodesBytes(N, Kp)], 'u8'), y = Tensor.empty([M, N]);
  const alpha = K.reduce('sumabs', w.ptr, w.size) / w.size;
  K.quantizeRowsI8(x.ptr, M, Kd, q.ptr, Kp, sc.ptr);
  K.ternaryPack(w.ptr, alpha, packed.ptr, N, Kd);
  K.ternaryUnpackCodes(packed.ptr, codes.ptr, N, Kp);
  measure(`ternary_matmul_M${M}_K${Kd}_N${N}_gops`, () => K.ternaryMatmulI16(q.ptr, sc.ptr, codes.ptr, alpha, y.ptr, N, M, N, Kp, false), (s) => (2 * M * N * Kd) / s / 1e9);
  measure(`ternary_linear_forward_M${M}_K${Kd}_N${N}_gops`, () => {
    const al = K.reduce('sumabs', w.ptr, w.size) / w.size;
    K.quantizeRowsI8(x.ptr, M, Kd, q.ptr, Kp, sc.ptr);
    K.ternaryPack(w.ptr, al, packed.ptr, N, Kd);
    K.ternaryUnpackCodes(packed.ptr, codes.ptr, N, Kp);
    K.ternaryMatmulI16(q.ptr, sc.ptr, codes.ptr, al, y.ptr, N, M, N, Kp, false);
  }, (s) => (2 * M * N * Kd) / s / 1e9);
  // Decoding: 1 and 4 rows straight from the 2-bit packed weights (the first rows of q).
  for (const rows of [1, 4]) {
    const calls = Math.ceil(1e7 / (rows * N * Kp));
    measure(`ternary_matvec_packed_M${rows}_K${Kd}_N${N}_gops`, () => {
      for (let i = 0; i < calls; i++) K.ternaryMatvecPacked(q.ptr, sc.ptr, packed.ptr, alpha, y.ptr, N, rows, N, Kp, false);
    }, (s) => (2 * rows * N * Kd * calls) / s / 1e9);
  }

  {
    const [B, T, H, hd] = [16, 256, 4, 64];
    const [q, k, v, g] = [0, 1, 2, 3].map(() => randomTensor([B, T, H * hd], rng));
    for (const t of [q, k, v]) {
      t.requiresGrad = true;
      t.isParam = true;
    }
    const step = (attend: (q: Tensor, k: Tensor, v: Tensor, heads: number) => Tensor) => () => scope(() => {
      for (const t of [q, k, v]) t.gradValid = false;
      backward(ops.sum(ops.mul(attend(q, k, v, H), g)));
    });
    const name = `B${B}_T${T}_H${H}_hd${hd}_ms`;
    measure(`attn_fused_fwdbwd_${name}`, step((a, b, c, h) => ops.causalAttention(a, b, c, h, h)), (s) => 1000 * s);
    measure(`attn_unfused_fwdbwd_${name}`, step(unfusedAttention), (s) => 1000 * s);
    for (const t of [q, k, v, g]) t.dispose();
  }

  {
    // The elementwise, norm, reduction and optimizer kernels at a training step's shapes.
    const [rows, D] = [4096, 256], n = rows * D;
    const [x, y, dy, dx] = [0, 1, 2, 3].map(() => randomTensor([rows, D], rng));
    const wt = randomTensor([D], rng), dwdb = Tensor.zeros([2 * D]), mean = Tensor.empty([rows]), rstd = Tensor.empty([rows]);
    const m = Tensor.zeros([4 * n]), v = Tensor.zeros([4 * n]), p = randomTensor([4 * n], rng), g = randomTensor([4 * n], rng);
    const kernels: [string, () => void][] = [
      ['gelu_fwdbwd', () => { K.unaryForward('gelu', x.ptr, y.ptr, n); K.unaryBackward('gelu', x.ptr, y.ptr, dy.ptr, dx.ptr, n, false); }],
      ['rmsnorm_fwdbwd', () => { K.rmsNormForward(x.ptr, wt.ptr, y.ptr, rstd.ptr, rows, D, 1e-5); K.rmsNormBackward(x.ptr, wt.ptr, rstd.ptr, dy.ptr, dx.ptr, dwdb.ptr, rows, D, false, false); }],
      ['layernorm_fwdbwd', () => { K.layerNormForward(x.ptr, wt.ptr, wt.ptr, y.ptr, mean.ptr, rstd.ptr, rows, D, 1e-5); K.layerNormBackward(x.ptr, wt.ptr, mean.ptr, rstd.ptr, dy.ptr, dx.ptr, dwdb.ptr, rows, D, false, false); }],
      ['dropout', () => K.dropout(x.ptr, y.ptr, n, 0.1, 7, false)],
      ['col_sum', () => K.colSum(dy.ptr, rows, D, 1, dwdb.ptr, false)],
      ['adamw_4M', () => K.adamwUpdate(p.ptr, g.ptr, m.ptr, v.ptr, 4 * n, { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 })],
    ];
    for (const [name, fn] of kernels) measure(`ops_${name}_${rows}x${D}_ms`, fn, (s) => 1000 * s);
    for (const t of [x, y, dy, dx, wt, dwdb, mean, rstd, m, v, p, g]) t.dispose();
  }

  {
    // The logits become their gradient after the first run; the values do not change the cost.
    const [rows, V] = [2048, 4096];
    const logits = randomTensor([rows, V], rng), losses = Tensor.empty([rows]);
    const targets = Tensor.from(Array.from({ length: rows }, (_, i) => (i * 7919) % V), [rows], 'i32');
    measure(`cross_entropy_fwdgrad_R${rows}_V${V}_ms`, () => K.crossEntropyForward(logits.ptr, rows, V, targets.ptr, losses.ptr, 1 / rows), (s) => 1000 * s);
    for (const t of [logits, losses, targets]) t.dispose();
  }

  {
    const [T, heads, kvHeads, hs] = [256, 8, 4, 8];
    const q = randomTensor([heads * hs], rng), out = Tensor.empty([heads * hs]), att = Tensor.empty([heads, T]);
    const kc = randomTensor([T, kvHeads * hs], rng), vc = randomTensor([T, kvHeads * hs], rng);
    const calls = 200;
    measure(`attn_decode_T${T}_H${heads}_KV${kvHeads}_hs${hs}_us`, () => {
      for (let i = 0; i < calls; i++) attentionDecode(q.ptr, kc.ptr, vc.ptr, att.ptr, out.ptr, T, heads, kvHeads, hs, T);
    }, (s) => (1e6 * s) / calls);
    for (const t of [q, out, att, kc, vc]) t.dispose();
  }

  {
    // What a kernel call costs before any work: a tiny job on 1 thread (the call), and on all
    // threads (the call, waking the workers and waiting for the last one).
    const y = Tensor.empty([16 * r.threads]);
    const calls = 2000;
    measure('dispatch_overhead_us_per_kernel', () => {
      for (let i = 0; i < calls; i++) K.dispatchProbe(y.ptr);
    }, (s) => (1e6 * s) / calls);
    y.dispose();
  }

  const ceiling = simdCeiling();
  // The native kernels' vectors are 4x (AVX-512) or 2x (AVX2) as wide as wasm's 128 bits; at two
  // FMA a cycle that scales the ceiling (a CPU that splits 512-bit FMAs in two halves it).
  const nativeLanes = r.nativeIsa === null ? null : r.nativeIsa.startsWith('avx512') ? 16 : r.nativeIsa.startsWith('avx2') ? 8 : 1;
  const nativeCeiling = nativeLanes === null ? null : (ceiling.gflopsPerCore * nativeLanes) / 4;
  const report = {
    backend: r.backend,
    build: r.build,
    kernels: r.kernels,
    threads: r.threads,
    node: process.version,
    estimated_clock_ghz: Number(ceiling.clockGHz.toFixed(2)),
    reported_clock_ghz: ceiling.reportedGHz,
    simd128_f32_ceiling_gflops_per_core: Number(ceiling.gflopsPerCore.toFixed(1)),
    native_f32_ceiling_gflops_per_core: nativeCeiling === null ? null : Number(nativeCeiling.toFixed(1)),
    reps,
    results: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([t, g]) => [t, Number(g.toFixed(2))]))])),
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  console.log(`ternlm bench kernels — ${r.kernels}, ${r.threads} threads, Node ${process.version}, best of ${reps}`);
  const nativeLine = nativeCeiling === null ? '' : `; native ${r.nativeIsa?.split(' ')[0]} (${nativeLanes} lanes) ${fmt(nativeCeiling)}`;
  console.log(`estimated clock ${fmt(ceiling.clockGHz, 2)} GHz (OS reports ${fmt(ceiling.reportedGHz, 2)}): f32 FMA ceiling at 2 FMA a cycle, GFLOP/s per core: wasm 128-bit ${fmt(ceiling.gflopsPerCore)}${nativeLine}`);
  for (const [name, v] of Object.entries(results)) {
    const cols = Object.entries(v).map(([t, g]) => `${t.replace('threads_', '')} thr: ${fmt(g).padStart(6)}`).join('   ');
    console.log(`  ${name.padEnd(44)} ${cols}`);
  }
}
