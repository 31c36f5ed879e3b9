// llm.c interop through the CLI: a GPT-2 run exports llm.c's model, tokenizer and token shards,
// a new run starts from the exported model, and every misuse is one clear line.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readSplitTokens } from '../../src/data/split-tokens.js';
import { readLlmcGpt2, readLlmcTokenizer, readLlmcTokens } from '../../src/io/llmc.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { assertRefused, ternlm } from './run-cli.js';
import { prepareTinyDataset } from './tiny-data.js';

const SMALL_GPT2 = ['--config', 'gpt2-4m', '--set', 'model.dim=16', '--set', 'model.heads=2', '--set', 'model.layers=1', '--set', 'model.contextLength=32',
  '--set', 'seqLen=32', '--set', 'batchSize=4', '--set', 'report=false'];

describe('llm.c files through the CLI', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-llmc-cli-'));
  let data = '';
  let ckpt = '';

  before(async () => {
    ({ data } = await prepareTinyDataset(root, 4));
    const r = await ternlm(['train', ...SMALL_GPT2, '--data', data, '--out', join(root, 'run'), '--steps', '3']);
    assert.equal(r.code, 0, r.stderr);
    ckpt = join(root, 'run', 'ckpt.safetensors');
  });

  it('export --format llmc writes the model, its tokenizer and the data as llm.c reads them; --init-from starts a run at those weights', async () => {
    const bin = join(root, 'llmc', 'tiny.bin');
    const r = await ternlm(['export', '--model', ckpt, '--format', 'llmc', '--out', bin, '--data', data]);
    assert.equal(r.code, 0, r.stderr);
    const ck = readLlmcGpt2(bin);
    assert.deepEqual({ ...ck.shape }, { maxSeqLen: 32, vocabSize: 300, paddedVocabSize: 384, layers: 1, heads: 2, channels: 16 });
    const trained = openSafetensors(ckpt);
    assert.deepEqual(ck.tensors.get('blocks.0.attn.qkv.weight')!.data, trained.readF32('param.blocks.0.attn.qkv.weight'));
    trained.close();
    const tok = readLlmcTokenizer(join(root, 'llmc', 'tiny_tokenizer.bin'));
    assert.equal(tok.tokens.length, 300);
    for (const split of ['train', 'val'] as const) {
      assert.deepEqual(Array.from(readLlmcTokens(join(root, 'llmc', `tiny_${split}_000000.bin`))), Array.from(readSplitTokens(data, split, Infinity)));
    }

    const started = await ternlm(['train', '--init-from', bin, '--data', data, '--out', join(root, 'from-llmc'), '--steps', '1',
      '--set', 'seqLen=32', '--set', 'batchSize=4', '--set', 'report=false', '--set', 'lr=1e-9', '--set', 'warmupSteps=0']);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stderr, /weights: .*tiny\.bin \(llm\.c GPT-2 checkpoint\)/);
    const f = openSafetensors(join(root, 'from-llmc', 'ckpt.safetensors'));
    const w = f.readF32('param.blocks.0.mlp.fc.weight'), want = ck.tensors.get('blocks.0.mlp.fc.weight')!.data;
    f.close();
    assert.ok(w.every((v, i) => Math.abs(v - want[i]) < 1e-6), 'the new run starts at the llm.c weights');
  });

  it('refuses what cannot work, in one line', async () => {
    const notLlmc = join(root, 'not-llmc.bin');
    writeFileSync(notLlmc, Buffer.alloc(2048, 7));
    assertRefused(await ternlm(['train', '--init-from', notLlmc, '--data', data, '--out', join(root, 'x'), '--steps', '1']), /is not an llm\.c GPT-2 checkpoint \(magic/);
    assertRefused(await ternlm(['train', '--init-from', notLlmc, '--resume', '--out', join(root, 'x')]), /--init-from starts a new run .* --resume continues/);
    assertRefused(await ternlm(['export', '--model', ckpt, '--format', 'llmc', '--out', join(root, 'x.safetensors')]), /names llm\.c's \.bin checkpoint/);
    assertRefused(await ternlm(['export', '--model', ckpt, '--format', 'gguf', '--out', join(root, 'x.bin')]), /--format must be ternlm .* or llmc/);
    assertRefused(await ternlm(['export', '--model', ckpt, '--format', 'llmc', '--float', 'f16', '--out', join(root, 'x.bin')]), /--float must be f32 or bf16 for --format llmc/);

    const bitnet = await ternlm(['train', '--config', 'bitnet-4m', '--set', 'model.dim=16', '--set', 'model.heads=2', '--set', 'model.kvHeads=1', '--set', 'model.layers=1',
      '--set', 'model.contextLength=32', '--set', 'seqLen=32', '--set', 'batchSize=4', '--set', 'report=false', '--data', data, '--out', join(root, 'bitnet'), '--steps', '1']);
    assert.equal(bitnet.code, 0, bitnet.stderr);
    assertRefused(await ternlm(['export', '--model', join(root, 'bitnet', 'ckpt.safetensors'), '--format', 'llmc', '--out', join(root, 'b.bin')]), /cannot write an llm\.c checkpoint: it is a bitnet model/);
    assert.ok(!existsSync(join(root, 'b.bin')), 'nothing written');
  });
});
