// A persistent pool of worker threads that run wasm kernels on one shared memory.
//
// Dispatch goes through a small SharedArrayBuffer: the main thread writes the kernel id, its
// arguments and the size of the parallel range, opens the job's slices, bumps the generation
// counter and wakes the workers (Atomics.notify). Every thread, the main one included, then
// claims slices one at a time (an atomic counter) and runs slice k as `tid` k, so a kernel's
// per-slice scratch and partial results are indexed by slice; the last slice to finish wakes
// the main thread. A worker the OS has not scheduled yet simply finds no slice left: on a busy
// machine the main thread does its share instead of waiting for it. Workers spin briefly before
// sleeping, so back-to-back kernels do not pay a wake-up each.
import { canBlock, startWorker, type HostWorker } from './platform.js';
import { nativeAddon, nativeIndexes, type Backend, type NativeAddon } from './native.js';
import { instantiate, KERNEL_NAMES, kernelNames, type KernelName } from './wasm.js';

// Control words (Int32Array indices).
export const CTRL_GENERATION = 0;
export const CTRL_KERNEL = 1;
export const CTRL_NARGS = 2;
export const CTRL_PENDING = 3;
export const CTRL_TOTAL = 4;
export const CTRL_ALIGN = 5;
export const CTRL_ACTIVE = 6;
export const CTRL_ERROR = 7;
/** Slices claimed so far of the job under way (CLAIMS_CLOSED and above between jobs). */
export const CTRL_CLAIMED = 8;
export const CTRL_WORDS = 16;
/** CTRL_CLAIMED between jobs: any claim then finds no slice. */
export const CLAIMS_CLOSED = 1 << 30;
export const MAX_ARGS = 32;
/** Kernel id that tells workers to exit. */
export const KERNEL_EXIT = -1;

/** Slice `tid` [start, end) of `active` slices, each boundary a multiple of `align`. */
export function sliceOf(total: number, align: number, active: number, tid: number): [number, number] {
  const units = Math.ceil(total / align);
  const per = Math.floor(units / active);
  const extra = units % active;
  const u0 = tid * per + Math.min(tid, extra);
  const u1 = u0 + per + (tid < extra ? 1 : 0);
  return [Math.min(total, u0 * align), Math.min(total, u1 * align)];
}

type KernelFn = (...args: number[]) => void;

// Work per thread below which a call stays on the calling thread: waking a worker costs more.
/** Elements per thread. */
export const ELEMENTWISE_MIN = 1 << 14;
/** Multiply-adds per thread. */
export const FLOP_MIN = 1 << 17;

/** Channels per task of the sequence kernels (CB / CUMSUM_BLOCK in assembly/ recurrence, cumsum, cumulative_mean). */
const CHANNEL_BLOCK = 16;

/**
 * How the sequence kernels split B sequences of width C and length T: one task per (batch row,
 * block of 16 channels), so threads share the work even at batch 1; returns [tasks, tasks per
 * thread at least] so that a thread gets ELEMENTWISE_MIN elements.
 */
export function sequenceTasks(B: number, T: number, C: number): [number, number] {
  const perTask = T * Math.min(C, CHANNEL_BLOCK);
  return [B * Math.ceil(C / CHANNEL_BLOCK), Math.max(1, Math.ceil(ELEMENTWISE_MIN / Math.max(1, perTask)))];
}

/**
 * The pool is reached only by the kernel bindings of src/core (kernels*.ts, through
 * `kernelPool()`); the rest of the code sees this much of it on `rt().pool`.
 */
export type PoolControls = Pick<ThreadPool, 'threads' | 'withThreads'>;

export class ThreadPool {
  readonly threads: number;
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;
  private readonly workers: HostWorker[] = [];
  /** The wasm kernel of each kernel id. */
  private readonly fns: KernelFn[];
  /** The addon's index of each kernel id, -1 where wasm runs it; and the addon (native backend). */
  private readonly native: Int32Array;
  private readonly addon: NativeAddon | null;
  private readonly ids = new Map<KernelName, number>();
  private workerError: string | null = null;
  /** The native addon's instruction set when the native backend runs, else null. */
  readonly nativeIsa: string | null;

  /** Start the pool and wait until every worker has instantiated the kernels. */
  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, backend: Backend = 'wasm'): Promise<ThreadPool> {
    const pool = new ThreadPool(module, memory, threads, await nativeAddon(backend, memory));
    const url = new URL('./worker.js', import.meta.url);
    await Promise.all(Array.from({ length: pool.threads - 1 }, async (_, i) => {
      const tid = i + 1;
      const w = await startWorker(url, { module, memory, sab: pool.ctrl.buffer, tid, backend });
      pool.workers.push(w);
      await new Promise<void>((resolve, reject) => {
        w.onError((e) => {
          pool.workerError = String(e);
          reject(new Error(`worker ${tid} failed to start: ${e.message}`));
        });
        w.onMessage((m) => {
          const msg = m as { ready?: boolean; error?: string };
          if (msg.ready) resolve();
          if (msg.error) pool.workerError = msg.error;
        });
      });
    }));
    // Once started, idle workers must not keep the process alive.
    for (const w of pool.workers) w.unref();
    return pool;
  }

  private constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number, addon: NativeAddon | null) {
    this.threads = Math.max(1, Math.floor(threads));
    const names = kernelNames(module);
    const missing = KERNEL_NAMES.filter((n) => !names.includes(n));
    if (missing.length > 0) throw new Error(`the kernel build lacks ${missing.join(', ')} — rebuild it with \`npm run build\``);
    const exports = instantiate(module, memory);
    this.fns = names.map((n) => exports[n] as KernelFn);
    this.nativeIsa = addon?.isa() ?? null;
    this.native = nativeIndexes(names, addon);
    this.addon = addon;
    names.forEach((n, i) => this.ids.set(n as KernelName, i));
    const sab = new SharedArrayBuffer(CTRL_WORDS * 4 + MAX_ARGS * 8);
    this.ctrl = new Int32Array(sab, 0, CTRL_WORDS);
    this.args = new Float64Array(sab, CTRL_WORDS * 4, MAX_ARGS);
    Atomics.store(this.ctrl, CTRL_CLAIMED, CLAIMS_CLOSED);
    addon?.bindArgs(this.args);
  }

  /** Threads a job may use (benchmarks lower it to measure fewer threads in one process). */
  private limit = Infinity;

  /** Run fn with at most n threads per job. */
  withThreads<T>(n: number, fn: () => T): T {
    const prev = this.limit;
    this.limit = Math.max(1, n);
    try {
      return fn();
    } finally {
      this.limit = prev;
    }
  }

  /** Call a kernel once on this thread and return its result (for kernels that answer a number). */
  call(kernel: KernelName, args: readonly number[]): number {
    const id = this.ids.get(kernel)!;
    const fn = this.native[id] >= 0 ? this.addon!.kernels[kernel] : this.fns[id];
    return (fn as unknown as (...a: number[]) => number)(...args);
  }

  /**
   * Run `kernel(...args, start, end, tid)` over [0, total) split into slices aligned to `align`,
   * using at most ceil(total / minChunk) threads. Returns when every slice is done.
   */
  run(kernel: KernelName, args: readonly number[], total: number, align = 1, minChunk = 1): void {
    const id = this.ids.get(kernel)!;
    if (total <= 0) return;
    const fn = this.fns[id];
    const nativeIndex = this.native[id];
    const active = Math.max(1, Math.min(this.threads, this.limit, Math.ceil(total / Math.max(minChunk, align))));
    // Every thread reads a job's arguments from the shared block (the native kernels straight from it).
    for (let i = 0; i < args.length; i++) this.args[i] = args[i];
    if (active === 1) {
      if (nativeIndex >= 0) this.addon!.runBound(nativeIndex, args.length, 0, total, 0);
      else fn(...args, 0, total, 0);
      return;
    }
    const ctrl = this.ctrl;
    ctrl[CTRL_KERNEL] = id;
    ctrl[CTRL_NARGS] = args.length;
    ctrl[CTRL_TOTAL] = total;
    ctrl[CTRL_ALIGN] = align;
    ctrl[CTRL_ACTIVE] = active;
    Atomics.store(ctrl, CTRL_PENDING, active);
    Atomics.store(ctrl, CTRL_CLAIMED, 0);
    Atomics.add(ctrl, CTRL_GENERATION, 1);
    Atomics.notify(ctrl, CTRL_GENERATION);
    // This thread's share: every slice no worker has claimed yet. A failure is thrown once the
    // workers are done with the job.
    let failure: unknown = null;
    for (let k = Atomics.add(ctrl, CTRL_CLAIMED, 1); k < active; k = Atomics.add(ctrl, CTRL_CLAIMED, 1)) {
      const [s, e] = sliceOf(total, align, active, k);
      try {
        if (nativeIndex >= 0) this.addon!.runBound(nativeIndex, args.length, s, e, k);
        else fn(...args, s, e, k);
      } catch (err) {
        failure ??= err;
      }
      Atomics.sub(ctrl, CTRL_PENDING, 1);
    }
    // Wait for the slices workers took: spin a little (they are usually nearly done), then sleep.
    let spins = 0;
    for (;;) {
      const pending = Atomics.load(ctrl, CTRL_PENDING);
      if (pending === 0) break;
      if (++spins < 20000 || !canBlock) continue;
      Atomics.wait(ctrl, CTRL_PENDING, pending, 1000);
      if (this.workerError) break;
    }
    Atomics.store(ctrl, CTRL_CLAIMED, CLAIMS_CLOSED);
    if (failure !== null) throw failure;
    if (Atomics.load(ctrl, CTRL_ERROR) !== 0 || this.workerError) {
      const msg = this.workerError ?? 'a worker thread failed';
      this.workerError = null;
      Atomics.store(ctrl, CTRL_ERROR, 0);
      throw new Error(`kernel ${kernel} failed in a worker: ${msg}`);
    }
  }

  /** Stop the workers (the process can also just exit: they are unref'd). */
  async close(): Promise<void> {
    if (this.workers.length === 0) return;
    this.ctrl[CTRL_KERNEL] = KERNEL_EXIT;
    Atomics.add(this.ctrl, CTRL_GENERATION, 1);
    Atomics.notify(this.ctrl, CTRL_GENERATION);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
