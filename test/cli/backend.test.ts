// The global --backend flag: it picks the kernels for any command (before or after the command's
// name), the command says which ran, and a wrong name is one line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nativeAvailable } from '../../src/core/native.js';
import { assertRefused, ternlm } from './run-cli.js';

const BENCH = ['bench', 'kernels', '--reps', '1', '--threads', '1'];
const native = await nativeAvailable();
const env = { ...process.env, TERNLM_BACKEND: undefined, TERNLM_NATIVE_ISA: undefined };

describe('--backend', () => {
  it('runs the wasm kernels when asked, and says so', async () => {
    const r = await ternlm(['--backend', 'wasm', ...BENCH], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ternlm bench kernels — wasm (relaxed|baseline) SIMD, 1 threads/);
  });

  it('runs the native kernels when asked, and names their instruction set', { skip: native ? false : 'the native kernels are not built (npm run build:native)' }, async () => {
    const r = await ternlm([...BENCH, '--backend=native'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ternlm bench kernels — native kernels \((avx512|avx2|scalar)( vnni)?\) \+ wasm (relaxed|baseline) SIMD, 1 threads/);
  });

  it('refuses an unknown backend in one line', async () => {
    assertRefused(await ternlm(['--backend', 'cuda', ...BENCH], { env }), /^Error: --backend must be wasm or native, got 'cuda'$/);
    assertRefused(await ternlm(BENCH, { env: { ...env, TERNLM_BACKEND: 'gpu' } }), /^Error: TERNLM_BACKEND must be wasm or native, got 'gpu'$/);
    // (the instruction set is read only where the native kernels run)
    if (native) assertRefused(await ternlm(BENCH, { env: { ...env, TERNLM_NATIVE_ISA: 'avx9' } }), /^Error: TERNLM_NATIVE_ISA must be avx512, avx512-novnni, avx2, avx2-novnni or scalar, got 'avx9'$/);
  });
});
