// Chinese text end to end: a slice of 红楼梦 from the shared data folder goes through `ternlm
// tokenizer train` and `ternlm prepare` (as docs/models.md tells), the byte-level BPE gives back
// the text exactly and keeps one Han character a pre-token, and a tiny mof trained on it for a few
// dozen steps sees its loss fall. Skipped when ../shared/data/chinese is absent.
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

  it('the tokenizer gives back the Chinese text exactly, one Han character at most per token', () => {
    const ids = tokenizer.encode(text);
    assert.equal(tokenizer.decode(ids), text);
    const han = /\p{Script=Han}/gu;
    let merged = 0;
    for (const id of new Set(ids)) {
      const piece = tokenizer.decode([id]);
      if ((piece.match(han) ?? []).length > 1) assert.fail(`token ${id} '${piece}' holds several Han characters`);
      if ((piece.match(han) ?? []).length === 1 && Buffer.byteLength(piece) >= 3) merged++;
    }
    assert.ok(merged > 300, `only ${merged} Han characters have a token of their own`);
    assert.ok(ids.length < 0.6 * Buffer.byteLength(text), `${ids.length} tokens for ${Buffer.byteLength(text)} bytes`);
  });

  it('a tiny mof trained for a few dozen steps sees its loss fall', async () => {
    const config = withOverrides(TRAIN_DEFAULTS, {
      name: 'tiny-zh', model: { ...MOF_DEFAULTS, contextLength: 32, dim: 32, layers: 1, heads: 2, routerDim: 8 },
      batchSize: 8, seqLen: 32, warmupSteps: 5, lr: 0.01, logEvery: 5, evalEvery: 1000, evalBatches: 2, sampleTokens: 8, report: false,
    });
    const r = await train({ config, dataDir, outDir: join(root, 'run'), tokenizer, steps: 60 });
    const losses = readFileSync(join(root, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { type: string; loss: number }).filter((l) => l.type === 'train').map((l) => l.loss);
    assert.ok(losses.at(-1)! < 0.85 * losses[0], `train loss ${losses[0]} -> ${losses.at(-1)}`);
    assert.ok(r.lastEval && r.lastEval.loss < Math.log(tokenizer.vocabSize), `val loss ${r.lastEval?.loss} vs log V ${Math.log(tokenizer.vocabSize)}`);
  });
});
