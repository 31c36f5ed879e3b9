// The process-wide compute runtime: one shared memory, its allocator, and one thread pool.
import { Heap } from './heap.js';
import { hardwareThreads } from './platform.js';
import { ThreadPool } from './pool.js';
import { createMemory, loadKernelModule, type KernelBuild } from './wasm.js';

export interface RuntimeOptions {
  /** Threads including the main one (default: all cores). */
  threads?: number;
  /** Force a kernel build (default: relaxed where supported). */
  build?: KernelBuild;
}

export interface Runtime {
  readonly backend: 'wasm';
  readonly build: KernelBuild;
  readonly threads: number;
  readonly memory: WebAssembly.Memory;
  readonly heap: Heap;
  readonly pool: ThreadPool;
}

let current: Runtime | null = null;
let starting: Promise<Runtime> | null = null;

/** Start the runtime once per process; later calls return the same one (options must agree). */
export async function initRuntime(opts: RuntimeOptions = {}): Promise<Runtime> {
  if (current) {
    if (opts.threads !== undefined && opts.threads !== current.threads) {
      throw new Error(`the runtime already runs on ${current.threads} threads (asked for ${opts.threads}); one pool per process`);
    }
    return current;
  }
  if (!starting) {
    starting = (async () => {
      const threads = opts.threads ?? (await hardwareThreads());
      if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${threads}`);
      const { build, module } = await loadKernelModule(opts.build);
      const memory = createMemory();
      const heap = new Heap(memory);
      const pool = await ThreadPool.create(module, memory, threads);
      current = { backend: 'wasm', build, threads, memory, heap, pool };
      return current;
    })();
  }
  return starting;
}

/** The running runtime; throws if initRuntime has not been awaited. */
export function rt(): Runtime {
  if (!current) throw new Error('the compute runtime is not started: await initRuntime() first');
  return current;
}

/** Stop the pool's workers (optional: they never keep the process alive). */
export async function shutdownRuntime(): Promise<void> {
  if (!current) return;
  await current.pool.close();
  current = null;
  starting = null;
}
