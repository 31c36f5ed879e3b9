// `ternlm ternarize` through the real CLI: a float checkpoint's chosen projections become ternary
// and the checkpoint goes through eval, export, generate, train --init and --resume and a
// --finetune; an imported llama2.c model keeps the figure `ternlm eval` gives the original file;
// bad input is refused in one line with nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { loadTokenizer } from '../../src/data/tokenizer.js';
import { llmcGpt2Layout, paddedVocab, writeLlmcGpt2, type LlmcGpt2Shape } from '../../src/io/llmc.js';
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

    it('a model kind that cannot be ternarized: llm.c GPT-2, a checkpoint already ternary, an exported file', async () => {
      const shape: LlmcGpt2Shape = { maxSeqLen: 8, vocabSize: 64, paddedVocabSize: paddedVocab(64), layers: 1, heads: 2, channels: 8 };
      const sizes = new Map(llmcGpt2Layout(shape).params.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
      const gpt2 = join(root, 'gpt2.bin');
      writeLlmcGpt2(gpt2, shape, (name) => new Float32Array(sizes.get(name)!), 'fp32');
      await refused(['--model', gpt2], /gpt2\.bin is an llm\.c GPT-2 checkpoint: a gpt2 model cannot be ternarized: its projections are float Linear layers with biases/);
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
