// The native backend: C kernels (native/) with the same names, arguments and results as the
// wasm kernels, working on the same shared memory (a pointer is a byte offset into it). Each
// thread of the pool builds its kernel table from the wasm exports and puts the addon's function
// in place of every kernel the addon has; nothing outside src/core knows which one ran.
import { loadNativeAddon } from './platform.js';

export type Backend = 'wasm' | 'native';
type KernelFn = (...args: number[]) => void;

export interface NativeAddon {
  /** One function per native kernel, by the wasm kernel's name. */
  kernels: Record<string, KernelFn>;
  /** Record the base address of the shared memory (stable for its lifetime). */
  setMemory(view: Uint8Array): void;
  /** Calls of a kernel by each thread id so far (tests). */
  calls(name: string): number[];
  /** The widest instruction set of this CPU the kernels use: avx512, avx2 or scalar. */
  isa: string;
}

/** The addon for `backend`, bound to `memory`; null for wasm. Throws when native is asked and missing. */
export async function nativeAddon(backend: Backend, memory: WebAssembly.Memory): Promise<NativeAddon | null> {
  if (backend === 'wasm') return null;
  const addon = (await loadNativeAddon()) as NativeAddon | null;
  if (!addon) throw new Error('the native kernels are not built — run `npm run build:native` (needs a C compiler and Node\'s headers), or use the wasm backend');
  addon.setMemory(new Uint8Array(memory.buffer));
  return addon;
}

/** Whether the native kernels can load here (built, Node). */
export async function nativeAvailable(): Promise<boolean> {
  return (await loadNativeAddon()) !== null;
}

/** A thread's kernel table: `wasm[i]` for kernel `names[i]`, or the addon's kernel of that name. */
export function kernelTable(names: readonly string[], wasm: readonly KernelFn[], addon: NativeAddon | null): KernelFn[] {
  return names.map((n, i) => addon?.kernels[n] ?? wasm[i]);
}
