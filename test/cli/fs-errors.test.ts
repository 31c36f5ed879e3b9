// File-system failures through the real CLI: one line naming the path and the cause, no stack
// trace, nothing written, and no endless folder creation under /proc. (Tests run as root, where
// chmod does not stop writes, so the failures come from /proc, /sys, files used as folders and
// folders used as files.)
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertRefused, snapshotTree, ternlm } from './run-cli.js';
import { prepareTinyDataset, TINY_MODEL } from './tiny-data.js';

const root = mkdtempSync(join(tmpdir(), 'ternlm-fs-'));
const aFile = join(root, 'a-file.txt');
const aFolder = join(root, 'a-folder');
let corpus = '', tok = '', data = '';
/** Refusals must come at once; past this the child is killed and the test fails. */
const TIMEOUT_MS = 20_000;
const FAST_MS = 10_000;

before(async () => {
  ({ corpus, tokenizer: tok, data } = await prepareTinyDataset(root, 5));
  writeFileSync(aFile, 'not a folder\n');
  mkdirSync(aFolder);
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Run `args` with a time limit; it must be refused quickly, matching `pattern`, with nothing under root changed. */
async function refusedFast(args: string[], pattern: RegExp): Promise<void> {
  const before = snapshotTree(root);
  const started = performance.now();
  const r = await ternlm(args, { timeoutMs: TIMEOUT_MS });
  const ms = performance.now() - started;
  assert.notEqual(r.signal, 'SIGKILL', `still running after ${TIMEOUT_MS} ms: ${args.join(' ')}`);
  assert.ok(ms < FAST_MS, `took ${ms.toFixed(0)} ms`);
  assertRefused(r, pattern);
  assert.deepEqual(snapshotTree(root), before, 'the files under the test folder changed');
}

describe('folders that cannot be created', () => {
  const proc = /^Error: cannot create folder \/proc\/ternlm-x: this file system does not allow new folders here \(ENOENT\)$/;
  it('train --out under /proc, with --data', () =>
    refusedFast(['train', '--data', data, '--out', '/proc/ternlm-x/run', '--steps', '1', '--threads', '1', ...TINY_MODEL], proc));
  it('train --out under /proc, on the built-in corpus', () =>
    refusedFast(['train', '--out', '/proc/ternlm-x/run', '--steps', '1', '--threads', '1'], proc));
  it('prepare --out under /proc', () =>
    refusedFast(['prepare', '--input', corpus, '--tokenizer', tok, '--out', '/proc/ternlm-x/data'], proc));
  it('prepare --out under /sys', () =>
    refusedFast(['prepare', '--input', corpus, '--tokenizer', tok, '--out', '/sys/ternlm-x/data'], /^Error: cannot create folder \/sys\/ternlm-x: operation not permitted \(EPERM\)$/));
  it('a file used as a folder (ENOTDIR)', async () => {
    await refusedFast(['prepare', '--input', corpus, '--tokenizer', tok, '--out', join(aFile, 'data')],
      new RegExp(`^Error: cannot create folder ${aFile}/data: ${aFile} is a file, not a folder \\(ENOTDIR\\)$`));
    await refusedFast(['train', '--data', data, '--out', join(aFile, 'run'), '--steps', '1', '--threads', '1', ...TINY_MODEL], /is a file, not a folder \(ENOTDIR\)$/);
  });
});

describe('files that cannot be written', () => {
  it('a folder where a file is expected (EISDIR), refused before the work', () =>
    refusedFast(['tokenizer', 'train', '--input', corpus, '--vocab', '300', '--out', aFolder], new RegExp(`^Error: cannot write ${aFolder}: it is a folder, not a file \\(EISDIR\\)$`)));
  it('a file inside a file (ENOTDIR)', () =>
    refusedFast(['tokenizer', 'train', '--input', corpus, '--vocab', '300', '--out', join(aFile, 'tok.json')], /is a file, not a folder \(ENOTDIR\)$/));
  it('any other file-system error is one line from its code, syscall and path (main.ts)', () =>
    refusedFast(['tokenizer', 'train', '--input', corpus, '--vocab', '300', '--out', '/proc/ternlm-tok.json'], /^Error: cannot open \/proc\/\S+: no such file or folder \(ENOENT\)$/));
});
