// A pool worker: instantiates the kernels on the shared memory and runs its slice of each job.
import { workerContext } from './platform.js';
import { nativeAddon, nativeIndexes, type Backend } from './native.js';
import { instantiate, kernelNames } from './wasm.js';
import {
  CTRL_ACTIVE, CTRL_ALIGN, CTRL_ERROR, CTRL_GENERATION, CTRL_KERNEL, CTRL_NARGS, CTRL_PENDING,
  CTRL_TOTAL, CTRL_WORDS, KERNEL_EXIT, MAX_ARGS, sliceOf,
} from './pool.js';

const { init, post } = await workerContext<{
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  sab: SharedArrayBuffer;
  tid: number;
  backend: Backend;
}>();
const { module, memory, sab, tid, backend } = init;
const ctrl = new Int32Array(sab, 0, CTRL_WORDS);
const argv = new Float64Array(sab, CTRL_WORDS * 4, MAX_ARGS);
const exports = instantiate(module, memory);
const names = kernelNames(module);
const addon = await nativeAddon(backend, memory);
const fns = names.map((n) => exports[n] as (...a: number[]) => void);
const native = nativeIndexes(names, addon);

// Generation 0 is the state before any job: a job posted while this worker was starting is run.
let seen = 0;
post({ ready: true });
for (;;) {
  let spins = 0;
  while (Atomics.load(ctrl, CTRL_GENERATION) === seen) {
    if (++spins > 20000) Atomics.wait(ctrl, CTRL_GENERATION, seen, 1000);
  }
  seen = Atomics.load(ctrl, CTRL_GENERATION);
  const id = ctrl[CTRL_KERNEL];
  if (id === KERNEL_EXIT) break;
  const active = ctrl[CTRL_ACTIVE];
  if (tid < active) {
    try {
      const [s, e] = sliceOf(ctrl[CTRL_TOTAL], ctrl[CTRL_ALIGN], active, tid);
      if (e > s) {
        // A native kernel reads the job's arguments from the shared block itself.
        if (native[id] >= 0) addon!.runBound(native[id], ctrl[CTRL_NARGS], s, e, tid);
        else fns[id](...Array.from(argv.subarray(0, ctrl[CTRL_NARGS])), s, e, tid);
      }
    } catch (err) {
      Atomics.store(ctrl, CTRL_ERROR, 1);
      post({ error: String(err) });
    }
    if (Atomics.sub(ctrl, CTRL_PENDING, 1) === 1) Atomics.notify(ctrl, CTRL_PENDING);
  }
}
