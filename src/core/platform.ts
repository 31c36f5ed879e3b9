// Everything the compute core needs from its host, for Node.js and for browsers. No other module
// of src/core imports a `node:` module, so the core bundles for the web unchanged.

export const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Cores available to this process (Node) or reported by the browser. */
export async function hardwareThreads(): Promise<number> {
  if (isNode) return (await import('node:os')).availableParallelism();
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** Bytes of a file next to the package (Node) or of a URL (browser). */
export async function readBinary(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (isNode) {
    const { readFileSync } = await import('node:fs');
    const { fileURLToPath } = await import('node:url');
    const path = fileURLToPath(url);
    try {
      return new Uint8Array(readFileSync(path));
    } catch {
      throw new Error(`${path} is missing — run \`npm run build\``);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** V8 flags to set before the first wasm compile (Node only; a browser has its own defaults). */
export async function setEngineFlags(flags: string[]): Promise<void> {
  if (!isNode) return;
  const v8 = await import('node:v8');
  for (const f of flags) v8.setFlagsFromString(f);
}

/**
 * Whether this thread may block in Atomics.wait: yes in Node and in workers, no on a browser's
 * main thread (which then spins while the pool works).
 */
export const canBlock: boolean = isNode || typeof (globalThis as { document?: unknown }).document === 'undefined';

/** A pool worker, the same to the pool on both hosts. */
export interface HostWorker {
  onMessage(fn: (msg: unknown) => void): void;
  onError(fn: (err: Error) => void): void;
  /** Let the process exit while the worker sleeps (Node). */
  unref(): void;
  terminate(): Promise<void>;
}

/** Start `url` as a module worker and hand it `init` (structured-cloned: memory and module are shared). */
export async function startWorker(url: URL, init: object): Promise<HostWorker> {
  if (isNode) {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(url, { workerData: init });
    return {
      onMessage: (fn) => void w.on('message', fn),
      onError: (fn) => void w.on('error', fn),
      unref: () => w.unref(),
      terminate: async () => void (await w.terminate()),
    };
  }
  const w = new Worker(url, { type: 'module' });
  w.postMessage(init);
  return {
    onMessage: (fn) => w.addEventListener('message', (e) => fn(e.data)),
    onError: (fn) => w.addEventListener('error', (e) => fn(new Error(e.message))),
    unref: () => {},
    terminate: async () => w.terminate(),
  };
}

/** Inside a worker: the init object its parent passed, and a way to message the parent. */
export async function workerContext<T>(): Promise<{ init: T; post(msg: unknown): void }> {
  if (isNode) {
    const { parentPort, workerData } = await import('node:worker_threads');
    return { init: workerData as T, post: (msg) => parentPort?.postMessage(msg) };
  }
  const scope = globalThis as unknown as { addEventListener(t: string, fn: (e: MessageEvent) => void, o?: object): void; postMessage(m: unknown): void };
  const init = await new Promise<T>((resolve) => scope.addEventListener('message', (e) => resolve(e.data as T), { once: true }));
  return { init, post: (msg) => scope.postMessage(msg) };
}

/**
 * The native kernels addon, or null: node-gyp-build loads `nativeDir`/build/Release/ternlm.node
 * (built by `npm ci` where a C compiler exists), else the package's prebuilt binary for this
 * platform (`nativeDir`/prebuilds/<platform>-<arch>/). `nativeDir`: the package's native/ folder.
 */
export async function loadNativeAddon(nativeDir?: string): Promise<unknown | null> {
  if (!isNode) return null;
  const { createRequire } = await import('node:module');
  const { fileURLToPath } = await import('node:url');
  const require = createRequire(import.meta.url);
  // dist/src/core/platform.js -> native/ at the package root
  const dir = nativeDir ?? fileURLToPath(new URL('../../../native/', import.meta.url));
  try {
    const load = require('node-gyp-build') as (dir: string) => unknown;
    return load(dir);
  } catch {
    return null;
  }
}
