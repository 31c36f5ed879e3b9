// The native backend: its kernels run on every thread of the pool, on the same shared memory as
// the wasm kernels (a tensor written by one is read by the other). Skips where the addon is not
// built (no C compiler or Node headers at install).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as K from '../../src/core/kernels.js';
import { nativeAvailable, type NativeAddon } from '../../src/core/native.js';
import { loadNativeAddon } from '../../src/core/platform.js';
import { initRuntime, rt } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';

const available = await nativeAvailable();

describe('native backend', { skip: available ? false : "the native kernels are not built — run `npm run build:native` (needs a C compiler and Node's headers)" }, () => {
  let addon: NativeAddon;
  before(async () => {
    await initRuntime({ threads: 2, backend: 'native' });
    addon = (await loadNativeAddon()) as NativeAddon;
  });

  it('runs its kernels on every thread, on the memory the wasm kernels read', () => {
    assert.equal(rt().backend, 'native');
    assert.match(addon.isa(), /^(avx512|avx2|scalar)( vnni)?$/);
    const n = 1 << 16; // 32K floats per thread: the pool splits the fill over both threads
    const t = Tensor.empty([n]);
    const callsBefore = addon.calls('fill_f32');
    K.fill(t.ptr, n, 3.5);
    const callsAfter = addon.calls('fill_f32');
    assert.equal(callsAfter[0] - callsBefore[0], 1, 'the main thread ran the native fill');
    assert.equal(callsAfter[1] - callsBefore[1], 1, 'the worker ran the native fill');
    assert.ok(t.f32().every((v) => v === 3.5), 'every element written');
    // A wasm kernel (the sum) reads what the native one wrote, on both threads' halves.
    assert.equal(K.reduce('sum', t.ptr, n), 3.5 * n);
    // And the native kernel writes over what a wasm kernel wrote.
    K.scale(t.ptr, 2, t.ptr, n, false);
    assert.ok(t.f32().every((v) => v === 7));
    K.fill(t.ptr, n, -1);
    assert.ok(t.f32().every((v) => v === -1));
    t.dispose();
  });

  it("runs a kernel on the pool's shared arguments (the fast path) and refuses a bad call", () => {
    assert.deepEqual([...addon.names].sort(), Object.keys(addon.kernels).sort());
    const n = 64;
    const t = Tensor.empty([n]);
    const before = addon.calls('fill_f32')[0];
    K.fill(t.ptr, n, 2.25); // one thread's worth: the main thread calls runBound
    assert.equal(addon.calls('fill_f32')[0] - before, 1);
    assert.ok(t.f32().every((v) => v === 2.25));
    t.dispose();
    assert.throws(() => addon.runBound(-1, 0, 0, 0, 0), /bad kernel index/);
    assert.throws(() => addon.runBound(addon.names.indexOf('fill_f32'), 5, 0, 0, 0), /wrong number of arguments/);
  });
});
