// The scorers against log-probabilities computed independently: a llama2.c model through the
// plain full-recompute reference forward (test/infer/reference-llama.ts), a FlashLM through its
// own one-token-at-a-time inference engine; the sliding windows by their coverage property.
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initRuntime } from '../../src/core/runtime.js';
import { Rng } from '../../src/core/rng.js';
import { expandInputs } from '../../src/data/inputs.js';
import { openScoringModel } from '../../src/eval/load.js';
import { readMinimalPairs, scoreMinimalPairs } from '../../src/eval/minimal-pairs.js';
import { readChoiceItems, scoreMultipleChoice } from '../../src/eval/multiple-choice.js';
import { BatchedScorer, SteppedScorer } from '../../src/eval/scorer.js';
import { scoreSequences, windowsOf } from '../../src/eval/sequences.js';
import { readTextDocuments, scoreText } from '../../src/eval/text.js';
import { FLASHLM_DEFAULTS, FlashLM, type FlashLMConfig } from '../../src/models/flashlm.js';
import { FlashLMInference } from '../../src/infer/flashlm.js';
import { exportPacked, openExport } from '../../src/infer/packed.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { logSoftmax } from '../infer/logprobs.js';
import { needsStories, tempDir, TOK512, writeTinyLlama2c } from '../infer/fixtures.js';
import { readRefModel, referenceLogits, type RefModel } from '../infer/reference-llama.js';

/** Sum of -log p(tokens[j] | tokens[<j]) for j >= from, each target's history starting at start(j). */
function referenceNats(m: RefModel, tokens: number[], from: number, start: (j: number) => number): number {
  let nats = 0;
  for (let j = from; j < tokens.length; j++) {
    const window = tokens.slice(start(j), j);
    const logits = referenceLogits(m, window);
    nats -= logSoftmax(logits[logits.length - 1])[tokens[j]];
  }
  return nats;
}

/** The first input of the window that scores target j. */
function windowStart(n: number, from: number, context: number, stride: number): (j: number) => number {
  const ws = windowsOf(n, from, context, stride);
  return (j) => ws.find((w) => j >= w.scoreFrom && j <= w.end)!.start;
}

describe('sliding windows', () => {
  it('score every target from `from` on exactly once, with context-stride+1 tokens of history after the first window', () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 500; trial++) {
      const context = 1 + rng.int(40), stride = 1 + rng.int(context), n = 2 + rng.int(150), from = 1 + rng.int(n - 1);
      const seen = new Array<number>(n).fill(0);
      for (const w of windowsOf(n, from, context, stride)) {
        assert.ok(w.end - w.start <= context && w.start >= 0 && w.end <= n - 1, JSON.stringify({ w, context, n }));
        for (let j = Math.max(w.scoreFrom, w.start + 1); j <= w.end; j++) {
          seen[j]++;
          assert.ok(w.start === 0 || j - w.start >= context - stride + 1, `target ${j} has ${j - w.start} tokens of history (${JSON.stringify({ context, stride, n, from })})`);
        }
      }
      for (let j = 0; j < n; j++) assert.equal(seen[j], j >= from ? 1 : 0, `target ${j} of ${n}, from ${from}, context ${context}, stride ${stride}`);
    }
  });
});

describe('scorers against independent log-probabilities', () => {
  const { dir, cleanup } = tempDir('ternlm-eval-');
  const modelPath = join(dir, 'tiny.bin');
  let ref: RefModel;

  before(async () => {
    await initRuntime({ threads: 2 });
    // A llama2.c model with a context of 8 tokens, so the test's sentences need sliding windows.
    writeTinyLlama2c(modelPath, { dim: 16, hidden: 32, layers: 2, heads: 2, kvHeads: 1, vocab: 512, seqLen: 8, unshared: false }, 7);
    if (needsStories === false) copyFileSync(TOK512, join(dir, 'tok512.bin'));
    writeFileSync(join(dir, 'bytes.json'), JSON.stringify(new BpeTokenizer(new Int32Array(0)).toJSON()));
    ref = readRefModel(modelPath);
  });
  after(cleanup);

  it('stepped scorer: sequences in one batch, longer than the context, equal the reference window by window', () => {
    const m = openScoringModel(modelPath, join(dir, 'bytes.json'));
    try {
      assert.ok(m.scorer instanceof SteppedScorer);
      const rng = new Rng(5);
      const seqs = [3, 8, 9, 21].map((n) => Array.from({ length: n }, () => 3 + rng.int(500)));
      const froms = [1, 1, 4, 10];
      for (const stride of [1, 3, 8]) {
        const got = scoreSequences(m.scorer, seqs.map((s, i) => ({ tokens: Int32Array.from(s), from: froms[i] })), { stride, tokensPerPass: 16 });
        seqs.forEach((s, i) => {
          const want = referenceNats(ref, s, froms[i], windowStart(s.length, froms[i], 8, stride));
          assert.equal(got[i].tokens, s.length - froms[i]);
          assert.ok(Math.abs(got[i].nats - want) < 1e-4 * Math.max(1, Math.abs(want)), `sequence ${i}, stride ${stride}: ${got[i].nats} vs ${want}`);
        });
      }
    } finally {
      m.scorer.dispose();
    }
  });

  it('text, minimal pairs and multiple choice count exactly the tokens their rules name', { skip: needsStories }, async () => {
    const m = openScoringModel(modelPath);
    const tok = m.tokenizer;
    try {
      // Text: two documents; each scored from BOS, its end (the next BOS) counted, separators' bytes not.
      const textFile = join(dir, 'docs.txt');
      writeFileSync(textFile, 'Once upon a time there was a cat.\n<|endoftext|>\nThe dog ran to the big red ball in the park.\n');
      const docs = await readTextDocuments(expandInputs([textFile]), { kind: 'literal', text: '<|endoftext|>' }, false);
      assert.deepEqual(docs.map((d) => d.text), ['Once upon a time there was a cat.', 'The dog ran to the big red ball in the park.']);
      const text = scoreText(m.scorer, tok, m.startToken, docs, { stride: 4 });
      let nats = 0, tokens = 0;
      for (const d of docs) {
        const ids = [m.startToken, ...tok.encode(d.text), m.startToken];
        nats += referenceNats(ref, ids, 1, windowStart(ids.length, 1, 8, 4));
        tokens += ids.length - 1;
      }
      assert.equal(text.tokens, tokens);
      assert.equal(text.bytes, Buffer.byteLength(docs[0].text) + Buffer.byteLength(docs[1].text));
      assert.ok(Math.abs(text.nats - nats) < 1e-4 * nats);
      assert.ok(Math.abs(text.bpb - nats / Math.LN2 / text.bytes) < 1e-6);

      // Minimal pairs: the sentence after BOS, no end token.
      const pairsFile = join(dir, 'pairs.jsonl');
      const pairs = [['The cat sat on the mat.', 'The cat sit on the mat.', 'agreement'], ['A big dog ran home.', 'A big dog runned home.', 'past'], ['She saw them.', 'She saw they.', 'agreement']];
      writeFileSync(pairsFile, pairs.map(([g, b, t], i) => JSON.stringify({ sentence_good: g, sentence_bad: b, UID: `u${i}`, linguistics_term: t })).join('\n') + '\n');
      const mp = scoreMinimalPairs(m.scorer, tok, m.startToken, await readMinimalPairs(expandInputs([pairsFile]), false), { stride: 3 });
      pairs.forEach(([g, b], i) => {
        const lp = (s: string): number => {
          const ids = [m.startToken, ...tok.encode(s)];
          return -referenceNats(ref, ids, 1, windowStart(ids.length, 1, 8, 3));
        };
        assert.ok(Math.abs(mp.items[i].good - lp(g)) < 1e-4 * Math.abs(lp(g)));
        assert.ok(Math.abs(mp.items[i].bad - lp(b)) < 1e-4 * Math.abs(lp(b)));
        assert.equal(mp.items[i].correct, lp(g) > lp(b));
      });
      assert.deepEqual(mp.perTerm.map((t) => [t.name, t.pairs]), [['agreement', 2], ['past', 1]]);
      assert.equal(mp.accuracy, mp.items.filter((r) => r.correct).length / 3);

      // Multiple choice: only the ending's tokens count, given BOS and the context.
      const mcFile = join(dir, 'mc.jsonl');
      const item = { ctx: 'The girl went to the park and', endings: ['played with her ball.', 'the sky sky sky sky.', 'ate a red apple with her mom.'], label: '2' };
      writeFileSync(mcFile, JSON.stringify(item) + '\n');
      const mc = scoreMultipleChoice(m.scorer, tok, m.startToken, await readChoiceItems(expandInputs([mcFile]), false), { stride: 4 });
      const context = [m.startToken, ...tok.encode(item.ctx)];
      const sums = item.endings.map((e) => {
        const ids = [...context, ...tok.encodeContinuation!(` ${e}`)];
        return referenceNats(ref, ids, context.length, windowStart(ids.length, context.length, 8, 4));
      });
      mc.results[0].sums.forEach((s, i) => assert.ok(Math.abs(s - sums[i]) < 1e-4 * sums[i]));
      assert.equal(mc.results[0].label, 2);
      assert.equal(mc.results[0].pred, sums.indexOf(Math.min(...sums)));
    } finally {
      m.scorer.dispose();
    }
  });

  it('batched scorer (training model, every head) equals the FlashLM inference engine on its export, padding and all', async () => {
    const tokenizer = new BpeTokenizer(new Int32Array(0));
    const counts = Array.from({ length: tokenizer.vocabSize }, (_, i) => 1 + ((i * 7919) % 13));
    for (const head of ['softmax', 'hierarchical', 'adaptive'] as const) {
      const config: FlashLMConfig = { ...FLASHLM_DEFAULTS, vocabSize: tokenizer.vocabSize, dim: 32, layers: 2, recurrence: 1, dilations: [1, 2], contextLength: 16, head: { type: head, tied: head === 'softmax' } };
      const model = new FlashLM(config, new Rng(11), counts);
      const path = join(dir, `flash-${head}.safetensors`);
      exportPacked(model, tokenizer.toJSON(), path, { floatDtype: 'f32' });
      const batched = new BatchedScorer(model, 'flashlm');
      const engine = new FlashLMInference(openExport(path));
      const rng = new Rng(2);
      const seqs = [2, 5, 16, 17, 40].map((n) => Int32Array.from({ length: n }, () => rng.int(tokenizer.vocabSize)));
      const got = scoreSequences(batched, seqs.map((tokens) => ({ tokens, from: 1 })), { stride: 5, tokensPerPass: 48 });
      seqs.forEach((s, i) => {
        const start = windowStart(s.length, 1, 16, 5);
        let want = 0;
        for (let j = 1; j < s.length; j++) {
          const st = engine.newState();
          const logits = engine.prefill(st, s.subarray(start(j), j));
          want -= logSoftmax(logits)[s[j]];
          st.dispose();
        }
        assert.ok(Math.abs(got[i].nats - want) < 2e-3 * Math.max(1, want), `${head} head, sequence ${i}: ${got[i].nats} vs ${want}`);
      });
      // The export, rebuilt for batched scoring, gives the checkpoint's numbers.
      const fromExport = openScoringModel(path);
      const again = scoreSequences(fromExport.scorer, seqs.map((tokens) => ({ tokens, from: 1 })), { stride: 5, tokensPerPass: 48 });
      again.forEach((r, i) => assert.ok(Math.abs(r.nats - got[i].nats) < 1e-4 * Math.max(1, got[i].nats), `${head}: export ${r.nats} vs model ${got[i].nats}`));
      fromExport.scorer.dispose();
      engine.dispose();
      batched.dispose();
    }
  });
});
