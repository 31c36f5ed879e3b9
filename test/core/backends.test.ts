// The native kernels against the wasm kernels they stand in for: every native kernel takes the
// wasm kernel's parameters (its arity is the wasm export's length), and each native kernel of
// native/ops.c gives the wasm kernel's results on the same seeded inputs (both called directly,
// on the runtime's memory, over a range that starts and ends off any vector boundary). Skips
// where the addon is not built.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { nativeAvailable, type NativeAddon } from '../../src/core/native.js';
import { loadNativeAddon } from '../../src/core/platform.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime, rt } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { instantiate, loadKernelModule } from '../../src/core/wasm.js';
import { assertClose, randArray } from '../helpers.js';

const available = await nativeAvailable();
type KernelFn = (...args: number[]) => number;

/**
 * One kernel call: the initial contents of its buffers, its arguments given their addresses
 * (start, end and tid included), which buffers it writes, and whether results must be bit-exact.
 */
interface Case {
  kernel: string;
  what: string;
  bufs: Float32Array[];
  args: (p: number[]) => number[];
  out: number[];
  exact?: boolean;
}

const N = 1003; // elements of the flat kernels; they run over [3, N - 2)
const ROWS = 9, D = 75; // rows of the norm kernels; they run over rows [1, ROWS)

function cases(): Case[] {
  const rng = new Rng(2026);
  const r = (n: number, s = 1) => randArray(n, rng, s);
  const out: Case[] = [];
  for (let op = 0; op < 8; op++) {
    const x = r(N, 3);
    out.push({ kernel: 'unary_forward', what: `op ${op}`, bufs: [x, r(N)], args: ([px, py]) => [op, px, py, 3, N - 2], out: [1] });
    for (const acc of [0, 1]) {
      const y = Float32Array.from(x, (v) => (op === 4 ? 1 / (1 + Math.exp(-v)) : op === 5 ? Math.tanh(v) : Math.exp(v)));
      out.push({ kernel: 'unary_backward', what: `op ${op}, accumulate ${acc}`, bufs: [x, y, r(N), r(N)], args: ([px, py, pdy, pdx]) => [op, px, py, pdy, pdx, acc, 3, N - 2], out: [3] });
    }
  }
  for (let op = 0; op < 4; op++) {
    for (const bn of [N, 13, 16]) {
      const b = r(bn).map((v) => v + Math.sign(v) * 0.5);
      // the wasm kernel's vector body needs a start aligned like the binding's (16) when bn % 4 == 0
      const start = bn % 4 === 0 ? 16 : 3;
      out.push({ kernel: 'binary_forward', what: `op ${op}, bn ${bn}`, bufs: [r(N), b, r(N)], args: ([pa, pb, py]) => [op, pa, pb, bn, py, start, N - 2], out: [2] });
    }
  }
  for (const acc of [0, 1]) {
    for (const bn of [N, 13, 16]) out.push({ kernel: 'mul_scaled', what: `bn ${bn}, accumulate ${acc}`, bufs: [r(N), r(bn), r(N)], args: ([pa, pb, py]) => [pa, pb, bn, 0.3, py, acc, bn % 4 === 0 ? 16 : 3, N - 2], out: [2] });
    out.push({ kernel: 'scale_f32', what: `accumulate ${acc}`, bufs: [r(N), r(N)], args: ([px, py]) => [px, -1.7, py, acc, 3, N - 2], out: [1] });
    out.push({ kernel: 'dropout_f32', what: `accumulate ${acc}`, bufs: [r(N), r(N)], args: ([px, py]) => [px, py, 0xb0000000, 1 / (1 - 0.6875), 0xdeadbeef, acc, 3, N - 2], out: [1], exact: true });
    out.push({ kernel: 'copy_rows', what: `transpose, accumulate ${acc}`, bufs: [r(6 * 7 * 11), r(6 * 7 * 11)], args: ([ps, pd]) => [ps, 11, 66, pd, 77, 11, 7, 11, acc, 1, 40], out: [1] });
    out.push({ kernel: 'col_sum', what: `accumulate ${acc}`, bufs: [r(11 * 150), r(150)], args: ([px, po]) => [px, 11, 150, 0.5, po, acc, 4, 147], out: [1] });
    for (const affine of [0, 1]) {
      const w = affine ? r(D) : new Float32Array(1);
      const x = r(ROWS * D, 2).map((v) => v + 1);
      const rstd = Float32Array.from({ length: ROWS }, (_, i) => 1 / Math.sqrt(x.subarray(i * D, i * D + D).reduce((s, v) => s + v * v, 0) / D + 1e-5));
      const mean = Float32Array.from({ length: ROWS }, (_, i) => x.subarray(i * D, i * D + D).reduce((s, v) => s + v, 0) / D);
      const pw = (p: number) => (affine ? p : 0);
      const what = `${affine ? 'affine' : 'no weight'}, accumulate ${acc}`;
      out.push({ kernel: 'rmsnorm_forward', what, bufs: [x, w, r(ROWS * D), r(ROWS)], args: ([px, p1, py, pr]) => [px, pw(p1), py, pr, D, 1e-5, 1, ROWS], out: [2, 3] });
      out.push({ kernel: 'rmsnorm_backward', what, bufs: [x, w, rstd, r(ROWS * D), r(ROWS * D), r(D)], args: ([px, p1, pr, pdy, pdx, pdw]) => [px, pw(p1), pr, pdy, pdx, pdw, D, acc, 1, ROWS, 0], out: [4, 5] });
      out.push({ kernel: 'layernorm_forward', what, bufs: [x, w, w, r(ROWS * D), r(ROWS), r(ROWS)], args: ([px, p1, p2, py, pm, pr]) => [px, pw(p1), pw(p2), py, pm, pr, D, 1e-5, 1, ROWS], out: [3, 4, 5] });
      out.push({ kernel: 'layernorm_backward', what, bufs: [x, w, mean, rstd, r(ROWS * D), r(ROWS * D), r(2 * D)], args: ([px, p1, pm, pr, pdy, pdx, pp]) => [px, pw(p1), pm, pr, pdy, pdx, pp, D, acc, 1, ROWS, 0], out: [5, 6] });
    }
  }
  const v = r(N).map((x) => x * x);
  out.push({ kernel: 'adamw_update', what: 'step 3', bufs: [r(N), r(N), r(N, 0.1), v], args: ([pp, pg, pm, pv]) => [pp, pg, pm, pv, 1e-3, 0.9, 0.95, 1e-8, 0.1, 1 - 0.9 ** 3, 1 - 0.95 ** 3, 3, N - 2], out: [0, 2, 3] });
  return out;
}

/** Run fn on fresh copies of the case's buffers; the written buffers afterwards. */
function runCase(fn: KernelFn, c: Case): Float32Array[] {
  const ts = c.bufs.map((b) => Tensor.from(b));
  try {
    fn(...c.args(ts.map((t) => t.ptr)));
    return c.out.map((i) => ts[i].f32().slice());
  } finally {
    for (const t of ts) t.dispose();
  }
}

describe('native and wasm kernels', { skip: available ? false : "the native kernels are not built — run `npm run build:native` (needs a C compiler and Node's headers)" }, () => {
  let addon: NativeAddon;
  let wasm: WebAssembly.Exports;
  before(async () => {
    await initRuntime({ threads: 2 });
    addon = (await loadNativeAddon()) as NativeAddon;
    // Bound already under the native backend; under TERNLM_BACKEND=wasm this test binds it.
    addon.setMemory(new Uint8Array(rt().memory.buffer));
    wasm = instantiate((await loadKernelModule(rt().build)).module, rt().memory);
  });

  it('every native kernel has a wasm kernel of that name and parameter count', () => {
    assert.deepEqual(Object.keys(addon.kernels).sort(), Object.keys(addon.arity).sort());
    for (const [name, arity] of Object.entries(addon.arity)) {
      assert.equal(typeof wasm[name], 'function', `${name}: no wasm kernel of that name`);
      assert.equal(arity, (wasm[name] as KernelFn).length, `${name}: parameter count`);
    }
  });

  it('the elementwise, norm, column-sum and AdamW kernels give the wasm results', () => {
    for (const c of cases()) {
      assert.ok(addon.kernels[c.kernel], `${c.kernel}: no native kernel`);
      const want = runCase(wasm[c.kernel] as KernelFn, c);
      const got = runCase(addon.kernels[c.kernel] as KernelFn, c);
      got.forEach((g, i) => {
        const what = `${c.kernel} (${c.what}), output ${c.out[i]}`;
        if (c.exact) assert.deepEqual([...g], [...want[i]], what);
        else assertClose(g, want[i], 2e-5, what);
      });
    }
  });
});
