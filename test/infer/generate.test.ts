// The generation loop on stories260K: streaming text, stop conditions, errors, continuing a
// state; and the UTF-8-safe token-to-text stream on its own.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { Llama2cTokenizer } from '../../src/data/llama2c-tokenizer.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { generate } from '../../src/infer/generate.js';
import type { InferenceModel } from '../../src/infer/model.js';
import { TokenTextStream } from '../../src/infer/text-stream.js';
import { loadStories, needsStories, TOK512 } from './fixtures.js';

describe('TokenTextStream', { skip: needsStories }, () => {
  const tok = needsStories ? null : Llama2cTokenizer.fromFile(TOK512);
  const text = 'A cat 小猫 saw 🌈 and said "héllo".';

  function streamed(t: Tokenizer, ids: number[]): string[] {
    const s = new TokenTextStream(t, tok!.bosId);
    const pieces = ids.map((id) => s.push(id));
    pieces.push(s.flush());
    return pieces;
  }

  it('gives whole characters only, and all of the text', () => {
    const ids = tok!.encode(text);
    const pieces = streamed(tok!, ids);
    assert.ok(ids.length > [...text].length - 10, 'multi-byte characters fall back to byte tokens');
    assert.ok(pieces.some((p) => p === ''), 'a token in the middle of a character gives no text');
    assert.ok(pieces.every((p) => !p.includes('\uFFFD')), 'no replacement characters');
    assert.equal(pieces.join(''), text);
  });

  it('does the same for a tokenizer without decodeToken (re-decoding)', () => {
    const plain: Tokenizer = {
      kind: 'test', vocabSize: tok!.vocabSize, eotId: tok!.eotId,
      encode: (s) => tok!.encode(s), decode: (ids) => tok!.decode(ids), toJSON: () => ({}),
    };
    const pieces = streamed(plain, tok!.encode(text));
    assert.ok(pieces.every((p) => !p.includes('\uFFFD')));
    assert.equal(pieces.join(''), text);
  });
});

describe('generate() on stories260K', { skip: needsStories }, () => {
  let model: InferenceModel;
  let tok: Tokenizer;
  before(async () => {
    ({ model, tokenizer: tok } = await loadStories(2));
  });
  after(() => model?.dispose());

  it('streams pieces that add up to the text of the new tokens', async () => {
    const pieces: string[] = [];
    const r = await generate(model, tok, 'Once upon a time', { temperature: 0.8, seed: 7, maxTokens: 60, stopTokens: [] }, (p) => pieces.push(p));
    assert.equal(r.tokens.length, 60);
    assert.equal(r.stopReason, 'length');
    assert.equal(pieces.join(''), r.text);
    const promptIds = [tok.bosId!, ...tok.encode('Once upon a time')];
    assert.equal(r.promptTokens, promptIds.length);
    assert.equal(r.text, tok.decode([...promptIds, ...r.tokens]).slice(tok.decode(promptIds).length));
  });

  it('greedy decoding is the well-known stories260K continuation and ends at end-of-text', async () => {
    const r = await generate(model, tok, 'Once upon a time', { temperature: 0, maxTokens: 400 });
    assert.ok(r.text.startsWith(', there was a little girl named Lily. She loved to play outside in the park.'), r.text);
    assert.equal(r.stopReason, 'stop');
  });

  it('the same seed gives the same text; another seed another text', async () => {
    const run = async (seed: number): Promise<string> => (await generate(model, tok, 'The dog', { seed, maxTokens: 50, topP: 0.9 })).text;
    const a = await run(1);
    assert.equal(await run(1), a);
    assert.notEqual(await run(2), a);
  });

  it('stops at a stop token without emitting it', async () => {
    const greedy = await generate(model, tok, 'Tom had a ball', { temperature: 0, maxTokens: 5 });
    const r = await generate(model, tok, 'Tom had a ball', { temperature: 0, maxTokens: 5, stopTokens: [greedy.tokens[2]] });
    assert.deepEqual(r.tokens, greedy.tokens.slice(0, 2));
    assert.equal(r.stopReason, 'stop');
  });

  it('stops when the context is full', async () => {
    const prompt = Array.from({ length: 499 }, (_, i) => 300 + (i % 200));
    const r = await generate(model, tok, prompt, { temperature: 1, seed: 3, maxTokens: 100, stopTokens: [] });
    // BOS + 499 prompt tokens fill 500 positions; 12 more are fed, a 13th is sampled from the last.
    assert.equal(r.stopReason, 'context');
    assert.equal(r.tokens.length, 13);
  });

  it('refuses a prompt longer than the context and an id outside the vocabulary', async () => {
    const long = Array.from({ length: 512 }, () => 300);
    await assert.rejects(generate(model, tok, long), (e: unknown) => e instanceof TernlmError && /513 tokens .* holds 512/.test(e.message));
    await assert.rejects(generate(model, tok, [5, 512]), (e: unknown) => e instanceof TernlmError && /prompt token 512/.test(e.message));
    await assert.rejects(generate(model, tok, 'x', { topP: 2 }), (e: unknown) => e instanceof TernlmError && /top-p/.test(e.message));
  });

  it('stops between two tokens when the signal is aborted', async () => {
    const ac = new AbortController();
    let n = 0;
    const r = await generate(model, tok, 'Once', { seed: 1, maxTokens: 200, stopTokens: [], signal: ac.signal }, () => {
      if (++n === 5) ac.abort();
    });
    assert.equal(r.stopReason, 'aborted');
    assert.ok(r.tokens.length >= 5 && r.tokens.length <= 6, `${r.tokens.length} tokens`);
  });

  it('continuing a state is the same as one longer generation (the last token is fed next time)', async () => {
    const whole = await generate(model, tok, 'A bird', { temperature: 0, maxTokens: 30, stopTokens: [] });
    const state = model.newState();
    try {
      const first = await generate(model, tok, 'A bird', { temperature: 0, maxTokens: 12, stopTokens: [], state });
      assert.equal(state.pos, first.promptTokens + 11);
      const rest = await generate(model, tok, [first.tokens.at(-1)!], { temperature: 0, maxTokens: 18, stopTokens: [], state });
      assert.deepEqual([...first.tokens, ...rest.tokens], whole.tokens);
    } finally {
      state.dispose();
    }
  });
});
