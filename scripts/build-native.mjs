// Build the native kernels (native/, C via N-API) with node-gyp, offline, against the Node headers
// npm is set to use. Optional: without a C compiler or Node's headers the build is skipped with
// one line and the wasm kernels run (`ternlm` says which backend it uses).
// `--install` (npm's install step): a prebuilt binary for this platform shipped in the package
// (native/prebuilds/, see scripts/prebuild.mjs) is used as it is, without compiling.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** node-gyp: the one npm runs scripts with, else the one beside this node's npm. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const beside = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return existsSync(beside) ? beside : null;
}

/** Node's headers without a download: npm's nodedir, else the ones installed beside node. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

/** The prebuilt binary node-gyp-build would load for this platform, or null. */
function prebuilt() {
  try {
    const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build');
    const file = nodeGypBuild.path(join(root, 'native'));
    createRequire(import.meta.url)(file);
    return file.includes('prebuilds') ? file : null;
  } catch {
    return null;
  }
}

if (process.argv.includes('--install') && process.env.TERNLM_BACKEND !== 'wasm') {
  const file = prebuilt();
  if (file) {
    console.error(`ternlm: using the prebuilt native kernels (${file.slice(root.length + 1)})`);
    process.exit(0);
  }
}
const gyp = nodeGyp(), dir = nodeDir();
const skip = (why) => {
  console.error(`ternlm: native kernels not built (${why}); the wasm kernels will run`);
  process.exit(0);
};
if (process.env.TERNLM_BACKEND === 'wasm') skip('TERNLM_BACKEND=wasm');
if (!gyp) skip('node-gyp not found');
if (!dir) skip("Node's headers not found");
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--directory=native', `--nodedir=${dir}`, '--loglevel=error'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) skip(`node-gyp failed: ${(r.stderr || r.error?.message || '').trim().split('\n').filter(Boolean).pop() ?? 'no message'}`);
console.error('ternlm: native kernels built (native/build/Release/ternlm.node)');
