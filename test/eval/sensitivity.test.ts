// Layer sensitivity (src/eval/sensitivity.ts, `ternlm sensitivity`): on a small trained float
// model with one deliberately fragile projection — a few rows of blocks.1.ffn.up scaled by 1000
// and the matching columns of ffn.down by 1/1000, the same function in float, but AbsMean's scale
// is then set by those rows and ternarizing up zeroes every other row — the fragile projection
// ranks first (it does not in the model before the change) and the hybrid keeps it out of ternary;
// switching precisions back gives the float scores bit for bit; the hybrid config goes through
// `ternarize --precision-from`, `eval` and `train --config` and scores what sensitivity measured;
// bad input is refused in one line with nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { loadTokenizer, tokenizerFromJSON, type Tokenizer } from '../../src/data/tokenizer.js';
import { BatchedScorer } from '../../src/eval/scorer.js';
import { measureSensitivity, projectionGroups, projectionBits, GROUPINGS, type SensitivityOptions } from '../../src/eval/sensitivity.js';
import { scoreText, type TextDocument } from '../../src/eval/text.js';
import { loadTrainedModel } from '../../src/infer/packed.js';
import { readCheckpointMeta } from '../../src/io/checkpoint.js';
import { createModel, MODEL_DEFAULTS, type LanguageModel, type ModelConfig, type ModelFamily } from '../../src/models/index.js';
import { matchingProjections } from '../../src/models/precision.js';
import { loadTrainConfig } from '../../src/train/config.js';
import { checkpointTrainConfig } from '../../src/train/init.js';
import { hybridConfig, saveStepZeroCheckpoint, ternarizedModel } from '../../src/train/ternarize.js';
import { assertRefused, ternlm } from '../cli/run-cli.js';
import { prepareTinyDataset } from '../cli/tiny-data.js';

const FRAGILE = 'blocks.1.ffn.up';
const OPTIONS: SensitivityOptions = { by: 'projection', keep: 'int8', maxIncrease: 0.05, budgetBits: Infinity, packing: '2bit' };

/** What `sensitivity --json` prints (the fields the tests read). */
interface SensitivityJSON {
  float: { bpb: number };
  ranked: { pattern: string; increase: number }[];
  hybrid: { bpb: number; kept: string[]; bits: number };
  allTernary: { bpb: number };
  precisionOverrides: Record<string, string>;
  config: string | null;
}

/** Scale rows `units` of the FFN's up projection by s and the same columns of down by 1/s: down(silu(gate x) * up x) is unchanged. */
function makeFragile(model: LanguageModel<ModelConfig>, block: number, units: number[], s: number): void {
  const weights = new Map(model.bitLayers().map((p) => [p.name, p.layer.weight]));
  const up = weights.get(`blocks.${block}.ffn.up`)!, down = weights.get(`blocks.${block}.ffn.down`)!;
  const [, dim] = up.shape;
  const [rows, hidden] = down.shape;
  const u = up.f32(), d = down.f32();
  for (const j of units) {
    for (let i = 0; i < dim; i++) u[j * dim + i] *= s;
    for (let i = 0; i < rows; i++) d[i * hidden + j] /= s;
  }
}

describe('ternlm sensitivity', () => {
  let root: string, data: string, trained: string, fragile: string, text: string, tokenizer: Tokenizer, docs: TextDocument[];

  /** The trained checkpoint as a model ready to switch (8-bit activations for its ternary layers), made fragile or not. */
  const open = (isFragile: boolean): LanguageModel<ModelConfig> => {
    const { model: float } = loadTrainedModel(trained);
    const model = ternarizedModel(float, hybridConfig(float, {}));
    float.dispose();
    if (isFragile) makeFragile(model, 1, [0, 1], 1000);
    return model;
  };
  const scoreOf = (scorer: BatchedScorer) => (): number => scoreText(scorer, tokenizer, tokenizer.eotId, docs).bpb;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'ternlm-sensitivity-'));
    let corpus: string;
    ({ data, corpus } = await prepareTinyDataset(root, 11));
    // A Llama-shaped float bitnet (no input norm inside the projections, so the rescaling keeps the function), trained a little.
    const run = join(root, 'float');
    const r = await ternlm(['train', '--config', 'bitnet-4m-float', '--data', data, '--out', run, '--steps', '600', '--threads', '1',
      '--set', 'model.dim=32', '--set', 'model.layers=3', '--set', 'model.contextLength=32', '--set', 'model.inputNorm=false', '--set', 'seqLen=32',
      '--set', 'curriculum=[]', '--set', 'report=false', '--set', 'batchSize=8', '--set', 'warmupSteps=10', '--set', 'sampleTokens=0', '--set', 'evalBatches=1']);
    assert.equal(r.code, 0, r.stderr);
    trained = join(run, 'ckpt.safetensors');
    await initRuntime({ threads: 1 });
    const meta = readCheckpointMeta(trained);
    tokenizer = tokenizerFromJSON(meta.tokenizer, trained);
    // Twenty stories of the training corpus: the ranking is under test, not how well the model generalizes.
    const stories = readFileSync(corpus, 'utf8').split('\n<|endoftext|>\n').slice(150, 170);
    docs = stories.map((s, index) => ({ file: 'stories', index, text: s }));
    text = join(root, 'stories.txt');
    writeFileSync(text, stories.join('\n<|endoftext|>\n'));
    const model = open(true);
    fragile = join(root, 'fragile.safetensors');
    saveStepZeroCheckpoint(fragile, model, checkpointTrainConfig(meta), meta.tokenizer as object, null);
    model.dispose();
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  it('ranks the fragile projection first, which it is not before the change, and the hybrid keeps it out of ternary', () => {
    const before = open(false);
    const scorer0 = new BatchedScorer(before, 'before');
    const r0 = measureSensitivity(before.bitLayers(), scoreOf(scorer0), OPTIONS);
    scorer0.dispose();
    assert.notEqual(r0.ranked[0].pattern, FRAGILE, 'the unchanged model has another most sensitive projection');

    const model = open(true);
    const scorer = new BatchedScorer(model, 'fragile');
    const r = measureSensitivity(model.bitLayers(), scoreOf(scorer), OPTIONS);
    assert.ok(Math.abs(r.float.bpb - r0.float.bpb) < 1e-4, `the rescaling keeps the float function: ${r.float.bpb} against ${r0.float.bpb}`);
    assert.equal(r.ranked[0].pattern, FRAGILE, r.ranked.slice(0, 3).map((g) => `${g.pattern} ${g.increase.toFixed(3)}`).join(', '));
    assert.ok(r.ranked.every((g, i) => i === 0 || g.increase <= r.ranked[i - 1].increase), 'most sensitive first');
    assert.equal(r.ranked.length, 21, '7 projections in each of 3 blocks');
    assert.equal(r.hybrid.kept[0], FRAGILE);
    assert.equal(r.overrides[FRAGILE], 'int8');
    assert.equal(Object.keys(r.overrides)[0], '*');
    assert.ok(r.hybrid.bpb < r.allTernary.bpb);
    assert.equal(r.hybrid.withinTarget, r.hybrid.bpb - r.float.bpb <= OPTIONS.maxIncrease);

    // Back at float, bit for bit; and a fresh model of the hybrid config scores what the switched model measured.
    assert.ok(model.bitLayers().every((p) => p.layer.opts.precision === 'fp32'));
    assert.equal(scoreOf(scorer)(), r.float.bpb);
    const hybrid = ternarizedModel(model, hybridConfig(model, r.overrides));
    const hybridScorer = new BatchedScorer(hybrid, 'hybrid');
    assert.equal(scoreOf(hybridScorer)(), r.hybrid.bpb);
    assert.equal(projectionBits(hybrid.bitLayers(), '2bit'), r.hybrid.bits);
    hybridScorer.dispose();
    scorer.dispose();
  });

  it('keeps no group that would take the projections over --budget-bits, and leaves every projection as it was when a score throws', () => {
    const model = open(true);
    const scorer = new BatchedScorer(model, 'fragile');
    const parameters = model.bitLayers().reduce((n, p) => n + p.layer.weight.size, 0);
    const r = measureSensitivity(model.bitLayers(), scoreOf(scorer), { ...OPTIONS, maxIncrease: 0, budgetBits: 3 });
    assert.ok(r.hybrid.kept.length > 0 && r.hybrid.bits / parameters <= 3, `${r.hybrid.bits / parameters} bits per weight`);
    assert.equal(r.hybrid.withinTarget, false, 'a budget of 3 bits cannot reach the float model');
    let calls = 0;
    assert.throws(() => measureSensitivity(model.bitLayers(), () => {
      if (++calls === 3) throw new Error('interrupted');
      return 1;
    }, OPTIONS), /interrupted/);
    assert.ok(model.bitLayers().every((p) => p.layer.opts.precision === 'fp32'));
    scorer.dispose();
  });

  it('names every group by a pattern that selects exactly its projections, in every family', () => {
    for (const family of Object.keys(MODEL_DEFAULTS) as ModelFamily[]) {
      const model = createModel({ ...MODEL_DEFAULTS[family], vocabSize: 64, dim: 16, layers: 2, contextLength: 16 } as ModelConfig, new Rng(1), new Array(64).fill(1));
      const projections = model.bitLayers();
      for (const by of GROUPINGS) {
        const groups = projectionGroups(projections, by);
        assert.deepEqual(groups.flatMap((g) => g.projections.map((p) => p.name)).sort(), projections.map((p) => p.name).sort(), `${family} by ${by}: every projection in one group`);
        for (const g of groups) assert.deepEqual(matchingProjections(projections, g.pattern).map((p) => p.name), g.projections.map((p) => p.name), `${family} by ${by}: ${g.pattern}`);
      }
      model.dispose();
    }
  });

  it('writes a hybrid config that ternarize --precision-from, eval and train --config take', async () => {
    const out = join(root, 'hybrid', 'hybrid.json');
    const r = await ternlm(['sensitivity', '--model', fragile, '--text', text, '--by', 'projection', '--budget-bits', '4', '--out', out, '--threads', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as SensitivityJSON;
    assert.equal(report.ranked[0].pattern, FRAGILE);
    assert.equal(report.config, out);
    const config = loadTrainConfig(out);
    assert.deepEqual('precisionOverrides' in config.model && config.model.precisionOverrides, report.precisionOverrides);

    const ckpt = join(root, 'hybrid', 'ckpt.safetensors');
    const t = await ternlm(['ternarize', '--model', fragile, '--precision-from', out, '--out', ckpt, '--text', text, '--threads', '1', '--json']);
    assert.equal(t.code, 0, t.stderr);
    const tern = JSON.parse(t.stdout) as { bpb: { ternarized: number } };
    assert.ok(Math.abs(tern.bpb.ternarized - report.hybrid.bpb) < 1e-9, `ternarize measured ${tern.bpb.ternarized}, sensitivity ${report.hybrid.bpb}`);
    const ev = await ternlm(['eval', '--model', ckpt, '--text', text, '--threads', '1', '--json']);
    assert.equal(ev.code, 0, ev.stderr);
    assert.ok(Math.abs((JSON.parse(ev.stdout) as { bpb: number }).bpb - report.hybrid.bpb) < 1e-9);
    const { model } = loadTrainedModel(ckpt);
    const precisions = new Map(model.bitLayers().map((p) => [p.name, p.layer.opts.precision]));
    model.dispose();
    for (const kept of report.hybrid.kept) assert.equal(precisions.get(kept), 'int8', kept);
    assert.equal([...precisions.values()].filter((p) => p === 'ternary').length, 21 - report.hybrid.kept.length);

    const run = join(root, 'hybrid-run');
    const tr = await ternlm(['train', '--config', out, '--data', data, '--out', run, '--steps', '2', '--threads', '1', '--set', 'batchSize=2', '--set', 'sampleTokens=0', '--set', 'evalBatches=1', '--set', 'report=false']);
    assert.equal(tr.code, 0, tr.stderr);
    const trainedConfig = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as { model: { precisionOverrides: Record<string, string> } };
    assert.deepEqual(trainedConfig.model.precisionOverrides, report.precisionOverrides);
  });

  describe('refusals: one line, nothing written', () => {
    const refused = async (args: string[], pattern: RegExp): Promise<void> => {
      const out = join(root, 'refused', 'hybrid.json');
      assertRefused(await ternlm(['sensitivity', '--out', out, '--threads', '1', ...args]), pattern);
      assert.ok(!existsSync(join(root, 'refused')), 'nothing written');
    };

    it('a model with no float projections', async () => {
      const ternary = join(root, 'all-ternary.safetensors');
      const t = await ternlm(['ternarize', '--model', trained, '--out', ternary, '--text', text, '--threads', '1']);
      assert.equal(t.code, 0, t.stderr);
      await refused(['--model', ternary, '--text', text], /every projection of .*all-ternary\.safetensors is ternary already — sensitivity measures a float model/);
    });

    it('a text the tokenizer cannot encode, an empty text', async () => {
      // A float model whose tokenizer lowercases: mixed-case text does not come back from its tokens.
      const lower = join(root, 'tok-lower.json');
      const tok = await ternlm(['tokenizer', 'train', '--input', text, '--vocab', '280', '--lowercase', '--out', lower]);
      assert.equal(tok.code, 0, tok.stderr);
      const meta = readCheckpointMeta(trained);
      const lowerTokenizer = loadTokenizer(lower);
      const config = checkpointTrainConfig(meta);
      const model = createModel({ ...config.model, vocabSize: lowerTokenizer.vocabSize } as ModelConfig, new Rng(1));
      const ckpt = join(root, 'lower.safetensors');
      saveStepZeroCheckpoint(ckpt, model, config, lowerTokenizer.toJSON(), null);
      model.dispose();
      await refused(['--model', ckpt, '--text', text], /stories\.txt, document 1: the model's bpe tokenizer cannot encode this text — its tokens do not decode back to it \(a model trained on lowercased text: add --lowercase\)/);
      const empty = join(root, 'empty.txt');
      writeFileSync(empty, '');
      await refused(['--model', fragile, '--text', empty], /empty\.txt has no text to score/);
    });

    it('an unknown --by, and ternarize --precision-from with --layers or a file without precisionOverrides', async () => {
      await refused(['--model', fragile, '--text', text, '--by', 'block'], /--by must be layer, kind or projection, got 'block'/);
      const ckpt = join(root, 'refused', 'ckpt.safetensors');
      const hybrid = join(root, 'given.json');
      writeFileSync(hybrid, JSON.stringify({ model: { family: 'bitnet', precision: 'fp32', precisionOverrides: { '*': 'ternary' } } }));
      assertRefused(await ternlm(['ternarize', '--model', fragile, '--precision-from', hybrid, '--layers', '*', '--out', ckpt]), /--layers and --precision-from both choose the precisions — give one of them/);
      const plain = join(root, 'plain.json');
      writeFileSync(plain, JSON.stringify({ model: { family: 'bitnet', precision: 'fp32' } }));
      assertRefused(await ternlm(['ternarize', '--model', fragile, '--precision-from', plain, '--out', ckpt]), /plain\.json has no model\.precisionOverrides to take/);
      assert.ok(!existsSync(join(root, 'refused')), 'nothing written');
    });
  });
});
