// Bundle the page that `ternlm serve` shows (src/serve/web/) into dist/web/ with esbuild:
//   index.html        the page (copied)
//   page.js           its script on the tab's main thread (with Vega and Vega-Lite)
//   train-worker.js   the module worker that trains, generates and exports
//   worker.js         the kernel pool's worker (src/core/worker.ts), which the pool in
//                     train-worker.js starts from its own URL: new URL('./worker.js', import.meta.url)
// The wasm kernels stay in build/: the runtime asks for ../../../build/kernels-*.wasm next to its
// module, which from /train-worker.js is /build/kernels-*.wasm, where the server serves them.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/web');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    page: 'src/serve/web/page.ts',
    'train-worker': 'src/serve/web/train-worker.ts',
    worker: 'src/core/worker.ts',
  },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  // core/platform.ts reaches Node only through dynamic imports behind its isNode checks.
  external: ['node:*'],
  logLevel: 'warning',
});
copyFileSync(join(root, 'src/serve/web/index.html'), join(out, 'index.html'));
console.log(`ternlm: page bundled into ${out}`);
