// Loading the wasm kernel builds: pick relaxed SIMD where the engine validates it, else baseline.
import { readBinary, setEngineFlags } from './platform.js';

export type KernelBuild = 'relaxed' | 'baseline';

/** Flags that must be set before the first wasm compile (Node only; a browser ignores them). */
async function enableEngineFlags(): Promise<void> {
  // Node 20 ships relaxed SIMD behind a flag. --no-liftoff compiles straight to optimised code
  // so that the first calls of a kernel are as fast as the later ones.
  await setEngineFlags(['--experimental-wasm-relaxed-simd', '--no-liftoff']);
}

function wasmUrl(name: string): URL {
  // dist/src/core/wasm.js -> build/kernels-*.wasm at the package root
  return new URL(`../../../build/kernels-${name}.wasm`, import.meta.url);
}

function readWasm(name: string): Promise<Uint8Array<ArrayBuffer>> {
  return readBinary(wasmUrl(name));
}

export interface LoadedKernels {
  build: KernelBuild;
  module: WebAssembly.Module;
}

/** Compile the best kernel build this engine runs. `prefer` forces one (tests, benchmarks). */
export async function loadKernelModule(prefer?: KernelBuild): Promise<LoadedKernels> {
  await enableEngineFlags();
  if (prefer !== 'baseline') {
    const relaxed = await readWasm('relaxed');
    if (WebAssembly.validate(relaxed)) return { build: 'relaxed', module: await WebAssembly.compile(relaxed) };
    if (prefer === 'relaxed') throw new Error('this JavaScript engine does not support relaxed SIMD');
  }
  return { build: 'baseline', module: await WebAssembly.compile(await readWasm('base')) };
}

/** Bytes kept free at the bottom of memory for the kernels' own static data. */
export const RESERVED_BYTES = 1 << 16;
export const PAGE_BYTES = 1 << 16;
export const MAX_PAGES = 65536;

export function createMemory(initialPages = 256): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): WebAssembly.Exports {
  return new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('kernel abort'); } } }).exports;
}

/**
 * Every function the kernel module exports (assembly/index.ts). The pool takes a kernel name of
 * this type, so a misspelt kernel does not compile; a test checks the list against the build.
 */
export const KERNEL_NAMES = [
  'adamw_update', 'attention_backward', 'attention_decode', 'attention_forward', 'attention_scratch_floats',
  'binary_forward', 'clock_probe', 'col_sum', 'conv1d_backward',
  'conv1d_forward', 'conv1d_step', 'copy_rows', 'cross_entropy_forward', 'cumulative_mean_backward', 'cumulative_mean_forward', 'cumsum_backward', 'cumsum_forward', 'dequantize_rows_i8', 'dropout_f32',
  'embedding_backward', 'embedding_forward', 'fill_f32', 'gemm_compute', 'gemm_pack_b', 'gemm_panel_width', 'gemm_scratch_floats',
  'hsm_log_probs', 'hsm_loss', 'hsm_node_grad', 'layernorm_backward', 'layernorm_forward', 'log_softmax_forward',
  'matvec_f32', 'mul_scaled', 'multilabel_bce', 'normuon_rows', 'quantize_rows_i8', 'reduce_f32', 'rmsnorm_backward',
  'rmsnorm_forward', 'rope_forward', 'rope_rotate', 'row_sum', 'scale_f32', 'scatter_cols', 'softmax_backward', 'softmax_forward',
  'recurrence_backward', 'recurrence_forward',
  'two_level_log_probs', 'two_level_word_grad', 'two_level_word_loss',
  'causal_normalize_backward', 'causal_normalize_forward',
  'sum_partials', 'swiglu_forward', 'ternarize_f32', 'ternary_counts', 'ternary_matmul_i16',
  'ternary_matvec_packed', 'ternary_pack', 'ternary_unpack_codes', 'ternary_unpack_f32', 'unary_backward',
  'unary_forward',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** Names of the exported kernel functions, in a fixed order shared by the main thread and workers. */
export function kernelNames(module: WebAssembly.Module): string[] {
  return WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name).sort();
}
