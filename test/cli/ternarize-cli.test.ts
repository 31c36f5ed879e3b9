// `ternlm ternarize` through the real CLI: a float checkpoint's chosen projections become ternary
// and the checkpoint goes through eval, export, generate, train --init and --resume and a
// --finetune; an imported llama2.c model keeps the figure `ternlm eval` gives the original file;
// so does a GPT-2 read from llm.c's files, which also goes through sensitivity and
// --precision-from; bad input is refused in one line with nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { BITNET_DEFAULTS } from '../../src/models/bitnet.js';
import { createModel } from '../../src/models/index.js';
import { TRAIN_DEFAULTS, withOverrides } from '../../src/train/config.js';
import { saveStepZeroCheckpoint } from '../../src/train/ternarize.js';
import { needsStories, STORIES260K } from '../infer/fixtures.js';
import { assertRefused, ternlm } from './run-cli.js';
import { prepareTinyDataset, TINY_MODEL } from './tiny-data.js';

/** What `ternarize --json` prints. */
interface TernarizeReport {
  ternaryProjections: number;
  bpb: Record<string, number>;
  checkpoint: string;
  finetuned: string | null;
}

/** What `eval --json` prints. */
interface EvalReport {
  bpb: number;
}

/** The training settings of the tests' short fine-tunes. */
const FINETUNE = ['--set', 'batchSize=2', '--set', 'seqLen=32', '--set', 'report=false', '--set', 'sampleTokens=0', '--set', 'evalBatches=1'];

function ok(r: { code: number | null; stderr: string }): void {
  assert.equal(r.code, 0, r.stderr);
}

describe('ternlm ternarize', () => {
  let root: string, data: string, tokenizer: string, corpus: string, floatCkpt: string, text: string;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'ternlm-ternarize-cli-'));
    ({ data, tokenizer, corpus } = await prepareTinyDataset(root, 11));
    const run = join(root, 'float');
    ok(await ternlm(['train', '--config', 'bitnet-4m-float', '--data', data, '--out', run, '--steps', '2', '--threads', '1', ...TINY_MODEL,
      '--set', 'batchSize=2', '--set', 'sampleTokens=0', '--set', 'evalBatches=1']));
    floatCkpt = join(run, 'ckpt.safetensors');
    text = join(root, 'text.txt');
    writeFileSync(text, 'Once upon a time a little dog found a red ball.\n<|endoftext|>\nThe cat sat in the sun and smiled.\n');
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('ternarizes the chosen projections of a float checkpoint, and eval, export, generate, train --init and --resume take the result', async () => {
    const out = join(root, 'tern', 'ckpt.safetensors');
    const r = await ternlm(['ternarize', '--model', floatCkpt, '--out', out, '--layers', 'blocks.*.attn.*', '--text', text, '--threads', '1', '--json']);
    ok(r);
    const report = JSON.parse(r.stdout) as TernarizeReport;
    assert.equal(report.ternaryProjections, 4, 'q, k, v and o of the one block');
    assert.ok(Number.isFinite(report.bpb.float) && Number.isFinite(report.bpb.ternarized) && report.bpb.float !== report.bpb.ternarized, JSON.stringify(report.bpb));

    const ev = await ternlm(['eval', '--model', out, '--text', text, '--threads', '1', '--json']);
    ok(ev);
    assert.ok(Math.abs((JSON.parse(ev.stdout) as EvalReport).bpb - report.bpb.ternarized) < 1e-9, 'eval of the checkpoint gives the printed figure');

    const exported = join(root, 'tern', 'model.safetensors');
    const exp = await ternlm(['export', '--model', out, '--out', exported]);
    ok(exp);
    const packed = JSON.parse(exp.stdout) as { ternary_weights: number };
    assert.equal(packed.ternary_weights, 16 * 16 + 8 * 16 + 8 * 16 + 16 * 16, 'the attention projections are packed ternary');
    ok(await ternlm(['generate', '--model', exported, '--prompt', 'Once upon', '--max-tokens', '4', '--threads', '1']));

    const steps = ['--steps', '2', '--threads', '1', '--set', 'batchSize=2', '--set', 'seqLen=32', '--set', 'report=false', '--set', 'sampleTokens=0', '--set', 'evalBatches=1'];
    ok(await ternlm(['train', '--init', out, '--data', data, '--out', join(root, 'ft'), ...steps]));
    const resumed = await ternlm(['train', '--resume', '--out', join(root, 'tern'), '--data', data, ...steps]);
    ok(resumed);
    assert.match(resumed.stderr, /resumed .* at step 0/);
    assert.match(resumed.stderr, /training bitnet-4m-float-ternarized \(bitnet, fp32, blocks\.\*\.attn\.\* ternary\)/);
  });

  it('--finetune trains the ternarized checkpoint on --data and measures it after', async () => {
    const out = join(root, 'tuned', 'ckpt.safetensors');
    const r = await ternlm(['ternarize', '--model', floatCkpt, '--out', out, '--text', text, '--threads', '1', '--json', '--finetune', '2', '--data', data,
      '--set', 'batchSize=2', '--set', 'seqLen=32', '--set', 'report=false', '--set', 'sampleTokens=0', '--set', 'evalBatches=1']);
    ok(r);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as TernarizeReport;
    assert.equal(report.finetuned, join(root, 'tuned', 'ckpt-finetune', 'ckpt.safetensors'));
    assert.ok(existsSync(report.finetuned!));
    assert.deepEqual(Object.keys(report.bpb), ['float', 'ternarized', 'fine-tuned']);
    assert.ok(report.bpb['fine-tuned'] !== report.bpb.ternarized, 'the fine-tune moved the weights');
  });

  it('an imported llama2.c model scores what ternlm eval gives the original file (documents start at BOS)', { skip: needsStories }, async () => {
    const out = join(root, 'stories', 'ckpt.safetensors');
    const r = await ternlm(['ternarize', '--model', STORIES260K, '--out', out, '--text', text, '--threads', '1', '--json']);
    ok(r);
    const report = JSON.parse(r.stdout) as TernarizeReport;
    const ev = await ternlm(['eval', '--model', STORIES260K, '--text', text, '--threads', '1', '--json']);
    ok(ev);
    assert.ok(Math.abs(report.bpb.float - (JSON.parse(ev.stdout) as EvalReport).bpb) < 1e-4, `${report.bpb.float} against eval's ${ev.stdout}`);
    assert.equal(report.ternaryProjections, 35);
    assert.ok(existsSync(join(root, 'stories', 'ckpt.tokenizer.json')), 'the tokenizer to prepare fine-tuning data with');
  });

  describe('a GPT-2 in llm.c\'s files', () => {
    let run: string, bin: string;
    before(async () => {
      // A float GPT-2 trained by ternlm, written as llm.c's model and tokenizer files (gpt2_tiny.bin, gpt2_tiny_tokenizer.bin).
      run = join(root, 'gpt2');
      ok(await ternlm(['train', '--config', 'gpt2-4m', '--data', data, '--out', run, '--steps', '2', '--threads', '1', ...TINY_MODEL,
        '--set', 'batchSize=2', '--set', 'sampleTokens=0', '--set', 'evalBatches=1']));
      bin = join(root, 'llmc', 'gpt2_tiny.bin');
      ok(await ternlm(['export', '--model', join(run, 'ckpt.safetensors'), '--format', 'llmc', '--out', bin]));
    });

    it('ternarize --layers --finetune: the float figure is the trained checkpoint\'s, and eval, export, generate and train --init take the result', async () => {
      const out = join(root, 'gpt2-tern', 'ckpt.safetensors');
      const r = await ternlm(['ternarize', '--model', bin, '--tokenizer', tokenizer, '--out', out, '--layers', 'blocks.*.attn.*', '--text', text, '--threads', '1', '--json',
        '--finetune', '2', '--data', data, ...FINETUNE]);
      ok(r);
      const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as TernarizeReport;
      assert.equal(report.ternaryProjections, 2, 'attn.qkv and attn.proj of the one block');
      assert.deepEqual(Object.keys(report.bpb), ['float', 'ternarized', 'fine-tuned']);
      const evalOf = async (model: string): Promise<number> => {
        const ev = await ternlm(['eval', '--model', model, '--text', text, '--threads', '1', '--json']);
        ok(ev);
        return (JSON.parse(ev.stdout) as EvalReport).bpb;
      };
      assert.ok(Math.abs(report.bpb.float - (await evalOf(join(run, 'ckpt.safetensors')))) < 1e-9, 'llm.c\'s fp32 file holds the trained model exactly');
      assert.ok(Math.abs(report.bpb.ternarized - (await evalOf(out))) < 1e-9, 'eval of the checkpoint gives the printed figure');
      assert.notEqual(report.bpb.ternarized, report.bpb.float);

      const exported = join(root, 'gpt2-tern', 'model.safetensors');
      const exp = await ternlm(['export', '--model', out, '--out', exported]);
      ok(exp);
      assert.equal((JSON.parse(exp.stdout) as { ternary_weights: number }).ternary_weights, 3 * 16 * 16 + 16 * 16, 'qkv and proj are packed ternary');
      ok(await ternlm(['generate', '--model', exported, '--prompt', 'Once upon', '--max-tokens', '4', '--threads', '1']));
      const init = await ternlm(['train', '--init', out, '--data', data, '--out', join(root, 'gpt2-ft'), '--steps', '2', '--threads', '1', ...FINETUNE]);
      ok(init);
      assert.match(init.stderr, /\(gpt2, fp32, blocks\.\*\.attn\.\* ternary\)/);
      assertRefused(await ternlm(['export', '--model', out, '--format', 'llmc', '--out', join(root, 'refused-llmc', 'gpt2.bin')]),
        /cannot write an llm\.c checkpoint: the model's projections blocks\.\*\.attn\.qkv, blocks\.\*\.attn\.proj \(in 1 blocks\) are not fp32/);
      assert.ok(!existsSync(join(root, 'refused-llmc', 'gpt2.bin')));
    });

    it('sensitivity ranks its kinds of projection, and ternarize --precision-from applies the hybrid it writes', async () => {
      const hybrid = join(root, 'gpt2-hybrid', 'hybrid.json');
      const r = await ternlm(['sensitivity', '--model', bin, '--tokenizer', tokenizer, '--text', text, '--by', 'kind', '--max-increase', '100', '--out', hybrid, '--threads', '1', '--json']);
      ok(r);
      const report = JSON.parse(r.stdout) as { ranked: { pattern: string }[]; hybrid: { bpb: number } };
      assert.deepEqual(report.ranked.map((g) => g.pattern).sort(), ['blocks.*.attn.proj', 'blocks.*.attn.qkv', 'blocks.*.mlp.fc', 'blocks.*.mlp.proj']);
      const out = join(root, 'gpt2-hybrid', 'ckpt.safetensors');
      const t = await ternlm(['ternarize', '--model', bin, '--tokenizer', tokenizer, '--precision-from', hybrid, '--out', out, '--text', text, '--threads', '1', '--json']);
      ok(t);
      assert.ok(Math.abs((JSON.parse(t.stdout) as TernarizeReport).bpb.ternarized - report.hybrid.bpb) < 1e-9);
    });

    it('refuses a tokenizer that is not the model\'s: larger than its vocabulary, or other than the llm.c tokenizer file beside it', async () => {
      const out = join(root, 'refused', 'ckpt.safetensors');
      assertRefused(await ternlm(['ternarize', '--model', bin, '--out', out, '--text', text, '--threads', '1']),
        /the tokenizer gpt2 has 50257 tokens but .*gpt2_tiny\.bin only 300 — pass the tokenizer the model was trained with: --tokenizer <tok\.json>/);
      const other = join(root, 'tok-290.json');
      ok(await ternlm(['tokenizer', 'train', '--input', corpus, '--vocab', '290', '--out', other]));
      assertRefused(await ternlm(['ternarize', '--model', bin, '--tokenizer', other, '--out', out, '--text', text, '--threads', '1']),
        /the tokens of .*gpt2_tiny_tokenizer\.bin, beside .*gpt2_tiny\.bin, are not those of the tokenizer .*tok-290\.json/);
      assert.ok(!existsSync(join(root, 'refused')), 'nothing written');
    });
  });

  describe('refusals: one line, nothing written', () => {
    const refused = async (args: string[], pattern: RegExp): Promise<void> => {
      const out = join(root, 'refused', 'ckpt.safetensors');
      assertRefused(await ternlm(['ternarize', '--out', out, '--threads', '1', ...args]), pattern);
      assert.ok(!existsSync(join(root, 'refused')), 'nothing written');
    };

    it('a pattern that matches no projection lists the projections there are', async () => {
      await refused(['--model', floatCkpt, '--layers', 'blocks.*.mlp.*', '--text', text],
        /--layers 'blocks\.\*\.mlp\.\*' matches no projection of this bitnet model — its projections are blocks\.\*\.attn\.q, blocks\.\*\.attn\.k, .*blocks\.\*\.ffn\.down \(in 1 blocks\)/);
    });

    it('a model kind that cannot be ternarized: a checkpoint already ternary, an exported file', async () => {
      const ternary = join(root, 'tern-all', 'ckpt.safetensors');
      ok(await ternlm(['ternarize', '--model', floatCkpt, '--out', ternary, '--text', text, '--threads', '1']));
      await refused(['--model', ternary], /the 7 projection\(s\) --layers '\*' matches are ternary already — ternarize takes a float model/);
      const exported = join(root, 'tern-all', 'model.safetensors');
      ok(await ternlm(['export', '--model', ternary, '--out', exported]));
      await refused(['--model', exported], /model\.safetensors is not a ternlm training checkpoint \(format "ternlm-packed-2"\)/);
    });

    it('a text the tokenizer cannot encode', async () => {
      // A float checkpoint whose tokenizer lowercases: mixed-case text does not come back from its tokens.
      const lower = join(root, 'tok-lower.json');
      ok(await ternlm(['tokenizer', 'train', '--input', corpus, '--vocab', '280', '--lowercase', '--out', lower]));
      await initRuntime({ threads: 1 });
      const tok = loadTokenizer(lower);
      const model = createModel({ ...BITNET_DEFAULTS, vocabSize: tok.vocabSize, dim: 16, layers: 1, heads: 2, kvHeads: 1, precision: 'fp32', quantizeActivations: false, contextLength: 32 }, new Rng(1));
      const { vocabSize: _, ...fields } = model.config;
      const ckpt = join(root, 'lower.safetensors');
      saveStepZeroCheckpoint(ckpt, model, withOverrides(TRAIN_DEFAULTS, { name: 'lower', seqLen: 32, model: fields }), tok.toJSON(), null);
      model.dispose();
      await refused(['--model', ckpt, '--text', text], /text\.txt, document 1: the model's bpe tokenizer cannot encode this text — its tokens do not decode back to it \(a model trained on lowercased text: add --lowercase\)/);
    });

    it('a fine-tune without data, with a budget that is none, or on data of another tokenizer', async () => {
      await refused(['--model', floatCkpt, '--text', text, '--finetune', '2'], /--finetune trains on prepared data — give --data <dir>/);
      await refused(['--model', floatCkpt, '--text', text, '--finetune', 'soon', '--data', data], /--finetune takes a number of steps \(200\) or a duration \(90s, 30m, 1h\), got 'soon'/);
      const other = (await prepareTinyDataset(join(root, 'other'), 12)).data;
      await refused(['--model', floatCkpt, '--text', text, '--finetune', '2', '--data', other], /other\/data was not tokenized with the model's tokenizer — prepare it with the tokenizer the model was trained with/);
    });
  });
});
