// The native backend: C kernels (native/) with the same names, arguments and results as the
// wasm kernels, working on the same shared memory (a pointer is a byte offset into it). Each
// thread of the pool looks up, for every kernel, the addon's index of the kernel of that name
// (nativeIndexes) and runs the addon's kernel wherever there is one, the wasm export elsewhere;
// nothing outside src/core knows which one ran.
import { TernlmError } from './errors.js';
import { isNode, loadNativeAddon } from './platform.js';

export type Backend = 'wasm' | 'native';
type KernelFn = (...args: number[]) => void;

export interface NativeAddon {
  /** One function per native kernel, by the wasm kernel's name. */
  kernels: Record<string, KernelFn>;
  /** Record the base address of the shared memory (stable for its lifetime). */
  setMemory(view: Uint8Array): void;
  /** The native kernels' names; a kernel's index for runBound is its position here. */
  names: string[];
  /** Record the pool's shared argument block (the Float64Array the main thread writes a job's arguments to). */
  bindArgs(args: Float64Array): void;
  /** Run native kernel `index` on the first `nargs` bound arguments and (start, end, tid): the pool's fast path. */
  runBound(index: number, nargs: number, start: number, end: number, tid: number): void;
  /** The wasm kernel's parameter count of each native kernel (start, end, tid where it declares them). */
  arity: Record<string, number>;
  /** Calls of a kernel by each thread id so far (tests). */
  calls(name: string): number[];
  /** The instruction set the kernels use: avx512, avx2 or scalar, then " vnni" where the int8 dot products run. */
  isa(): string;
  /** Use a lower instruction set than this CPU's best, in every thread (throws if the CPU lacks it). */
  setIsa(isa: NativeIsa, vnni: boolean): void;
}

export type NativeIsa = 'avx512' | 'avx2' | 'scalar';

/**
 * TERNLM_NATIVE_ISA (avx512 | avx512-novnni | avx2 | avx2-novnni | scalar) lowers the native
 * kernels' instruction set, to test or measure the narrower paths on a wider CPU.
 */
function applyIsaFromEnv(addon: NativeAddon): void {
  const want = isNode ? process.env.TERNLM_NATIVE_ISA : undefined;
  if (!want) return;
  const m = /^(avx512|avx2|scalar)(-novnni)?$/.exec(want);
  if (!m) throw new TernlmError(`TERNLM_NATIVE_ISA must be avx512, avx512-novnni, avx2, avx2-novnni or scalar, got '${want}'`);
  try {
    addon.setIsa(m[1] as NativeIsa, !m[2]);
  } catch {
    throw new TernlmError(`TERNLM_NATIVE_ISA=${want}: this CPU lacks ${m[1]}; unset it to use the best this CPU has`);
  }
}

/** The addon for `backend`, bound to `memory`; null for wasm. Throws when native is asked and missing. */
export async function nativeAddon(backend: Backend, memory: WebAssembly.Memory): Promise<NativeAddon | null> {
  if (backend === 'wasm') return null;
  const addon = (await loadNativeAddon()) as NativeAddon | null;
  if (!addon) throw new TernlmError('the native kernels are not built — run `npm run build:native` (needs a C compiler and Node\'s headers), or use the wasm backend');
  addon.setMemory(new Uint8Array(memory.buffer));
  applyIsaFromEnv(addon);
  return addon;
}

/** Whether the native kernels can load here (built, Node). */
export async function nativeAvailable(): Promise<boolean> {
  return (await loadNativeAddon()) !== null;
}

/** For each of `names`, the addon's index of the kernel of that name (for runBound), or -1 where wasm runs it. */
export function nativeIndexes(names: readonly string[], addon: NativeAddon | null): Int32Array {
  return Int32Array.from(names, (n) => (addon ? addon.names.indexOf(n) : -1));
}
