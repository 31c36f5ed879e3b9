// End-to-end training: a tiny FlashLM really learns, resumes bit for bit, and refuses a corrupt
// checkpoint with a clear error.
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { FlashLM, type FlashLMConfig } from '../../src/models/flashlm.js';
import { initRuntime } from '../../src/core/runtime.js';
import { readMeta } from '../../src/data/meta.js';
import { ShardReader } from '../../src/data/shards.js';
import { writeDemoCorpus } from '../../src/data/stories.js';
import { tokenizerFromJSON, type Tokenizer } from '../../src/data/tokenizer.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { TRAIN_DEFAULTS, withOverrides, type TrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { assertSameTensors } from './same-tensors.js';
import { run as prepareCli } from '../../src/cli/prepare.js';
import { run as tokenizerCli } from '../../src/cli/tokenizer.js';

const tinyModel = { dim: 32, layers: 2, recurrence: 2, dilations: [1, 4], contextLength: 32, gluMult: 2 };
const tiny = (over: object = {}): TrainConfig => withOverrides(TRAIN_DEFAULTS, {
  name: 'tiny',
  model: tinyModel,
  batchSize: 8, seqLen: 32, warmupSteps: 10, lr: 0.01, logEvery: 10, evalEvery: 1000, evalBatches: 4, sampleTokens: 8,
  report: false, // drawn where a test looks at it: a report costs about as much as a tiny run
  ...over,
});

/** Unigram entropy (nats/token) of the training split: the loss of a model that ignores context. */
function unigramEntropy(dir: string): number {
  const meta = readMeta(dir);
  const counts = new Map<number, number>();
  let n = 0;
  for (const s of meta.splits.train.shards) {
    const r = new ShardReader(join(dir, s.file));
    const toks = new Int32Array(r.tokens);
    r.read(0, r.tokens, toks);
    for (const t of toks) counts.set(t, (counts.get(t) ?? 0) + 1);
    n += toks.length;
    r.close();
  }
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log(c / n);
  return h;
}

describe('training end to end', () => {
  let dataDir = '';
  let tokenizer: Tokenizer;
  const root = mkdtempSync(join(tmpdir(), 'ternlm-train-'));

  before(async () => {
    await initRuntime({ threads: 2 });
    const corpus = writeDemoCorpus(join(root, 'corpus'), { stories: 1500, seed: 3 });
    const quiet = console.log;
    console.log = () => {};
    try {
      await tokenizerCli(['train', '--input', corpus.path, '--vocab', '512', '--out', join(root, 'tok.json')]);
      await prepareCli(['--input', corpus.path, '--tokenizer', join(root, 'tok.json'), '--out', join(root, 'data'), '--val-fraction', '0.05']);
    } finally {
      console.log = quiet;
    }
    dataDir = join(root, 'data');
    tokenizer = tokenizerFromJSON(readMeta(dataDir).tokenizer.json);
  });

  it('a tiny ternary model learns: val loss falls well below the unigram entropy', async () => {
    const out = join(root, 'learn');
    const result = await train({ config: tiny({ report: true }), dataDir, outDir: out, tokenizer, steps: 150 });
    const unigram = unigramEntropy(dataDir);
    assert.ok(result.lastEval, 'evaluated at the end');
    assert.ok(result.lastEval.loss < 0.75 * unigram, `val loss ${result.lastEval.loss} vs unigram ${unigram}`);
    assert.ok(result.lastEval.bpb !== null && result.lastEval.bpb > 0);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const trainLines = lines.filter((l) => l.type === 'train');
    assert.ok(trainLines[trainLines.length - 1].loss < trainLines[0].loss, 'train loss falls');
    const ev = lines.find((l) => l.type === 'eval');
    assert.ok(ev.ternary['blocks.0.mix'].zero > 0 && ev.ternary['blocks.0.mix'].zero < 1, 'ternary mix logged');
    assert.ok(lines.some((l) => l.type === 'profile' && l.share.head > 0), 'time split logged');
    assert.ok(Object.values(ev.ternary as Record<string, { weights: number }>).every((l) => l.weights > 0), 'layer sizes logged');
    // The run's plots, drawn at its end.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<th scope="row"[^>]*>learn<\/th><td>tiny<\/td><td>ternary<\/td><td class="n">150<\/td>/);
    assert.match(html, /<svg[^>]*>[^]*>share of ternary weights \(%\)<\/text>/);
    assert.doesNotMatch(html, /<script/i);
    assert.deepEqual([...readFileSync(join(out, 'report.png')).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('a run whose plots cannot be written ends normally, with one warning', async () => {
    const out = join(root, 'unplottable');
    mkdirSync(join(out, 'report.html'), { recursive: true }); // a folder where the page should go
    const messages: string[] = [];
    const r = await train({ config: tiny({ report: true }), dataDir, outDir: out, tokenizer, steps: 10, onMessage: (m) => messages.push(m) });
    assert.equal(r.steps, 10);
    assert.ok(existsSync(r.checkpoint));
    const warnings = messages.filter((m) => /report/.test(m));
    assert.equal(warnings.length, 1, messages.join('\n'));
    assert.match(warnings[0], /^warning: no report drawn for .*unplottable \(cannot rename .*report\.html: it is a folder, not a file \(EISDIR\)\); the run itself is saved — draw it later with ternlm report/);
    // --overwrite deletes the old run's plots with the run (and leaves a folder of that name alone).
    writeFileSync(join(out, 'report.png'), 'the old run');
    await train({ config: tiny(), dataDir, outDir: out, tokenizer, steps: 2, overwrite: true });
    assert.ok(!existsSync(join(out, 'report.png')) && statSync(join(out, 'report.html')).isDirectory());
  });

  it('a val split smaller than one eval batch is scored whole, once', async () => {
    const valTokens = readMeta(dataDir).splits.val.tokens;
    const r = await train({ config: tiny({ batchSize: 512, evalBatches: 50 }), dataDir, outDir: join(root, 'small-val'), tokenizer, steps: 2 });
    assert.ok(valTokens < 512 * 33, `the fixture's val split (${valTokens} tokens) should be under one batch`);
    assert.ok(r.lastEval && r.lastEval.tokens <= valTokens - 1 && r.lastEval.tokens > (valTokens - 1) / 2, `scored ${r.lastEval?.tokens} of ${valTokens}`);
  });

  for (const head of ['hierarchical', 'adaptive'] as const) {
    it(`trains with the ${head} head and resumes it from the saved token counts`, async () => {
      const config = tiny({ model: { ...tiny().model, head: { type: head } } });
      const out = join(root, head);
      const r = await train({ config, dataDir, outDir: out, tokenizer, steps: 80 });
      assert.ok(r.lastEval && r.lastEval.loss < unigramEntropy(dataDir), `${head}: val loss ${r.lastEval?.loss}`);
      const resumed = await train({ config, dataDir, outDir: out, tokenizer, steps: 85, resume: true });
      assert.equal(resumed.steps, 85);
    });
  }

  it('resuming gives exactly the run that was never interrupted (dropout on)', async () => {
    const config = tiny({ optimizer: 'normuon', muonLr: 0.02, model: { ...tinyModel, dropout: 0.1 } });
    const straight = await train({ config, dataDir, outDir: join(root, 'straight'), tokenizer, steps: 40 });
    let steps = 0;
    const first = await train({ config: { ...config, report: true }, dataDir, outDir: join(root, 'resumed'), tokenizer, steps: 40, shouldStop: () => ++steps >= 17 });
    assert.equal(first.stoppedEarly, true);
    assert.equal(first.steps, 17);
    assert.ok(existsSync(join(root, 'resumed', 'report.html')) && existsSync(join(root, 'resumed', 'report.png')), 'a stopped run draws its plots');
    const second = await train({ config, dataDir, outDir: join(root, 'resumed'), tokenizer, steps: 40, resume: true });
    assert.equal(second.steps, 40);
    assert.equal(second.finalTrainLoss, straight.finalTrainLoss);
    assertSameTensors(straight.checkpoint, second.checkpoint);
  });

  it('initialises embeddings from the corpus (PPMI + SVD) and refuses an unknown initialisation', async () => {
    const out = join(root, 'corpus-init');
    const r = await train({ config: tiny({ initEmbeddings: 'corpus' }), dataDir, outDir: out, tokenizer, steps: 30 });
    assert.ok(r.lastEval && r.lastEval.loss < unigramEntropy(dataDir));
    assert.throws(() => tiny({ initEmbeddings: 'word2vec' }), /initEmbeddings must be/);
    await assert.rejects(
      train({ config: tiny({ initEmbeddings: 'gpt2:/nonexistent.safetensors' }), dataDir, outDir: join(root, 'gpt2-init'), tokenizer, steps: 2 }),
      /GPT-2 tokenizer/,
    );
  });

  it('frozen embeddings stay as initialised; a float warm-up runs before ternarization', async () => {
    const config = tiny({ model: { ...tiny().model, frozenEmbeddings: true }, ternaryStart: 5 });
    const r = await train({ config, dataDir, outDir: join(root, 'frozen'), tokenizer, steps: 12 });
    const fresh = new FlashLM({ ...(config.model as Omit<FlashLMConfig, 'vocabSize'>), vocabSize: tokenizer.vocabSize }, new Rng(config.seed));
    const f = openSafetensors(r.checkpoint);
    assert.deepEqual(Array.from(f.readF32('param.embed.weight')), Array.from(fresh.embed.weight.f32()));
    assert.notDeepEqual(Array.from(f.readF32('param.blocks.0.mix.weight')), Array.from(fresh.blocks[0].mix.weight.f32()));
    f.close();
    // BitLinear layers switch from float to ternary at ternaryStart: the same input gives
    // different outputs in the two modes.
    const layer = fresh.blocks[0].mix;
    const x = Tensor.from(Array.from({ length: 2 * 32 }, (_, i) => Math.sin(i)), [2, 32]);
    layer.ternaryActive = false;
    const asFloat = layer.forward(x).toArray();
    layer.ternaryActive = true;
    const asTernary = layer.forward(x).toArray();
    assert.notDeepEqual(asFloat, asTernary);
  });

  it('a truncated checkpoint is refused with a clear error', async () => {
    const out = join(root, 'corrupt');
    await train({ config: tiny(), dataDir, outDir: out, tokenizer, steps: 5 });
    const ckpt = join(out, 'ckpt.safetensors');
    truncateSync(ckpt, Math.floor(statSync(ckpt).size / 2));
    await assert.rejects(
      train({ config: tiny(), dataDir, outDir: out, tokenizer, steps: 10, resume: true }),
      (err: unknown) => err instanceof TernlmError && /truncated|cut off|ends at byte/.test(err.message),
    );
  });

  it('a --time run fixes its plan after measuring its pace, and resumes from it exactly however often it is interrupted', async () => {
    const config = tiny({ model: { ...tinyModel, dropout: 0.1 }, curriculum: [{ seqLen: 16, until: 0.5 }, { seqLen: 32, until: 1 }] });
    const a = join(root, 'time-a'), b = join(root, 'time-b');
    let planFixed = false, after = 0;
    const first = await train({
      config, dataDir, outDir: a, tokenizer, timeSeconds: 1.5,
      onMessage: (t) => { if (t.startsWith('plan:')) planFixed = true; },
      shouldStop: () => planFixed && ++after >= 5,
    });
    assert.equal(first.stoppedEarly, true);
    const plan = readCheckpointMeta(first.checkpoint).plan!;
    assert.equal(plan.budget, 'time');
    assert.ok(plan.totalSteps !== null && plan.totalSteps > first.steps, `plan ${JSON.stringify(plan)} after ${first.steps} steps`);
    cpSync(a, b, { recursive: true });

    // a: resumed once, keeping its stored budget.
    const straight = await train({ config, dataDir, outDir: a, tokenizer, resume: true });
    assert.equal(straight.steps, plan.totalSteps);
    // b: resumed, interrupted again, resumed again (the machine's pace plays no part any more).
    let n = 0;
    const mid = await train({ config, dataDir, outDir: b, tokenizer, timeSeconds: 1.5, resume: true, shouldStop: () => ++n >= 7 });
    assert.equal(mid.steps, first.steps + 7);
    const end = await train({ config, dataDir, outDir: b, tokenizer, timeSeconds: 1.5, resume: true });
    assert.equal(end.steps, plan.totalSteps);
    assert.equal(end.finalTrainLoss, straight.finalTrainLoss);
    assertSameTensors(straight.checkpoint, end.checkpoint);
  });

  it('on resume, what was logged after the checkpoint step is dropped: each step is logged once', async () => {
    const out = join(root, 'logs');
    const config = tiny({ logEvery: 5, evalEvery: 10 });
    await train({ config, dataDir, outDir: out, tokenizer, steps: 20 });
    // What a run killed after its last checkpoint leaves behind: lines of steps that are redone.
    appendFileSync(join(out, 'metrics.jsonl'), JSON.stringify({ type: 'train', step: 25, lost: true }) + '\n' + JSON.stringify({ type: 'eval', step: 30, lost: true }) + '\n{"type": "tra');
    appendFileSync(join(out, 'samples.txt'), '--- step 30\nlost sample\n');
    await train({ config, dataDir, outDir: out, tokenizer, steps: 30, resume: true });
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; lost?: boolean });
    assert.ok(lines.every((l) => !l.lost));
    for (const type of ['train', 'eval']) {
      const steps = lines.filter((l) => l.type === type).map((l) => l.step);
      assert.deepEqual(steps, [...new Set(steps)].sort((x, y) => x - y), `${type} steps ${steps}`);
    }
    assert.deepEqual(lines.filter((l) => l.type === 'train').map((l) => l.step), [5, 10, 15, 20, 25, 30]);
    const samples = readFileSync(join(out, 'samples.txt'), 'utf8');
    assert.doesNotMatch(samples, /lost sample/);
    assert.deepEqual([...samples.matchAll(/^--- step (\d+)$/gm)].map((m) => Number(m[1])), [10, 20, 30]);
  });
});

