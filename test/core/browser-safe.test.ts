// The package root (`ternlm`) loads in a browser: no module reachable from the built
// dist/src/index.js (nor the pool's worker module) imports a Node built-in or a Node-only
// package, and neither does any module of the training page's scripts (src/serve/web/, which
// esbuild bundles for the browser). core/platform.js is the one exception: it reaches Node through dynamic imports behind
// its isNode checks (and loads the native kernels there with node-gyp-build). Walks the built JavaScript, where type-only imports are gone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const DIST_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
/** The entry, the pool's worker (which the pool starts by URL rather than by import), and the page's scripts. */
const ROOTS = ['index.js', 'core/worker.js', 'serve/web/page.js', 'serve/web/train-worker.js'];
/** Packages of plain JavaScript that run in browsers as they are. */
const BROWSER_PACKAGES = new Set(['gpt-tokenizer', 'vega', 'vega-lite']);
const HOST_MODULE = 'core/platform.js';
/** The Node-only packages the host module loads behind its isNode checks. */
const HOST_PACKAGES = new Set(['node-gyp-build']);

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]);
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Modules reachable from ROOTS (paths under dist/src) and what each imports that a browser lacks. */
function walk(): { reached: Set<string>; problems: string[] } {
  const reached = new Set<string>();
  const problems: string[] = [];
  const queue = [...ROOTS];
  while (queue.length > 0) {
    const module = queue.pop()!;
    if (reached.has(module)) continue;
    reached.add(module);
    const source = readFileSync(join(DIST_SRC, module), 'utf8');
    for (const { fileName } of ts.preProcessFile(source, true, true).importedFiles) {
      if (fileName.startsWith('.')) queue.push(relative(DIST_SRC, resolve(dirname(join(DIST_SRC, module)), fileName)));
      else if (isNodeBuiltin(fileName)) {
        if (module !== HOST_MODULE) problems.push(`${module} imports ${fileName}`);
      } else if (!BROWSER_PACKAGES.has(packageOf(fileName)) && !(module === HOST_MODULE && HOST_PACKAGES.has(packageOf(fileName)))) {
        problems.push(`${module} imports the package ${fileName}`);
      }
    }
  }
  return { reached, problems };
}

describe('browser-safe package root', () => {
  const { reached, problems } = walk();

  it('reaches the core, the models and the inference engines', () => {
    for (const m of ['core/runtime.js', 'core/kernels.js', 'models/flashlm.js', 'infer/llama.js', 'infer/generate.js']) {
      assert.ok(reached.has(m), `${m} is not reachable from index.js`);
    }
  });

  it('imports no Node built-in and no Node-only package', () => {
    assert.deepEqual(problems, []);
  });

  it('reaches Node from core/platform.js only through dynamic imports', () => {
    const source = readFileSync(join(DIST_SRC, HOST_MODULE), 'utf8');
    assert.doesNotMatch(source, /^\s*(import|export)\b[^;]*?\bfrom\s*['"]node:/m);
    assert.doesNotMatch(source, /^\s*import\s*['"]node:/m);
  });

  it('leaves the Node-only parts to ternlm/node', () => {
    for (const m of ['node.js', 'data/tokenizer.js', 'train/trainer.js', 'io/safetensors.js', 'infer/load.js']) {
      assert.ok(!reached.has(m), `${m} is reachable from index.js`);
    }
  });
});
