// Prebuilt native kernels: scripts/prebuild.mjs puts the built addon where node-gyp-build looks
// for this platform's binary, and the runtime's loader finds it there when no local build exists
// (a user without a C compiler). Skips where the addon is not built.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAvailable, type NativeAddon } from '../../src/core/native.js';
import { loadNativeAddon } from '../../src/core/platform.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const skip = (await nativeAvailable()) ? false : "the native kernels are not built — run `npm run build:native` (needs a C compiler and Node's headers)";

describe('prebuilt native kernels', { skip }, () => {
  it('are written for this platform and load without a local build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-prebuild-'));
    try {
      const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'prebuild.mjs'), '--dir', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const tuple = `${process.platform}-${process.arch}`;
      assert.deepEqual(readdirSync(join(dir, 'prebuilds')), [tuple]);
      assert.match(readdirSync(join(dir, 'prebuilds', tuple))[0], /^ternlm\.napi(\.glibc|\.musl)?\.node$/);
      // The folder holds no build/Release, so the binary found is the prebuilt one.
      const addon = (await loadNativeAddon(dir)) as NativeAddon;
      const local = (await loadNativeAddon()) as NativeAddon;
      assert.deepEqual(Object.keys(addon.kernels).sort(), Object.keys(local.kernels).sort());
      assert.equal(addon.isa(), local.isa());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are none where the folder has neither a build nor a prebuilt binary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ternlm-prebuild-'));
    try {
      assert.equal(await loadNativeAddon(dir), null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
