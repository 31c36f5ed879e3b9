// `ternlm serve` without a model: the training page's files with the cross-origin-isolation
// headers and their content types, nothing outside the page's folders, and the API saying
// how to start the server with a model.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ModelServer } from '../../src/serve/server.js';

/** GET `path` as it is written (fetch would resolve the dots away). */
function get(port: number, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('latin1').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    }).on('error', reject).end();
  });
}

describe('ternlm serve without a model', { skip: existsSync(new URL('../../web/index.html', import.meta.url)) ? false : 'the page is not built (npm run build)' }, () => {
  const server = new ModelServer({});
  let port = 0;
  before(async () => {
    port = (await server.listen(0, '127.0.0.1')).port;
  });
  after(() => server.shutdown());

  it('serves the page, its scripts and the wasm kernels, cross-origin isolated, with their types', async () => {
    for (const [path, type] of [['/', 'text/html'], ['/page.js', 'text/javascript'], ['/train-worker.js', 'text/javascript'], ['/worker.js', 'text/javascript'], ['/build/kernels-base.wasm', 'application/wasm']]) {
      const r = await get(port, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', path);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp', path);
      assert.match(String(r.headers['content-type']), new RegExp(`^${type}`), path);
    }
    assert.match((await get(port, '/')).body, /<script type="module" src="page.js">/);
    assert.equal((await get(port, '/build/kernels-base.wasm')).body.slice(0, 4), '\0asm');
  });

  it('serves nothing outside the page and the kernels', async () => {
    for (const path of ['/../package.json', '/..%2fpackage.json', '/build/../package.json', '/%2e%2e/package.json', '/src/index.js', '/missing.js', '/build/kernels-none.wasm']) {
      const r = await get(port, path);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(r.body, /"name": "ternlm"/, path);
    }
  });

  it('lists no model and answers generation requests with an error that says to start with --model', async () => {
    const models = await fetch(`http://127.0.0.1:${port}/v1/models`).then((r) => r.json());
    assert.deepEqual(models, { object: 'list', data: [] });
    const health = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.json());
    assert.equal(health.model, null);
    for (const path of ['/v1/completions', '/v1/chat/completions']) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: JSON.stringify({ prompt: 'Hi', messages: [{ role: 'user', content: 'Hi' }] }) });
      assert.equal(r.status, 404);
      const { error } = await r.json();
      assert.equal(error.code, 'model_not_found');
      assert.match(error.message, /no model — start it with `ternlm serve --model <file>`/);
    }
  });
});
