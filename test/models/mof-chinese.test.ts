// Chinese text end to end: a slice of 红楼梦 from the shared data folder goes through `ternlm
// tokenizer train` and `ternlm prepare` (as docs/models.md tells); the byte-level BPE gives back
// the text exactly, with GPT-2's pre-tokenization and with --split-han (then no token holds two
// Han characters); a tiny mof trained on it for a few dozen steps sees its loss fall. Skipped when
// ../shared/data/chinese is absent.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { readMeta } from '../../src/data/meta.js';
import { tokenizerFromJSON, type Tokenizer } from '../../src/data/tokenizer.js';
import { MOF_DEFAULTS } from '../../src/models/mof.js';
import { TRAIN_DEFAULTS, withOverrides } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { run as prepareCli } from '../../src/cli/prepare.js';
import { run as tokenizerCli } from '../../src/cli/tokenizer.js';
import { SHARED_DATA, needsShared, tempDir } from '../data/fixtures.js';

const NOVEL = join(SHARED_DATA, 'chinese', '红楼梦.txt');

const hanCount = (s: string): number => (s.match(/\p{Script=Han}/gu) ?? []).length;

/** Characters of the novel's opening the test trains on: about 60 KB of UTF-8. */
const SLICE_CHARS = 20_000;

describe('a mof on Chinese text', { skip: needsShared(NOVEL) }, () => {
  const { dir: root, cleanup } = tempDir('ternlm-mof-zh-');
  let text = '';
  let dataDir = '';
  let tokenizer: Tokenizer;

  before(async () => {
    await initRuntime({ threads: 2 });
    text = [...readFileSync(NOVEL, 'utf8')].slice(0, SLICE_CHARS).join('');
    mkdirSync(join(root, 'corpus'));
    writeFileSync(join(root, 'corpus', 'slice.txt'), text);
    const quiet = console.log;
    console.log = () => {};
    try {
      await tokenizerCli(['train', '--input', join(root, 'corpus'), '--vocab', '800', '--out', join(root, 'tok.json')]);
      await prepareCli(['--input', join(root, 'corpus'), '--tokenizer', join(root, 'tok.json'), '--out', join(root, 'data'), '--val-fraction', '0.05']);
    } finally {
      console.log = quiet;
    }
    dataDir = join(root, 'data');
    tokenizer = tokenizerFromJSON(readMeta(dataDir).tokenizer.json);
  });
  after(cleanup);

  it('the tokenizer gives back the Chinese text exactly, and learns multi-character words', () => {
    const ids = tokenizer.encode(text);
    assert.equal(tokenizer.decode(ids), text);
    const words = [...new Set(ids)].filter((id) => hanCount(tokenizer.decode([id])) > 1);
    assert.ok(words.length > 20, `only ${words.length} tokens hold several Han characters`);
    assert.ok(ids.length < 0.5 * Buffer.byteLength(text), `${ids.length} tokens for ${Buffer.byteLength(text)} bytes`);
  });

  it('with --split-han the text comes back exactly too, and every Han character is a token of its own or bytes', async () => {
    const quiet = console.log;
    console.log = () => {};
    try {
      await tokenizerCli(['train', '--input', join(root, 'corpus'), '--vocab', '800', '--split-han', '--out', join(root, 'tok-han.json')]);
    } finally {
      console.log = quiet;
    }
    const split = tokenizerFromJSON(JSON.parse(readFileSync(join(root, 'tok-han.json'), 'utf8')));
    const ids = split.encode(text);
    assert.equal(split.decode(ids), text);
    const unique = [...new Set(ids)];
    assert.deepEqual(unique.filter((id) => hanCount(split.decode([id])) > 1), [], 'no token holds two Han characters');
    assert.ok(unique.filter((id) => hanCount(split.decode([id])) === 1).length > 300, 'common characters have tokens of their own');
  });

  it('a tiny mof trained for a few dozen steps sees its loss fall', async (t) => {
    const config = withOverrides(TRAIN_DEFAULTS, {
      name: 'tiny-zh', model: { ...MOF_DEFAULTS, contextLength: 32, dim: 32, layers: 1, heads: 2, routerDim: 8 },
      batchSize: 8, seqLen: 32, warmupSteps: 5, lr: 0.01, logEvery: 5, evalEvery: 1000, evalBatches: 2, sampleTokens: 8, report: false,
    });
    const r = await train({ config, dataDir, outDir: join(root, 'run'), tokenizer, steps: 100 });
    const losses = readFileSync(join(root, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { type: string; loss: number }).filter((l) => l.type === 'train').map((l) => l.loss);
    t.diagnostic(`train loss ${losses[0].toFixed(3)} -> ${losses.at(-1)!.toFixed(3)}, val ${r.lastEval?.loss.toFixed(3)}`);
    assert.ok(losses.at(-1)! < 0.85 * losses[0], `train loss ${losses[0]} -> ${losses.at(-1)}`);
    assert.ok(r.lastEval && r.lastEval.loss < Math.log(tokenizer.vocabSize), `val loss ${r.lastEval?.loss} vs log V ${Math.log(tokenizer.vocabSize)}`);
  });
});
