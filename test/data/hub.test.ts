import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { TernlmError } from '../../src/core/errors.js';
import { downloadDataset, listDatasetFiles, selectFiles } from '../../src/data/hub.js';
import { tempDir } from './fixtures.js';

const PARQUET = Buffer.from(parquetWriteBuffer({ columnData: [{ name: 'text', data: Array.from({ length: 300 }, (_, i) => `story number ${i} about a kind dragon`), type: 'STRING' }] }));
const README = Buffer.from('# tiny test dataset\n');
const TEST_SPLIT = Buffer.from('not used');
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const gitOid = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

const FILES: Record<string, Buffer> = { 'data/train-00000-of-00001.parquet': PARQUET, 'README.md': README, 'data/test-00000-of-00001.parquet': TEST_SPLIT };

/** What the fake hub does with the next file request. */
let mode: 'normal' | 'cut-once' | 'corrupt' = 'normal';
const requests: { url: string; range?: string; auth?: string }[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  requests.push({ url: req.url!, range: req.headers.range, auth: req.headers.authorization });
  if (url.pathname === '/api/datasets/acme/tiny/tree/main') {
    // Two pages, the second reached through the Link header as on the real hub.
    const page2 = url.searchParams.get('cursor') === '2';
    const entries = page2
      ? [{ type: 'file', path: 'data/test-00000-of-00001.parquet', size: TEST_SPLIT.length, oid: gitOid(TEST_SPLIT) }]
      : [
          { type: 'directory', path: 'data', oid: 'x', size: 0 },
          { type: 'file', path: 'README.md', size: README.length, oid: gitOid(README) },
          { type: 'file', path: 'data/train-00000-of-00001.parquet', size: PARQUET.length, oid: 'ignored', lfs: { oid: sha256(PARQUET), size: PARQUET.length } },
        ];
    if (!page2) res.setHeader('link', `<http://${req.headers.host}/api/datasets/acme/tiny/tree/main?recursive=true&cursor=2>; rel="next"`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(entries));
    return;
  }
  const prefix = '/datasets/acme/tiny/resolve/main/';
  const body = url.pathname.startsWith(prefix) ? FILES[decodeURIComponent(url.pathname.slice(prefix.length))] : undefined;
  if (!body) {
    res.statusCode = 404;
    res.end('not found');
    return;
  }
  let data = mode === 'corrupt' ? Buffer.from(body).fill(0x41, 100, 110) : body;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (m) {
    const start = Number(m[1]);
    res.statusCode = 206;
    res.setHeader('content-range', `bytes ${start}-${data.length - 1}/${data.length}`);
    data = data.subarray(start);
  }
  res.setHeader('content-length', data.length);
  if (mode === 'cut-once') {
    mode = 'normal';
    res.write(data.subarray(0, data.length >> 1), () => res.destroy());
    return;
  }
  res.end(data);
}

describe('hub download (local server)', () => {
  let server: Server;
  let endpoint = '';
  before(async () => {
    server = createServer(handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('lists all pages and selects by split or glob', async () => {
    const files = await listDatasetFiles('acme/tiny', { endpoint });
    assert.deepEqual(files.map((f) => f.path), ['README.md', 'data/train-00000-of-00001.parquet', 'data/test-00000-of-00001.parquet']);
    assert.equal(files[1].sha256, sha256(PARQUET));
    assert.deepEqual(selectFiles(files, { split: 'train' }).map((f) => f.path), ['data/train-00000-of-00001.parquet']);
    assert.deepEqual(selectFiles(files, { glob: 'data/*.parquet' }).length, 2);
    assert.deepEqual(selectFiles(files, { split: 'tr' }), []);
  });

  it('downloads the train split, verifies sha256, sends the token', async () => {
    const { dir, cleanup } = tempDir();
    try {
      requests.length = 0;
      const r = await downloadDataset('acme/tiny', { endpoint, token: 'secret', split: 'train', outDir: dir });
      assert.deepEqual([r.downloaded, r.skipped], [1, 0]);
      const path = join(dir, 'data', 'train-00000-of-00001.parquet');
      const got = readFileSync(path);
      assert.deepEqual(got, PARQUET);
      assert.equal(Number(parquetMetadata(got.buffer.slice(got.byteOffset, got.byteOffset + got.length)).num_rows), 300);
      assert.ok(requests.every((q) => q.auth === 'Bearer secret'));
      assert.ok(!existsSync(`${path}.part`));
      const again = await downloadDataset('acme/tiny', { endpoint, split: 'train', outDir: dir });
      assert.deepEqual([again.downloaded, again.skipped], [0, 1]);
      // A git-stored file is checked against its git blob sha1.
      await downloadDataset('acme/tiny', { endpoint, glob: 'README.md', outDir: dir });
      assert.deepEqual(readFileSync(join(dir, 'README.md')), README);
    } finally {
      cleanup();
    }
  });

  it('resumes from a .part file left by an interrupted run, with an HTTP Range request', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'data', 'train-00000-of-00001.parquet');
      mkdirSync(join(dir, 'data'));
      const half = PARQUET.length >> 1;
      writeFileSync(`${path}.part`, PARQUET.subarray(0, half));
      requests.length = 0;
      await downloadDataset('acme/tiny', { endpoint, split: 'train', outDir: dir });
      assert.deepEqual(readFileSync(path), PARQUET);
      assert.equal(requests.find((q) => q.url.includes('/resolve/'))?.range, `bytes=${half}-`);
    } finally {
      cleanup();
    }
  });

  it('retries a connection cut mid-body and resumes where it stopped', async () => {
    const { dir, cleanup } = tempDir();
    try {
      mode = 'cut-once';
      requests.length = 0;
      await downloadDataset('acme/tiny', { endpoint, split: 'train', outDir: dir });
      assert.deepEqual(readFileSync(join(dir, 'data', 'train-00000-of-00001.parquet')), PARQUET);
      const fileRequests = requests.filter((q) => q.url.includes('/resolve/'));
      assert.equal(fileRequests.length, 2);
      assert.match(fileRequests[1].range ?? '', /^bytes=[1-9]\d*-$/);
    } finally {
      mode = 'normal';
      cleanup();
    }
  });

  it('deletes a download whose checksum does not match and says so', async () => {
    const { dir, cleanup } = tempDir();
    try {
      mode = 'corrupt';
      const path = join(dir, 'data', 'train-00000-of-00001.parquet');
      await assert.rejects(downloadDataset('acme/tiny', { endpoint, split: 'train', outDir: dir }), (e: Error) => e instanceof TernlmError && /checksum mismatch for data\/train-00000-of-00001\.parquet: expected sha256/.test(e.message));
      assert.ok(!existsSync(path) && !existsSync(`${path}.part`));
    } finally {
      mode = 'normal';
      cleanup();
    }
  });

  it('reports unknown datasets and empty selections clearly', async () => {
    await assert.rejects(listDatasetFiles('acme/nope', { endpoint }), /HTTP 404 — check the dataset name/);
    await assert.rejects(downloadDataset('acme/tiny', { endpoint, split: 'validation', outDir: '/nonexistent' }), /no files of acme\/tiny match split 'validation'/);
    await assert.rejects(listDatasetFiles('not a repo', { endpoint }), /is not a dataset name/);
  });
});
