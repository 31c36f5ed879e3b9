// Bad flags and config values through the real CLI: exit code 1, one line naming the problem and
// the way out, and nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeTinyLlama2c } from '../infer/fixtures.js';
import { assertRefused, snapshotTree, ternlm } from './run-cli.js';
import { prepareTinyDataset, TINY_MODEL } from './tiny-data.js';

const root = mkdtempSync(join(tmpdir(), 'ternlm-flags-'));
const data = join(root, 'data');
const out = join(root, 'run');
const model = join(root, 'tiny.bin');

/** Run `ternlm args`, expect a refusal matching `pattern`, and that nothing under root changed. */
async function refused(args: string[], pattern: RegExp): Promise<void> {
  const before = snapshotTree(root);
  const r = await ternlm(args);
  assertRefused(r, pattern);
  assert.equal(r.stdout, '', 'nothing on stdout');
  assert.deepEqual(snapshotTree(root), before, 'the files under the test folder changed');
  assert.ok(!existsSync(out), `${out} was created`);
}

before(async () => {
  await prepareTinyDataset(root, 2);
  // A random llama2.c model with GPT-2's vocabulary and a 32-token context, for generate and chat.
  writeTinyLlama2c(model, { dim: 16, hidden: 32, layers: 1, heads: 2, kvHeads: 2, vocab: 50257, seqLen: 32, unshared: false }, 3);
});
after(() => rmSync(root, { recursive: true, force: true }));

const train = (...args: string[]): string[] => ['train', '--data', data, '--out', out, '--steps', '2', '--threads', '1', ...TINY_MODEL, ...args];

describe('unknown config fields', () => {
  it('--set lrr=0.1 suggests lr', () => refused(train('--set', 'lrr=0.1'), /^Error: unknown config field 'lrr' — did you mean 'lr'\?$/));
  it('--set model.nosuch=3 lists the fields of model', () => refused(train('--set', 'model.nosuch=3'), /unknown config field 'model\.nosuch' — the fields of model are family, .*dim, layers/));
  it('a nested field given alone suggests its full name', () => refused(train('--set', 'layers=2'), /unknown config field 'layers' — did you mean 'model\.layers'\?/));
  it('an unknown field in a config file names the file', async () => {
    const config = join(root, 'bad-config.json');
    writeFileSync(config, JSON.stringify({ name: 'bad', batchSize: 4, model: { dim: 32, layres: 2 } }));
    await refused(train('--config', config), new RegExp(`${config}: unknown config field 'model\\.layres' — did you mean 'model\\.layers'\\?`));
  });
});

describe('config values', () => {
  it('model.layers -2 and 1.5', async () => {
    await refused(train('--set', 'model.layers=-2'), /^Error: config: model\.layers must be an integer from 1 to 64, got -2$/);
    await refused(train('--set', 'model.layers=1.5'), /^Error: config: model\.layers must be an integer from 1 to 64, got 1\.5$/);
  });
  it('model.dim 0 and 1e9', async () => {
    await refused(train('--set', 'model.dim=0'), /config: model\.dim must be an integer from \d+ to \d+, got 0$/);
    await refused(train('--set', 'model.dim=1e9'), /config: model\.dim must be an integer from \d+ to \d+, got 1000000000$/);
  });
  it('a string where a number belongs, and a bad enum', async () => {
    await refused(train('--set', 'lr=fast'), /config: lr must be a number greater than 0 and at most 10, got "fast"/);
    await refused(train('--set', 'model.precision=int4'), /config: model\.precision must be one of ternary, int8, fp32, got "int4"/);
  });
  it('a model too large for the 4 GiB wasm memory', () =>
    refused(train('--set', 'model.dim=2048', '--set', 'model.layers=64'), /config: this model and batch need about [\d.]+ GiB .* 4 GiB wasm memory .* make model\.dim, model\.layers/));
});

describe('numeric flags', () => {
  it('--steps -5 reaches the range check', () => refused(train('--steps', '-5'), /^Error: --steps must be an integer of at least 1, got '-5'$/));
  it('--steps 1.5 and --steps ten', async () => {
    await refused(train('--steps', '1.5'), /--steps must be an integer of at least 1, got '1\.5'/);
    await refused(train('--steps', 'ten'), /--steps must be an integer of at least 1, got 'ten'/);
  });
  it('--threads 999 and 0 in train and eval name the limit', async () => {
    const limit = /--threads must be an integer from 1 to \d+ \(4 × this machine's \d+ cores, and never more than 256\)/;
    await refused(train('--threads', '999'), limit);
    await refused(train('--threads', '0'), limit);
    const ckpt = join(root, 'ckpt.safetensors');
    writeFileSync(ckpt, 'not a checkpoint');
    await refused(['eval', '--model', ckpt, '--data', data, '--threads', '0'], limit);
    await refused(['generate', '--model', model, '--threads', '999'], limit);
    await refused(['prepare', '--input', join(root, 'corpus'), '--out', out, '--threads', '-1'], limit);
  });
  it('--seed -1', () => refused(train('--seed', '-1'), /--seed must be an integer from 0 to 4294967295, got '-1'/));
  it('prepare --val-fraction 1 and --shard-tokens 0', async () => {
    await refused(['prepare', '--input', join(root, 'corpus'), '--out', out, '--val-fraction', '1'], /--val-fraction must be a number of at least 0 and less than 1, got '1'/);
    await refused(['prepare', '--input', join(root, 'corpus'), '--out', out, '--shard-tokens', '0'], /--shard-tokens must be an integer from 1 to 4294967295, got '0'/);
  });
  it('tokenizer train --vocab 100', () =>
    refused(['tokenizer', 'train', '--input', join(root, 'corpus'), '--out', join(out, 'tok.json'), '--vocab', '100'], /--vocab must be an integer from 257 to 65536, got '100'/));
});

describe('parseArgs errors', () => {
  it('an unknown option suggests the nearest one and --help', () =>
    refused(train('--stpes', '3'), /^Error: unknown option --stpes for ternlm train \(did you mean --steps\?\) — see `ternlm train --help`$/));
  it('an option without its value', () => refused(['train', '--data', data, '--out'], /^Error: --out needs a value — see `ternlm train --help`$/));
  it('a value starting with - that is not a number', () => refused(['export', '--model', '-x'], /--model needs a value \(for one that starts with '-', write --model=<value>\) — see `ternlm export --help`/));
  it('a value for a switch', () => refused(train('--resume=yes'), /^Error: --resume takes no value — see `ternlm train --help`$/));
  it('a stray argument', () => refused(['generate', '--model', model, 'hello'], /^Error: unexpected argument 'hello' for ternlm generate — see `ternlm generate --help`$/));
  it('every command refuses an unknown option the same way', async () => {
    for (const command of [['eval'], ['prepare'], ['tokenizer', 'train'], ['tokenizer', 'encode'], ['download'], ['export'], ['generate'], ['chat'], ['bench', 'kernels']]) {
      const help = command[0] === 'bench' ? 'bench kernels' : command[0];
      await refused([...command, '--nosuch'], new RegExp(`unknown option --nosuch for ternlm ${help} — see \`ternlm ${help} --help\``));
    }
  });
});

describe('generate and chat check everything before the prompt is echoed', () => {
  const long = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
  it('a prompt longer than the context', () =>
    refused(['generate', '--model', model, '--tokenizer', 'gpt2', '--prompt', long], /^Error: the prompt is \d+ tokens but the model's context holds 32 — shorten the prompt$/));
  it('a bad sampling option', async () => {
    await refused(['generate', '--model', model, '--tokenizer', 'gpt2', '--prompt', 'hello', '--top-p', '2'], /--top-p must be a number greater than 0 and at most 1, got '2'/);
    await refused(['generate', '--model', model, '--tokenizer', 'gpt2', '--prompt', 'hello', '--max-tokens', '-5'], /--max-tokens must be an integer from 1 to 1000000, got '-5'/);
    await refused(['generate', '--model', model, '--tokenizer', 'gpt2', '--prompt', 'hello', '--temperature', '-1'], /--temperature must be a number from 0 to 100, got '-1'/);
  });
  it('chat checks its options before it starts', () =>
    refused(['chat', '--model', model, '--tokenizer', 'gpt2', '--repetition-penalty', '0'], /--repetition-penalty must be a number greater than 0 and at most 100, got '0'/));
  it('a prompt that fits is echoed and continued', async () => {
    const r = await ternlm(['generate', '--model', model, '--tokenizer', 'gpt2', '--prompt', 'hello', '--max-tokens', '3', '--seed', '1', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello/);
  });
});
