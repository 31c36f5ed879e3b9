// The process-wide compute runtime: one shared memory, its allocator, and one thread pool.
import { TernlmError } from './errors.js';
import { Heap } from './heap.js';
import { nativeAvailable, type Backend } from './native.js';
import { hardwareThreads, isNode } from './platform.js';
import { ThreadPool, type PoolControls } from './pool.js';
import { createMemory, loadKernelModule, type KernelBuild } from './wasm.js';

export interface RuntimeOptions {
  /** Threads including the main one (default: all cores). */
  threads?: number;
  /** Force a kernel build (default: relaxed where supported). */
  build?: KernelBuild;
  /**
   * The kernels' backend: native C where built (Node only), else wasm. Default: the environment
   * variable TERNLM_BACKEND (wasm | native), else native when available.
   */
  backend?: Backend;
}

export interface Runtime {
  /** native: the addon's kernels where it has them, wasm for the rest; wasm: wasm only. */
  readonly backend: Backend;
  /** The wasm build (every kernel the native backend does not have runs in it). */
  readonly build: KernelBuild;
  /** What runs the kernels, for one line of a command's output: "native kernels (avx512 vnni) + wasm relaxed SIMD". */
  readonly kernels: string;
  /** The native kernels' instruction set ("avx512 vnni", "avx2", "scalar"), or null on wasm. */
  readonly nativeIsa: string | null;
  readonly threads: number;
  readonly memory: WebAssembly.Memory;
  readonly heap: Heap;
  /** Thread limits only: kernels are dispatched by the typed bindings in src/core/kernels*.ts. */
  readonly pool: PoolControls;
}

let current: Runtime | null = null;
let currentPool: ThreadPool | null = null;
let starting: Promise<Runtime> | null = null;

/**
 * The most threads a runtime may start on a machine with `cores` cores: past 4 per core there is
 * no more speed to gain, only memory to lose (each worker is a thread with its own stack and
 * wasm instance; 999 of them took 7.7 GB), and 256 bounds it on the largest machines.
 */
export function maxThreads(cores: number): number {
  return Math.min(256, 4 * cores);
}

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
      const limit = maxThreads(await hardwareThreads());
      if (!Number.isInteger(threads) || threads < 1 || threads > limit) {
        throw new TernlmError(`threads must be an integer from 1 to ${limit} (4 × this machine's cores, and never more than 256), got ${threads}`);
      }
      const backend = await chooseBackend(opts.backend);
      const { build, module } = await loadKernelModule(opts.build);
      const memory = createMemory();
      const heap = new Heap(memory);
      const pool = await ThreadPool.create(module, memory, threads, backend);
      const kernels = `${pool.nativeIsa ? `native kernels (${pool.nativeIsa}) + ` : ''}wasm ${build} SIMD`;
      current = { backend, build, kernels, nativeIsa: pool.nativeIsa, threads, memory, heap, pool };
      currentPool = pool;
      return current;
    })();
  }
  return starting;
}

/** The backend asked for (option, else TERNLM_BACKEND), or native where it is built. */
async function chooseBackend(asked: Backend | undefined): Promise<Backend> {
  const fromEnv = isNode ? process.env.TERNLM_BACKEND : undefined;
  const want = asked ?? (fromEnv === '' ? undefined : fromEnv);
  if (want !== undefined && want !== 'wasm' && want !== 'native') throw new TernlmError(`TERNLM_BACKEND must be wasm or native, got '${want}'`);
  if (want) return want;
  return (await nativeAvailable()) ? 'native' : 'wasm';
}

/** The running runtime; throws if initRuntime has not been awaited. */
export function rt(): Runtime {
  if (!current) throw new Error('the compute runtime is not started: await initRuntime() first');
  return current;
}

/**
 * The running runtime's thread pool, for the kernel bindings in src/core/kernels*.ts only
 * (test/core/layering.test.ts holds every other module to that).
 */
export function kernelPool(): ThreadPool {
  if (!currentPool) throw new Error('the compute runtime is not started: await initRuntime() first');
  return currentPool;
}

/** Stop the pool's workers (optional: they never keep the process alive). */
export async function shutdownRuntime(): Promise<void> {
  if (!currentPool) return;
  await currentPool.close();
  current = null;
  currentPool = null;
  starting = null;
}
