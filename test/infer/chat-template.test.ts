// Conversation with a chat template: what the model is fed is exactly the training rendering of
// the conversation (data/chat.ts), the reply stops at <|end|>, which closes the turn, old turns
// are dropped whole (a system message stays), /clear starts again, and a tokenizer without a
// template keeps the plain format.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { chatTokenIds, renderConversation, withChatTokens, type ChatMessage } from '../../src/data/chat.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { Conversation } from '../../src/infer/conversation.js';
import type { InferenceModel, InferenceState } from '../../src/infer/model.js';

const bytes = (s: string): number[] => Array.from(new TextEncoder().encode(s));

interface ScriptedState extends InferenceState {
  pos: number;
  tokens: number[];
}

/**
 * A model that answers every <|assistant|> with `reply` and then <|end|> (and 'z' after that or
 * before any assistant turn); it records what it was fed.
 */
class ScriptedModel implements InferenceModel<ScriptedState> {
  readonly family = 'scripted';
  readonly config = {};
  readonly vocabSize: number;
  constructor(private readonly tok: Tokenizer, readonly contextLength: number, private readonly reply: number[]) {
    this.vocabSize = tok.vocabSize;
  }
  newState(): ScriptedState {
    return { pos: 0, tokens: [], dispose: () => {} };
  }
  reset(state: ScriptedState): void {
    state.pos = 0;
    state.tokens = [];
  }
  step(state: ScriptedState, token: number): Float32Array {
    state.tokens.push(token);
    state.pos++;
    const { assistant, end } = chatTokenIds(this.tok);
    const since = state.tokens.length - 1 - state.tokens.lastIndexOf(assistant);
    const script = [...this.reply, end];
    const next = state.tokens.includes(assistant) && since < script.length ? script[since] : 'z'.charCodeAt(0);
    const logits = new Float32Array(this.vocabSize);
    logits[next] = 10;
    return logits;
  }
  prefill(state: ScriptedState, tokens: ArrayLike<number>): Float32Array {
    let logits: Float32Array = new Float32Array(this.vocabSize);
    for (let i = 0; i < tokens.length; i++) logits = this.step(state, tokens[i]);
    return logits;
  }
  dispose(): void {}
}

/** The Conversation's state (what the model has consumed). */
const fed = (chat: Conversation): number[] => (chat as unknown as { state: ScriptedState }).state.tokens;

describe('Conversation with a chat template', () => {
  const tok = withChatTokens(new BpeTokenizer(new Int32Array(0)));
  const ids = chatTokenIds(tok);

  it('feeds the training rendering of the conversation and stops each reply at <|end|>', async () => {
    const chat = new Conversation(new ScriptedModel(tok, 1000, bytes('ok')), tok, { temperature: 0, maxTokens: 20 });
    assert.equal(chat.templated, true);
    const first = await chat.reply('Hi');
    assert.equal(first.text, 'ok');
    assert.equal(first.stopReason, 'stop');
    assert.deepEqual(fed(chat), [tok.eotId, ids.user, ...bytes('Hi'), ids.end, ids.assistant, ...bytes('ok')]);
    await chat.reply('Q?');
    const messages: ChatMessage[] = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'Q?' }, { role: 'assistant', content: 'ok' }];
    const rendered = renderConversation(tok, messages).tokens;
    assert.deepEqual([...chat.tokenIds], rendered, 'the remembered conversation ends with the reply\'s <|end|>');
    assert.deepEqual(fed(chat), rendered.slice(0, -1), 'all but the closing <|end|>, which the next turn feeds');
  });

  it('closes a reply cut by --max-tokens with <|end|> too', async () => {
    const chat = new Conversation(new ScriptedModel(tok, 1000, bytes('long reply')), tok, { temperature: 0, maxTokens: 3 });
    const r = await chat.reply('Hi');
    assert.equal(r.text, 'lon');
    assert.deepEqual(chat.tokenIds.slice(-4), [...bytes('lon'), ids.end]);
  });

  it('drops whole old turns when the context fills, keeping the system message; /clear starts again', async () => {
    const chat = new Conversation(new ScriptedModel(tok, 40, bytes('ok')), tok, { temperature: 0, maxTokens: 4, system: 'S' });
    const start = [tok.eotId, ids.system, ...bytes('S'), ids.end];
    const messages = ['one', 'two', 'three', 'four', 'five', 'six'];
    for (const m of messages) await chat.reply(m);
    assert.ok(chat.turns < messages.length, 'some turns were forgotten');
    const kept = messages.slice(messages.length - chat.turns).flatMap((m): ChatMessage[] => [{ role: 'user', content: m }, { role: 'assistant', content: 'ok' }]);
    const expected = [...start, ...renderConversation(tok, kept).tokens.slice(1)];
    assert.deepEqual([...chat.tokenIds], expected);
    assert.deepEqual(fed(chat), expected.slice(0, -1), 'the state was rebuilt from the kept turns');
    chat.clear();
    await chat.reply('again');
    assert.deepEqual([...chat.tokenIds], [...start, ...renderConversation(tok, [{ role: 'user', content: 'again' }, { role: 'assistant', content: 'ok' }]).tokens.slice(1)]);
  });

  it('keeps the plain format for a tokenizer without a template, and refuses a system message there', async () => {
    const plain = new BpeTokenizer(new Int32Array(0));
    const chat = new Conversation(new ScriptedModel(tok, 1000, []), plain, { temperature: 0, maxTokens: 2 });
    assert.equal(chat.templated, false);
    await chat.reply('Hi');
    assert.deepEqual(fed(chat), [plain.eotId, ...bytes('Hi'), 'z'.charCodeAt(0)]);
    assert.throws(() => new Conversation(new ScriptedModel(tok, 1000, []), plain, { system: 'S' }), /system message needs a model with a chat template/);
  });
});
