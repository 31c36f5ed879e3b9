// Put the built native kernels into the package as this platform's prebuilt binary, where
// node-gyp-build finds it (native/prebuilds/<platform>-<arch>/ternlm.napi[.glibc|.musl].node),
// so that users without a C compiler get the native backend. It is one binary for every CPU of
// the architecture: the kernels pick AVX-512, AVX2 or plain C at run time. Runs at `npm pack`
// (prepack); `--dir <native folder>` writes elsewhere (tests).
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = process.argv.indexOf('--dir');
const nativeDir = at > 0 ? process.argv[at + 1] : join(root, 'native');
const built = join(root, 'native', 'build', 'Release', 'ternlm.node');
if (!existsSync(built)) {
  console.error('ternlm: no native build to ship — run `npm run build:native` first (needs a C compiler and Node\'s headers)');
  process.exit(1);
}

/** glibc or musl on Linux (node-gyp-build tells them apart by this tag), else none. */
function libcTag() {
  if (process.platform !== 'linux') return '';
  const report = process.report?.getReport();
  return report?.header?.glibcVersionRuntime ? '.glibc' : '.musl';
}

const out = join(nativeDir, 'prebuilds', `${process.platform}-${process.arch}`);
mkdirSync(out, { recursive: true });
const file = join(out, `ternlm.napi${libcTag()}.node`);
copyFileSync(built, `${file}.tmp`);
renameSync(`${file}.tmp`, file);
console.error(`ternlm: prebuilt native kernels for ${process.platform}-${process.arch}: ${file}`);
