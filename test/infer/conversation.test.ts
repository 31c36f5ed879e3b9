// Conversation: turns share one state, a full context drops the oldest turns, and what the
// model sees after any of that is exactly the remembered text.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Llama2cTokenizer } from '../../src/data/llama2c-tokenizer.js';
import { Conversation } from '../../src/infer/conversation.js';
import { generate } from '../../src/infer/generate.js';
import type { LlamaModel } from '../../src/infer/llama.js';
import { loadLlama2c } from '../../src/infer/load.js';
import { needsStories, tempDir, TOK512, writeTinyLlama2c } from './fixtures.js';

describe('Conversation', { skip: needsStories }, () => {
  let model: LlamaModel;
  let tok: Llama2cTokenizer;
  let cleanup = (): void => {};
  before(async () => {
    await initRuntime({ threads: 2 });
    const tmp = tempDir();
    cleanup = tmp.cleanup;
    // A random model with tok512's vocabulary and a short context, so that turns overflow it.
    const path = join(tmp.dir, 'tiny.bin');
    writeTinyLlama2c(path, { dim: 16, hidden: 24, layers: 2, heads: 4, kvHeads: 2, vocab: 512, seqLen: 48, unshared: false }, 5);
    model = loadLlama2c(path);
    tok = Llama2cTokenizer.fromFile(TOK512);
  });
  after(() => {
    model?.dispose();
    cleanup();
  });

  /** What a fresh state says greedily after exactly `ids` (the conversation's memory). */
  async function freshGreedy(ids: readonly number[], n: number): Promise<number[]> {
    return (await generate(model, tok, ids, { temperature: 0, maxTokens: n, stopTokens: [], bos: false })).tokens;
  }

  it('keeps turns in one state and drops the oldest when the context would overflow', async () => {
    const chat = new Conversation(model, tok, { temperature: 0, maxTokens: 6, stopTokens: [] });
    try {
      let dropped = false;
      let prevTurns = 0;
      for (let turn = 0; turn < 12; turn++) {
        const before = [...chat.tokenIds];
        const r = await chat.reply(`the cat number ${turn}`);
        assert.equal(r.tokens.length, 6);
        assert.ok(chat.length <= model.contextLength, `turn ${turn}: ${chat.length} tokens`);
        assert.equal(chat.fed, chat.length - 1, 'all but the last reply token are in the state');
        assert.equal(chat.tokenIds[0], tok.bosId);
        if (chat.turns <= prevTurns) {
          dropped = true;
          // The remembered tokens are BOS, a tail of the old ones, this message and its reply.
          const msg = tok.encodeContinuation(`\nthe cat number ${turn}`);
          const oldTail = chat.tokenIds.slice(1, chat.length - r.tokens.length - msg.length);
          assert.ok(oldTail.length < before.length - 1, 'something was forgotten');
          assert.deepEqual(oldTail, before.slice(before.length - oldTail.length));
          assert.deepEqual(chat.tokenIds.slice(1 + oldTail.length, 1 + oldTail.length + msg.length), msg);
        }
        prevTurns = chat.turns;
        // Whatever happened, the reply is what a fresh state gives after the remembered tokens.
        const context = chat.tokenIds.slice(0, chat.length - r.tokens.length);
        assert.deepEqual(r.tokens, await freshGreedy(context, 6), `turn ${turn}`);
      }
      assert.ok(dropped, 'the context overflowed at least once');
    } finally {
      chat.dispose();
    }
  });

  it('clear forgets everything; a too-long message is refused and the chat goes on', async () => {
    const chat = new Conversation(model, tok, { temperature: 0, maxTokens: 5, stopTokens: [] });
    try {
      const first = await chat.reply('hello');
      await chat.reply('and more');
      chat.clear();
      assert.equal(chat.length, 0);
      assert.equal(chat.fed, 0);
      assert.deepEqual((await chat.reply('hello')).tokens, first.tokens);
      const long = 'word '.repeat(60);
      await assert.rejects(chat.reply(long), (e: unknown) => e instanceof TernlmError && /does not fit/.test(e.message));
      assert.equal((await chat.reply('again')).tokens.length, 5);
    } finally {
      chat.dispose();
    }
  });

  it('an aborted reply keeps what was written, and the next turn follows it', async () => {
    const chat = new Conversation(model, tok, { temperature: 0.7, seed: 2, maxTokens: 20, stopTokens: [] });
    try {
      const ac = new AbortController();
      let pieces = 0;
      const r = await chat.reply('tell me', () => {
        if (++pieces === 3) ac.abort();
      }, ac.signal);
      assert.equal(r.stopReason, 'aborted');
      assert.ok(r.tokens.length >= 3 && r.tokens.length < 20);
      assert.deepEqual(chat.tokenIds.slice(-r.tokens.length), r.tokens);
      const next = await chat.reply('go on');
      assert.equal(next.tokens.length, 20);
    } finally {
      chat.dispose();
    }
  });
});
