// The package root in a real browser: headless Chromium imports the built entry
// dist/src/index.js (what `import ... from 'ternlm'` loads) from a local server (cross-origin
// isolated, so SharedArrayBuffer and shared wasm memory are allowed), starts a 2-thread pool of
// Web Workers and checks kernels, a training step and the GPT-2 tokenizer against references.
// Skips when no Chromium is installed (`apt-get install chromium`).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

// A bundler resolves the package's own dependencies; this page maps the two modules it imports.
const IMPORT_MAP = {
  imports: {
    'gpt-tokenizer/encoding/r50k_base': '/node_modules/gpt-tokenizer/esm/encoding/r50k_base.js',
    'gpt-tokenizer/bpeRanks/r50k_base': '/node_modules/gpt-tokenizer/esm/bpeRanks/r50k_base.js',
  },
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>ternlm</title><pre id="out">running</pre>
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<script type="module">
import { initRuntime, rt, kernels as K, Tensor, scope, backward, Rng, ops, Gpt2Tokenizer } from '/dist/src/index.js';
const out = document.getElementById('out');
try {
  await initRuntime({ threads: 2 });
  const rng = new Rng(3);
  const M = 70, N = 50, Kd = 90;
  const A = Float32Array.from({ length: M * Kd }, () => rng.normal());
  const B = Float32Array.from({ length: Kd * N }, () => rng.normal());
  const a = Tensor.from(A, [M, Kd]), b = Tensor.from(B, [Kd, N]), c = Tensor.empty([M, N]);
  K.matmul(M, N, Kd, a.ptr, false, b.ptr, false, c.ptr, false);
  let gemmErr = 0;
  const cv = c.f32();
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < Kd; k++) s += A[i * Kd + k] * B[k * N + j];
    gemmErr = Math.max(gemmErr, Math.abs(s - cv[i * N + j]));
  }
  // A big elementwise op is split over both threads of the pool.
  const n = 1 << 20;
  const x = Tensor.from(Float32Array.from({ length: n }, (_, i) => (i % 7) - 3), [n]);
  const y = Tensor.empty([n]);
  K.unaryForward('relu', x.ptr, y.ptr, n);
  const reluSum = K.reduce('sum', y.ptr, n);
  let reluRef = 0;
  for (let i = 0; i < n; i++) reluRef += Math.max(0, (i % 7) - 3);
  // One gradient through a ternary layer.
  const W = Tensor.from(Float32Array.from({ length: 8 * 64 }, () => rng.normal()), [8, 64]);
  W.requiresGrad = true; W.isParam = true;
  const xin = Tensor.from(Float32Array.from({ length: 4 * 64 }, () => rng.normal()), [4, 64]);
  scope(() => backward(ops.sum(ops.ternaryLinear(xin, W, { quantizeActivations: true }))));
  const tokenizer = new Gpt2Tokenizer();
  const ids = tokenizer.encode('Hello world');
  out.textContent = JSON.stringify({ ok: true, threads: rt().threads, build: rt().build, isolated: crossOriginIsolated,
    gemmErr, reluSum, reluRef, gradFinite: W.grad.toArray().every(Number.isFinite), ids, text: tokenizer.decode(ids) });
} catch (err) {
  out.textContent = JSON.stringify({ ok: false, error: String(err && err.stack || err) });
}
</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

describe('the package root in a browser (headless Chromium)', { skip: CHROMIUM ? false : 'no Chromium installed (apt-get install chromium)' }, () => {
  let server: Server;
  let port = 0;

  before(async () => {
    server = createServer((req, res) => {
      const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/') {
        res.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
        res.end(PAGE);
        return;
      }
      const path = normalize(join(ROOT, url.pathname));
      if (!path.startsWith(ROOT) || !existsSync(path)) {
        res.writeHead(404, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream' });
      res.end(readFileSync(path));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  it('imports ternlm, runs the kernels on a 2-worker pool, a ternary backward pass and the GPT-2 tokenizer', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => document.getElementById('out')?.textContent !== 'running', undefined, { timeout: 60_000 });
      const result = JSON.parse((await page.textContent('#out')) ?? '{}');
      assert.equal(result.ok, true, result.error);
      assert.equal(result.isolated, true);
      assert.equal(result.threads, 2);
      assert.ok(result.gemmErr < 1e-3, `GEMM error ${result.gemmErr}`);
      assert.equal(result.reluSum, result.reluRef);
      assert.equal(result.gradFinite, true);
      assert.deepEqual(result.ids, [15496, 995]);
      assert.equal(result.text, 'Hello world');
    } finally {
      await browser.close();
    }
  });
});
