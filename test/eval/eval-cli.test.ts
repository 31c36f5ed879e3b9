// `ternlm eval` through the real CLI: a checkpoint and its export give the same scores on every
// task; the loss falls with training; bad input is refused in one line with nothing written.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { assertRefused, snapshotTree, ternlm } from '../cli/run-cli.js';
import { prepareTinyDataset, TINY_MODEL } from '../cli/tiny-data.js';

describe('ternlm eval', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-eval-cli-'));
  let data: string, corpus: string;
  const ckpt = join(root, 'run', 'ckpt.safetensors');
  const early = join(root, 'early', 'ckpt.safetensors');
  const exported = join(root, 'model.safetensors');
  const text = join(root, 'stories.txt');
  const pairs = join(root, 'pairs.jsonl');
  const choices = join(root, 'choices.jsonl');
  const evalJson = async (...args: string[]): Promise<Record<string, unknown>> => {
    const r = await ternlm(['eval', ...args, '--json', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  before(async () => {
    ({ data, corpus } = await prepareTinyDataset(root, 5));
    for (const [out, steps] of [[join(root, 'early'), '2'], [join(root, 'run'), '60']]) {
      const r = await ternlm(['train', '--data', data, '--out', out, '--steps', steps, '--threads', '1', ...TINY_MODEL]);
      assert.equal(r.code, 0, r.stderr);
    }
    const ex = await ternlm(['export', '--model', ckpt, '--out', exported, '--float', 'f32']);
    assert.equal(ex.code, 0, ex.stderr);
    // Documents longer than the 32-token context, so the sliding window is exercised.
    const stories = readFileSync(corpus, 'utf8').split('<|endoftext|>').slice(0, 12);
    writeFileSync(text, stories.join('<|endoftext|>'));
    writeFileSync(pairs, [
      { sentence_good: 'The cat was happy.', sentence_bad: 'The cat were happy.', UID: 'agreement', linguistics_term: 'agreement' },
      { sentence_good: 'Lily and Tom played in the park all day long with a big red ball and a little dog.', sentence_bad: 'Lily and Tom plays in the park all day long with a big red ball and a little dog.', UID: 'agreement_long', linguistics_term: 'agreement' },
      { sentence_good: 'She gave him a toy.', sentence_bad: 'Her gave him a toy.', UID: 'case', linguistics_term: 'case' },
    ].map((p) => JSON.stringify(p)).join('\n') + '\n');
    writeFileSync(choices, [
      { ctx: 'Once upon a time, there was a little girl. She', endings: ['liked to play.', 'blue the of.', 'ran ran ran ran.'], label: 0 },
      { ctx: 'The dog saw a ball. The dog', endings: ['table.', 'wanted to play with the ball.'], label: '1' },
    ].map((p) => JSON.stringify(p)).join('\n') + '\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('a checkpoint and its export give the same score for every task', async () => {
    const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a)), `${what}: ${a} vs ${b}`);
    const [t1, t2] = [await evalJson('--model', ckpt, '--text', text, '--stride', '8'), await evalJson('--model', exported, '--text', text, '--stride', '8')];
    for (const k of ['loss', 'bpb', 'ppl'] as const) close(t1[k] as number, t2[k] as number, `text ${k}`);
    assert.equal(t1.tokens, t2.tokens);
    assert.equal(t1.documents, 12);
    assert.equal(t1.stride, 8);
    const out1 = join(root, 'pairs-ckpt.json'), out2 = join(root, 'pairs-export.json');
    await evalJson('--model', ckpt, '--task', 'minimal-pairs', '--data', pairs, '--out', out1);
    await evalJson('--model', exported, '--task', 'minimal-pairs', '--data', pairs, '--out', out2);
    const [p1, p2] = [JSON.parse(readFileSync(out1, 'utf8')), JSON.parse(readFileSync(out2, 'utf8'))];
    assert.equal(p1.pairs.length, 3);
    p1.pairs.forEach((r: { good: number; bad: number }, i: number) => {
      close(r.good, p2.pairs[i].good, `pair ${i} good`);
      close(r.bad, p2.pairs[i].bad, `pair ${i} bad`);
    });
    assert.deepEqual(p1.perTerm.map((t: { name: string; pairs: number }) => [t.name, t.pairs]), [['agreement', 2], ['case', 1]]);
    const [c1, c2] = [await evalJson('--model', ckpt, '--task', 'multiple-choice', '--data', choices), await evalJson('--model', exported, '--task', 'multiple-choice', '--data', choices)];
    assert.equal(c1.items, 2);
    assert.deepEqual([c1.acc, c1.acc_norm], [c2.acc, c2.acc_norm]);
  });

  it('minimal pairs read from a .parquet file (the hub format) score as the same pairs from .jsonl', async () => {
    const rows = readFileSync(pairs, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const column = (name: string) => ({ name, data: rows.map((r) => r[name]), type: 'STRING' as const });
    const parquet = join(root, 'pairs.parquet');
    writeFileSync(parquet, new Uint8Array(parquetWriteBuffer({ columnData: ['sentence_good', 'sentence_bad', 'UID', 'linguistics_term'].map(column), rowGroupSize: 2 })));
    const [fromJsonl, fromParquet] = [join(root, 'from-jsonl.json'), join(root, 'from-parquet.json')];
    await evalJson('--model', ckpt, '--task', 'minimal-pairs', '--data', pairs, '--out', fromJsonl);
    await evalJson('--model', ckpt, '--task', 'minimal-pairs', '--data', parquet, '--out', fromParquet);
    const scores = (f: string) => JSON.parse(readFileSync(f, 'utf8')).pairs.map((p: { good: number; bad: number; term: string }) => [p.good, p.bad, p.term]);
    assert.deepEqual(scores(fromParquet), scores(fromJsonl));
    assert.match(JSON.parse(readFileSync(fromParquet, 'utf8')).pairs[2].where, /pairs\.parquet row 2$/);
  });

  it('training lowers the bits per byte of the stories it learns from', async () => {
    const before = await evalJson('--model', early, '--text', text);
    const trained = await evalJson('--model', ckpt, '--text', text);
    assert.ok((trained.bpb as number) < (before.bpb as number) - 0.3, `bits per byte ${before.bpb} after 2 steps, ${trained.bpb} after 60`);
  });

  it('the summary names the score; a prepared folder scores its val split', async () => {
    const r = await ternlm(['eval', '--model', ckpt, '--text', text, '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /12 documents, [\d,]+ bytes, [\d,]+ tokens\nloss \d\.\d{4} nats\/token · perplexity [\d.]+ · \d\.\d{4} bits per byte/);
    const split = await evalJson('--model', ckpt, '--data', data);
    assert.equal(split.task, 'split');
    assert.ok((split.bpb as number) > 0 && (split.tokens as number) > 0);
  });

  it('bad input is refused in one line naming the problem, nothing written', async () => {
    const bad = (name: string, content: string): string => {
      const p = join(root, name);
      writeFileSync(p, content);
      return p;
    };
    const notJson = bad('not-json.jsonl', '{"sentence_good": "A cat.", "sentence_bad": "A cats."}\n{"sentence_good": "oops"\n');
    const noField = bad('no-field.jsonl', '{"sentence_good": "A cat."}\n');
    const empty = bad('empty.jsonl', '\n\n');
    const badLabel = bad('bad-label.jsonl', '{"ctx": "A", "endings": ["b", "c"], "label": 2}\n');
    const otherTok = join(root, 'other-tok.json');
    assert.equal((await ternlm(['tokenizer', 'train', '--input', corpus, '--vocab', '280', '--out', otherTok])).code, 0);
    const out = join(root, 'never.json');
    const before = snapshotTree(root);
    const refused = async (args: string[], pattern: RegExp): Promise<void> => assertRefused(await ternlm(['eval', '--model', ckpt, ...args, '--out', out, '--threads', '1']), pattern);
    await refused(['--task', 'minimal-pairs', '--data', notJson], /not-json\.jsonl:2 is not valid JSON/);
    await refused(['--task', 'minimal-pairs', '--data', noField], /no-field\.jsonl:1 has no field "sentence_bad"/);
    await refused(['--task', 'minimal-pairs', '--data', empty], /empty\.jsonl has no items — it is empty/);
    await refused(['--task', 'multiple-choice', '--data', badLabel], /bad-label\.jsonl:1: field "label" must be the index of the right ending \(0 to 1\), got 2/);
    await refused(['--text', text, '--tokenizer', otherTok], /is not the tokenizer .* was trained with/);
    await refused(['--data', pairs], /--task minimal-pairs or --task multiple-choice/);
    await refused(['--data', text], /is text: score it with --text/);
    await refused(['--text', join(root, 'missing.txt')], /input .*missing\.txt does not exist/);
    await refused(['--text', text, '--stride', '33'], /stride must be a whole number from 1 to the model's context \(32\)/);
    await refused(['--task', 'ranking', '--data', pairs], /unknown --task 'ranking'/);
    assert.deepEqual(snapshotTree(root), before);
    assert.ok(!existsSync(out));
  });
});
