// The files of the in-browser training page that `ternlm serve` sends: the bundle in dist/web/
// (scripts/build-web.mjs) at the site's root, and the wasm kernels from build/ at /build/. Every
// answer carries the cross-origin-isolation headers that shared wasm memory needs. Only names
// of those two flat folders are served (letters, digits, dots, dashes), so no path leaves them.
import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root, from dist/src/serve/page.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WEB_DIR = join(ROOT, 'dist/web');
const WASM_DIR = join(ROOT, 'build');

const ISOLATION_HEADERS = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** The file a page path names (`/` is index.html), or null when it names none of the page's files. */
export function pageFile(path: string): string | null {
  if (path === '/') return join(WEB_DIR, 'index.html');
  const asset = /^\/([\w-]+\.js)$/.exec(path);
  if (asset) return join(WEB_DIR, asset[1]);
  const wasm = /^\/build\/(kernels-[\w-]+\.wasm)$/.exec(path);
  if (wasm) return join(WASM_DIR, wasm[1]);
  return null;
}

/** Send a page file with its type and the isolation headers; 404 with a line saying why when it is missing. */
export function sendPageFile(res: ServerResponse, file: string): void {
  if (!existsSync(file)) {
    const why = file.startsWith(WEB_DIR) ? 'the page is not built — run `npm run build`' : 'no such file';
    res.writeHead(404, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${why}\n`);
    return;
  }
  const body = readFileSync(file);
  res.writeHead(200, {
    ...ISOLATION_HEADERS,
    'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
  });
  res.end(body);
}
