// Every kernel binding passes as many arguments as its wasm kernel takes. A dropped or extra
// argument would otherwise shift the rest silently (wasm fills missing ones with 0 and ignores
// extras). The pool's dispatch is replaced by a recorder, so the bindings run on dummy pointers.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as kernels from '../../src/core/kernels.js';
import * as attentionKernels from '../../src/core/kernels-attention.js';
import * as cumsumKernels from '../../src/core/kernels-cumsum.js';
import * as cumulativeMeanKernels from '../../src/core/kernels-cumulative-mean.js';
import * as headKernels from '../../src/core/kernels-heads.js';
import * as inferKernels from '../../src/core/kernels-infer.js';
import * as linearAttentionKernels from '../../src/core/kernels-linear-attention.js';
import * as recurrenceKernels from '../../src/core/kernels-recurrence.js';
import * as twoLevelKernels from '../../src/core/kernels-two-level.js';
import { initRuntime, kernelPool } from '../../src/core/runtime.js';
import { instantiate, KERNEL_NAMES, kernelNames, loadKernelModule, createMemory } from '../../src/core/wasm.js';

const ASSEMBLY = new URL('../../../assembly/', import.meta.url);
/** Exported functions of the binding modules that compute on the host and dispatch no kernel. */
const HOST_HELPERS = new Set(['ternaryPaddedK', 'ternaryCodesBytes', 'gemmPackedFloats']);

/** Parameter names of every exported kernel, read from the AssemblyScript sources. */
function kernelParams(): Map<string, string[]> {
  const params = new Map<string, string[]>();
  for (const file of readdirSync(ASSEMBLY).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, ASSEMBLY), 'utf8');
    for (const m of source.matchAll(/^export function (\w+)\(([^)]*)\)/gm)) {
      params.set(m[1], m[2].split(',').map((p) => p.split(':')[0].trim()).filter((p) => p !== ''));
    }
  }
  return params;
}

interface Dispatch {
  binding: string;
  kernel: string;
  /** `run`: sliced over the pool (which appends start, end, tid); `call`: called as is. */
  how: 'run' | 'call';
  args: number;
}

describe('kernel bindings', () => {
  let arity: Map<string, number>;
  const params = kernelParams();
  const dispatches: Dispatch[] = [];
  let binding = '';

  before(async () => {
    await initRuntime({ threads: 2 });
    const { module } = await loadKernelModule();
    const exports = instantiate(module, createMemory());
    arity = new Map(kernelNames(module).map((n) => [n, (exports[n] as (...a: number[]) => unknown).length]));
    // Record instead of running: the bindings are called with dummy pointers.
    const pool = kernelPool();
    pool.run = (kernel, args) => void dispatches.push({ binding, kernel, how: 'run', args: args.length });
    pool.call = (kernel, args) => {
      dispatches.push({ binding, kernel, how: 'call', args: args.length });
      return 1;
    };
  });

  after(() => {
    // Back to the prototype's methods for any later test in this process.
    const pool = kernelPool() as unknown as Record<string, unknown>;
    delete pool.run;
    delete pool.call;
  });

  it('KERNEL_NAMES lists exactly the functions the build exports', () => {
    assert.deepEqual([...KERNEL_NAMES].sort(), [...arity.keys()].sort());
  });

  it('the AssemblyScript sources declare as many parameters as the build exports', () => {
    for (const [name, n] of arity) assert.equal(params.get(name)?.length, n, `${name}: ${params.get(name)?.join(', ')}`);
  });

  it('every binding passes each kernel its full argument list', () => {
    const modules = { kernels, headKernels, inferKernels, attentionKernels, cumsumKernels, cumulativeMeanKernels, recurrenceKernels, twoLevelKernels, linearAttentionKernels } as Record<string, Record<string, unknown>>;
    for (const [moduleName, mod] of Object.entries(modules)) {
      for (const [name, fn] of Object.entries(mod)) {
        if (typeof fn !== 'function') continue;
        binding = `${moduleName}.${name}`;
        const before = dispatches.length;
        // Every parameter 1: a valid size, and a pointer the recorder never dereferences.
        (fn as (...a: unknown[]) => unknown)(...new Array<number>(fn.length).fill(1));
        if (HOST_HELPERS.has(name)) assert.equal(dispatches.length, before, `${binding} is listed as a host helper but dispatches a kernel`);
        else assert.ok(dispatches.length > before, `${binding} dispatched no kernel (a new host helper belongs in HOST_HELPERS)`);
      }
    }
    for (const d of dispatches) {
      const declared = params.get(d.kernel)!;
      const wasmArity = arity.get(d.kernel)!;
      // A pool kernel takes (…, start, end) or (…, start, end, tid) last.
      const appended = d.how === 'call' ? 0 : declared.at(-1) === 'tid' ? 3 : 2;
      if (d.how === 'run') assert.ok(declared.at(-1) === 'end' || declared.at(-1) === 'tid', `${d.kernel} is not a pool kernel`);
      assert.equal(d.args + appended, wasmArity, `${d.binding} passes ${d.args} arguments to ${d.kernel}(${declared.join(', ')})`);
    }
  });

  it('every kernel the build exports has a binding', () => {
    const bound = new Set(dispatches.map((d) => d.kernel));
    assert.deepEqual(KERNEL_NAMES.filter((n) => !bound.has(n)), []);
  });
});
