// Compile assembly/ into the two kernel builds: baseline SIMD128 and relaxed SIMD (FMA).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
mkdirSync(join(root, 'build'), { recursive: true });

const common = [
  'assembly/index.ts', '--runtime', 'stub', '-O3', '--noAssert', '--uncheckedBehavior', 'always',
  '--importMemory', '--sharedMemory', '--initialMemory', '32', '--maximumMemory', '65536',
  '--enable', 'simd', '--enable', 'threads',
];
for (const [name, extra] of [['base', []], ['relaxed', ['--enable', 'relaxed-simd']]]) {
  const out = `build/kernels-${name}.wasm`;
  execFileSync(process.execPath, [asc, ...common, ...extra, '-o', out], { cwd: root, stdio: 'inherit' });
  console.log(`built ${out}`);
}
