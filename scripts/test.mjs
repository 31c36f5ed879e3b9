// npm test after the build: the whole suite on the default backend (native where it is built),
// then the kernel and op tests again on every other kernel path this machine has — the wasm
// backend, and the native kernels' narrower instruction sets (AVX2 on an AVX-512 CPU, and the
// scalar C) — so that every kernel is checked against its reference on every backend.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const KERNEL_TESTS = ['dist/test/core', 'dist/test/ops', 'dist/test/heads', 'dist/test/infer/kernels.test.js'];

function run(label, env, paths) {
  console.log(`\n# ternlm tests: ${label}`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...paths], { stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`ternlm tests failed: ${label}`);
    process.exit(r.status ?? 1);
  }
}

/** The addon the runtime would load (node-gyp-build: a local build, else a prebuilt binary), or null. */
function nativeAddon() {
  try {
    const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build');
    return nodeGypBuild(fileURLToPath(new URL('../native/', import.meta.url)));
  } catch {
    return null;
  }
}

const addon = process.env.TERNLM_BACKEND === 'wasm' ? null : nativeAddon();
run(addon ? `every test, native kernels (${addon.isa()})` : 'every test, wasm kernels', {}, ['dist/test/']);
if (!addon) {
  console.log('\n# the native kernels are not built, so only the wasm backend was tested (npm run build:native builds them)');
  process.exit(0);
}
run('kernel tests, wasm backend', { TERNLM_BACKEND: 'wasm' }, KERNEL_TESTS);
const best = addon.isa().split(' ')[0];
if (best === 'avx512') run('kernel tests, native AVX2 + AVX-VNNI where present', { TERNLM_NATIVE_ISA: 'avx2' }, KERNEL_TESTS);
if (best === 'avx512' || best === 'avx2') run(`kernel tests, native ${best} without VNNI`, { TERNLM_NATIVE_ISA: `${best}-novnni` }, KERNEL_TESTS);
run('kernel tests, native scalar C', { TERNLM_NATIVE_ISA: 'scalar' }, KERNEL_TESTS);
