// The layering of docs/architecture.md, read from every import of src/**/*.ts (type-only and
// dynamic imports included): each folder imports only the folders below it in LAYERS, so there
// are no cycles between folders; io/ reads and writes bytes on top of the core alone; cli/ may
// import everything and nothing imports it; the thread pool stays inside src/core.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import ts from 'typescript';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/**
 * Lowest first, as in docs/architecture.md. eval/ and serve/ are planned (design.md) and have
 * their place already.
 */
const LAYERS = ['core', 'io', 'ops', 'nn', 'heads', 'models', 'data', 'report', 'train', 'infer', 'eval', 'serve', 'cli'];
/** Files directly in src/ are the package's entries (index.ts, node.ts): any layer but cli. */
const ENTRY = '(entry)';

interface Import {
  from: string; // path under src/
  to: string; // path under src/, or the bare specifier of a package or node: module
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function readImports(): Import[] {
  return sourceFiles(SRC).flatMap((file) => {
    const from = relative(SRC, file);
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    return importedFiles.map(({ fileName }) => ({
      from,
      to: fileName.startsWith('.') ? relative(SRC, resolve(dirname(file), fileName)).replace(/\.js$/, '.ts') : fileName,
    }));
  });
}

function folderOf(path: string): string {
  return path.includes('/') ? path.split('/')[0] : ENTRY;
}

describe('layering', () => {
  const imports = readImports();
  const local = imports.filter((i) => !i.to.startsWith('..') && i.to.endsWith('.ts'));
  const crossing = local.filter((i) => folderOf(i.from) !== folderOf(i.to));

  it('reads the imports of every source file', () => {
    assert.ok(imports.length > 100, `only ${imports.length} imports found`);
    assert.ok(local.every((i) => !i.to.startsWith('..')), 'an import leaves src/');
  });

  it('places every folder of src/ in the layer order', () => {
    const folders = new Set(sourceFiles(SRC).map((f) => folderOf(relative(SRC, f))));
    folders.delete(ENTRY);
    const unplaced = [...folders].filter((f) => !LAYERS.includes(f));
    assert.deepEqual(unplaced, [], 'a new folder needs its place in LAYERS and in docs/architecture.md');
  });

  it('imports only from lower layers', () => {
    const wrong = crossing.filter((i) => {
      const from = folderOf(i.from), to = folderOf(i.to);
      if (to === 'cli') return true;
      if (to === ENTRY) return true; // the entries re-export; no layer goes through them
      if (from === ENTRY || from === 'cli') return false;
      return LAYERS.indexOf(to) > LAYERS.indexOf(from);
    });
    assert.deepEqual(wrong.map((i) => `${i.from} imports ${i.to}`), []);
  });

  it('io/ imports only the core', () => {
    const wrong = crossing.filter((i) => folderOf(i.from) === 'io' && folderOf(i.to) !== 'core');
    assert.deepEqual(wrong.map((i) => `${i.from} imports ${i.to}`), []);
  });

  it('has no import cycle between folders', () => {
    const edges = new Map<string, Set<string>>();
    for (const i of crossing) {
      const from = folderOf(i.from);
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from)!.add(folderOf(i.to));
    }
    // Depth-first search; meeting a folder that is still on the path closes a cycle.
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (folder: string, path: string[]): void => {
      if (path.includes(folder)) {
        cycles.push([...path.slice(path.indexOf(folder)), folder].join(' -> '));
        return;
      }
      if (done.has(folder)) return;
      for (const next of edges.get(folder) ?? []) visit(next, [...path, folder]);
      done.add(folder);
    };
    for (const folder of edges.keys()) visit(folder, []);
    assert.deepEqual(cycles, []);
  });

  it('keeps the thread pool inside src/core: kernels are called through the typed bindings', () => {
    const wrong = local.filter((i) => folderOf(i.from) !== 'core' && i.to === 'core/pool.ts');
    assert.deepEqual(wrong.map((i) => `${i.from} imports ${i.to}`), []);
    const callers = sourceFiles(SRC)
      .filter((f) => folderOf(relative(SRC, f)) !== 'core' && /\bkernelPool\b/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    assert.deepEqual(callers, [], 'kernelPool() is for the bindings in src/core/kernels*.ts');
  });
});
