// Runs and checkpoints through the real CLI, as a careless or unlucky user meets them: every
// refusal exits 1 with one line naming the problem and the way out, and changes nothing on disk.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { writeDemoCorpus } from '../../src/data/stories.js';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.js';
import { CLI, assertRefused, snapshotTree, ternlm } from './run-cli.js';

const TINY = ['--set', 'model.dim=32', '--set', 'model.layers=2', '--set', 'model.dilations=[1,4]', '--set', 'model.contextLength=32',
  '--set', 'seqLen=32', '--set', 'curriculum=[]', '--set', 'batchSize=4', '--set', 'logEvery=5', '--set', 'evalBatches=2',
  '--set', 'sampleTokens=4', '--set', 'report=false', '--threads', '1'];

/** Flip one byte at `offsetFromEnd` bytes before the end of the file (inside the last tensor's data). */
function flipByte(path: string, offsetFromEnd: number): void {
  const bytes = readFileSync(path);
  bytes[bytes.length - offsetFromEnd] ^= 0x10;
  writeFileSync(path, bytes);
}

/** The name of the tensor stored last in a safetensors file. */
function lastTensor(path: string): string {
  const f = openSafetensors(path);
  try {
    return f.tensors[f.tensors.length - 1].name;
  } finally {
    f.close();
  }
}

describe('runs and checkpoints through the CLI', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-runs-'));
  const data = join(root, 'data');
  const otherData = join(root, 'other-data');
  const train = (out: string, ...args: string[]) => ternlm(['train', '--data', data, '--out', out, ...TINY, ...args]);

  before(async () => {
    await initRuntime({ threads: 1 });
    const corpus = writeDemoCorpus(join(root, 'corpus'), { stories: 400, seed: 4 });
    const otherCorpus = writeDemoCorpus(join(root, 'other-corpus'), { stories: 400, seed: 9 });
    for (const [c, tok, out] of [[corpus.path, 'tok.json', data], [otherCorpus.path, 'other-tok.json', otherData]]) {
      const t = await ternlm(['tokenizer', 'train', '--input', c, '--vocab', '300', '--out', join(root, tok)]);
      assert.equal(t.code, 0, t.stderr);
      const p = await ternlm(['prepare', '--input', c, '--tokenizer', join(root, tok), '--out', out, '--val-fraction', '0.05']);
      assert.equal(p.code, 0, p.stderr);
    }
  });

  it('refuses to train into a folder that holds a run unless --resume or --overwrite; --overwrite starts afresh', async () => {
    const out = join(root, 'existing');
    const first = await train(out, '--steps', '10');
    assert.equal(first.code, 0, first.stderr);
    const before = snapshotTree(out);
    assertRefused(await train(out, '--steps', '10'), /already holds a training run .* --resume, or start again with --overwrite/);
    assert.deepEqual(snapshotTree(out), before);
    const again = await train(out, '--steps', '15', '--overwrite');
    assert.equal(again.code, 0, again.stderr);
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'train').map((m) => m.step);
    assert.deepEqual(steps, [5, 10, 15], 'metrics.jsonl holds only the new run');
  });

  it('a second process training into the same folder is refused; a lock left by a killed process is taken over', async () => {
    const out = join(root, 'locked');
    const child = spawn(process.execPath, [CLI, 'train', '--data', data, '--out', out, ...TINY, '--steps', '1000000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const closed = new Promise((resolve) => child.on('close', resolve));
    try {
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (d) => {
          stderr += d;
          if (/^training /m.test(stderr)) resolve();
        });
        child.on('close', () => reject(new Error(`the first run ended early:\n${stderr}`)));
      });
      // The live run keeps appending to its logs; the refused one must not touch the lock or the config.
      const lockAndConfig = (): string[] => [...snapshotTree(out)].filter(([p]) => /train\.lock|config\.json/.test(p)).map(([p, h]) => `${p} ${h}`);
      const before = lockAndConfig();
      assertRefused(await train(out, '--steps', '10', '--resume'), new RegExp(`in use: ternlm train \\(pid ${child.pid}, started .*\\) is training into it`));
      assert.deepEqual(lockAndConfig(), before);
    } finally {
      child.kill('SIGKILL');
      await closed;
    }
    assert.ok(existsSync(join(out, 'train.lock')), 'a killed process leaves its lock');
    // A lock whose pid now belongs to another program (a reboot, pid reuse) is stale too.
    const lock = JSON.parse(readFileSync(join(out, 'train.lock'), 'utf8'));
    writeFileSync(join(out, 'train.lock'), JSON.stringify({ ...lock, pid: process.pid }));
    const reused = await train(out, '--steps', '5', '--resume');
    assert.equal(reused.code, 0, reused.stderr);
    assert.match(reused.stderr, new RegExp(`taking over the lock .* left by pid ${process.pid}`));
    writeFileSync(join(out, 'train.lock'), JSON.stringify(lock));
    const taken = await train(out, '--steps', '10', '--resume');
    assert.equal(taken.code, 0, taken.stderr);
    assert.match(taken.stderr, new RegExp(`taking over the lock .* left by pid ${child.pid}`));
    assert.ok(!existsSync(join(out, 'train.lock')), 'the lock is released at the end');
  });

  it('a damaged checkpoint is refused by eval and export, naming the tensor; --resume falls back to the previous checkpoint', async () => {
    const out = join(root, 'damaged');
    assert.equal((await train(out, '--steps', '10')).code, 0);
    const resumed = await train(out, '--steps', '20', '--resume');
    assert.equal(resumed.code, 0, resumed.stderr);
    const ckpt = join(out, 'ckpt.safetensors');
    assert.ok(existsSync(join(out, 'ckpt.prev.safetensors')), 'the previous checkpoint is kept');
    const damagedTensor = lastTensor(ckpt);
    flipByte(ckpt, 3);
    const before = snapshotTree(root);
    const bad = new RegExp(`damaged: tensor '${damagedTensor.replace(/\./g, '\\.')}' does not match the checksum`);
    assertRefused(await ternlm(['eval', '--model', ckpt, '--data', data, '--threads', '1']), bad);
    assertRefused(await ternlm(['export', '--model', ckpt, '--out', join(root, 'never.safetensors')]), bad);
    assert.deepEqual(snapshotTree(root), before);
    const fallback = await train(out, '--steps', '25', '--resume');
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.match(fallback.stderr, /warning: .* is damaged: tensor .*; resuming from the previous checkpoint .*ckpt\.prev\.safetensors \(step 10\)/);
    assert.match(fallback.stderr, /resumed .*ckpt\.prev\.safetensors at step 10/);
    assert.match(fallback.stderr, /done: 25 steps/);
  });

  it('a flipped byte in an exported model is refused by generate', async () => {
    const out = join(root, 'exported');
    assert.equal((await train(out, '--steps', '5')).code, 0);
    const model = join(root, 'model.safetensors');
    const ex = await ternlm(['export', '--model', join(out, 'ckpt.safetensors'), '--out', model]);
    assert.equal(ex.code, 0, ex.stderr);
    flipByte(model, 2);
    assertRefused(await ternlm(['generate', '--model', model, '--prompt', 'the', '--max-tokens', '4', '--threads', '1']), /is damaged: tensor '.*' does not match the checksum/);
  });

  it('non-finite weights are refused at load, naming the tensor', async () => {
    const out = join(root, 'nonfinite');
    assert.equal((await train(out, '--steps', '5')).code, 0);
    const ckpt = join(out, 'ckpt.safetensors');
    // Rewrite the checkpoint with valid checksums but a NaN in one parameter.
    const f = openSafetensors(ckpt);
    const tensors: TensorToWrite[] = f.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: f.read(t.name).data }));
    const metadata = { ...f.metadata };
    f.close();
    const target = tensors.find((t) => t.name.startsWith('param.'))!;
    new Float32Array(target.data.buffer, target.data.byteOffset, 4)[1] = NaN;
    writeSafetensors(ckpt, tensors, metadata);
    const before = snapshotTree(root);
    const pattern = new RegExp(`tensor '${target.name.replace(/\./g, '\\.')}' holds non-finite values`);
    assertRefused(await ternlm(['eval', '--model', ckpt, '--data', data, '--threads', '1']), pattern);
    assertRefused(await ternlm(['export', '--model', ckpt, '--out', join(root, 'never.safetensors')]), pattern);
    assert.deepEqual(snapshotTree(root), before);
  });

  it('a temp file left by a killed save is removed at the next start', async () => {
    const out = join(root, 'temps');
    assert.equal((await train(out, '--steps', '5')).code, 0);
    const stale = join(out, '.ckpt.safetensors.4194000.1700000000000.tmp');
    writeFileSync(stale, new Uint8Array(1000));
    const r = await train(out, '--steps', '10', '--resume');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(stale), 'stale temp removed');
    assert.match(r.stderr, /removed .*\.tmp, left by a save that was interrupted/);
    assert.deepEqual(readdirSync(out).filter((n) => n.endsWith('.tmp')), []);
  });

  it('resume and eval refuse data prepared with a different tokenizer of the same vocabulary size', async () => {
    const out = join(root, 'fingerprint');
    assert.equal((await train(out, '--steps', '5')).code, 0);
    const before = snapshotTree(root);
    assertRefused(await ternlm(['train', '--data', otherData, '--out', out, ...TINY, '--steps', '10', '--resume']),
      /trained on tokens of a different tokenizer than .*other-data \(fingerprint [0-9a-f]+, the data's [0-9a-f]+\) — resume on the data it was trained on/);
    assertRefused(await ternlm(['eval', '--model', join(out, 'ckpt.safetensors'), '--data', otherData, '--threads', '1']),
      /other-data was tokenized by a different tokenizer than the model's/);
    assert.deepEqual(snapshotTree(root), before);
    const same = await ternlm(['eval', '--model', join(out, 'ckpt.safetensors'), '--data', data, '--threads', '1']);
    assert.equal(same.code, 0, same.stderr);
  });

  it('tokenizer train and export create the folder of --out', async () => {
    const out = join(root, 'nested-out');
    assert.equal((await train(out, '--steps', '5')).code, 0);
    const tok = join(root, 'new-tok', 'deeper', 'tok.json');
    const t = await ternlm(['tokenizer', 'train', '--input', join(root, 'corpus'), '--vocab', '300', '--out', tok]);
    assert.equal(t.code, 0, t.stderr);
    assert.ok(existsSync(tok));
    const model = join(root, 'new-models', 'a', 'model.safetensors');
    const ex = await ternlm(['export', '--model', join(out, 'ckpt.safetensors'), '--out', model]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(existsSync(model));
  });

  it('eval refuses a text file that is not UTF-8', async () => {
    const out = join(root, 'utf8');
    assert.equal((await train(out, '--steps', '5')).code, 0);
    const file = join(root, 'latin1.txt');
    writeFileSync(file, Buffer.from('caf\xe9 au lait\n', 'latin1'));
    assertRefused(await ternlm(['eval', '--model', join(out, 'ckpt.safetensors'), '--text', file, '--threads', '1']), /latin1\.txt is not valid UTF-8 at byte 3 — convert it to UTF-8/);
  });
});
