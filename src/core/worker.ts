// A pool worker: instantiates the kernels on the shared memory and runs its slice of each job.
import { workerContext } from './platform.js';
import { nativeAddon, nativeIndexes, type Backend } from './native.js';
import { instantiate, kernelNames } from './wasm.js';
import {
  CTRL_ACTIVE, CTRL_ALIGN, CTRL_CLAIMED, CTRL_ERROR, CTRL_GENERATION, CTRL_KERNEL, CTRL_NARGS, CTRL_PENDING,
  CTRL_TOTAL, CTRL_WORDS, KERNEL_EXIT, MAX_ARGS, sliceOf,
} from './pool.js';

const { init, post } = await workerContext<{
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  sab: SharedArrayBuffer;
  tid: number;
  backend: Backend;
}>();
const { module, memory, sab, backend } = init;
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
  if (ctrl[CTRL_KERNEL] === KERNEL_EXIT) break;
  // Claim slices until none is left. The job is read after each claim: a claim holds the job in
  // place (the main thread waits for every claimed slice), and a worker that slept through a job
  // claims into the next one or finds the claims closed.
  for (let k = Atomics.add(ctrl, CTRL_CLAIMED, 1); k < ctrl[CTRL_ACTIVE]; k = Atomics.add(ctrl, CTRL_CLAIMED, 1)) {
    const id = ctrl[CTRL_KERNEL];
    try {
      const [s, e] = sliceOf(ctrl[CTRL_TOTAL], ctrl[CTRL_ALIGN], ctrl[CTRL_ACTIVE], k);
      if (e > s) {
        // A native kernel reads the job's arguments from the shared block itself.
        if (native[id] >= 0) addon!.runBound(native[id], ctrl[CTRL_NARGS], s, e, k);
        else fns[id](...Array.from(argv.subarray(0, ctrl[CTRL_NARGS])), s, e, k);
      }
    } catch (err) {
      Atomics.store(ctrl, CTRL_ERROR, 1);
      post({ error: String(err) });
    }
    if (Atomics.sub(ctrl, CTRL_PENDING, 1) === 1) Atomics.notify(ctrl, CTRL_PENDING);
  }
}
