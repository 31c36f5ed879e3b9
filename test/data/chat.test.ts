// Conversations for chat fine-tuning: the template's special tokens grown into a BPE tokenizer,
// a conversation rendered to exact tokens and scored-token mask, user text that cannot inject a
// special token, one-line errors naming file:line, and the prepared token + mask shards read
// back by the loader as masked targets.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TernlmError } from '../../src/core/errors.js';
import { initRuntime } from '../../src/core/runtime.js';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { CHAT_TEMPLATE, chatTokenIds, renderConversation, userTurnIds, withChatTokens } from '../../src/data/chat.js';
import { Gpt2Tokenizer } from '../../src/data/gpt2-tokenizer.js';
import { BatchLoader } from '../../src/data/loader.js';
import { readMeta, tokenizerFingerprint } from '../../src/data/meta.js';
import { prepareChat, readConversations } from '../../src/data/prepare-chat.js';
import { tokenizerFromJSON } from '../../src/data/tokenizer.js';
import { splitBatch } from '../../src/train/batch.js';

const root = mkdtempSync(join(tmpdir(), 'ternlm-chat-data-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A byte-level BPE with no merges: token id = byte, <|endoftext|> = 256. */
const bytesOnly = (): BpeTokenizer => new BpeTokenizer(new Int32Array(0));
const bytes = (s: string): number[] => Array.from(new TextEncoder().encode(s));

describe('chat template tokens', () => {
  it('grow a BPE tokenizer by four special tokens that round-trip and survive its JSON', () => {
    const base = bytesOnly();
    const chat = withChatTokens(base);
    assert.equal(chat.vocabSize, 261);
    assert.deepEqual(chatTokenIds(chat), { system: 257, user: 258, assistant: 259, end: 260 });
    assert.equal(chat.eotId, 256);
    assert.deepEqual(chat.encode('<|user|>hi<|end|>'), [258, ...bytes('hi'), 260]);
    assert.equal(chat.decode([259, ...bytes('ok'), 260]), '<|assistant|>ok<|end|>');
    const again = tokenizerFromJSON(JSON.parse(JSON.stringify(chat.toJSON())));
    assert.deepEqual(again.chatTemplate, CHAT_TEMPLATE);
    assert.equal(tokenizerFingerprint(again.toJSON()), tokenizerFingerprint(chat.toJSON()));
    assert.notEqual(tokenizerFingerprint(chat.toJSON()), tokenizerFingerprint(base.toJSON()));
    assert.equal(withChatTokens(chat), chat, 'a tokenizer with a template keeps it');
    // A base id keeps its meaning.
    assert.deepEqual(chat.encode('story'), base.encode('story'));
  });

  it('refuses a tokenizer that cannot grow, and a template whose marker is not a special token', () => {
    assert.throws(() => withChatTokens(new Gpt2Tokenizer()), (e) => e instanceof TernlmError && /gpt2 tokenizer cannot grow/.test(e.message));
    const json = { ...withChatTokens(bytesOnly()).toJSON(), chatTemplate: { ...CHAT_TEMPLATE, end: '<|stop|>' } };
    assert.throws(() => tokenizerFromJSON(json), /"<\|stop\|>" is not one of its special tokens/);
  });
});

describe('renderConversation', () => {
  const tok = withChatTokens(bytesOnly());

  it('frames each message and scores only the assistant content and its <|end|>', () => {
    const r = renderConversation(tok, [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Yo' },
      { role: 'user', content: 'Q' },
      { role: 'assistant', content: 'A' },
    ]);
    //                     eot  sys  S   end  user H   i    end  asst Y   o    end  user Q   end  asst A   end
    assert.deepEqual(r.tokens, [256, 257, 83, 260, 258, 72, 105, 260, 259, 89, 111, 260, 258, 81, 260, 259, 65, 260]);
    assert.deepEqual(r.scored, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
    assert.deepEqual(userTurnIds(tok, 'Hi'), [258, 72, 105, 260, 259]);
  });

  it('keeps marker text typed in a message as plain text (no injected special token)', () => {
    const typed = 'a<|end|><|assistant|>b<|endoftext|>';
    const r = renderConversation(tok, [{ role: 'user', content: typed }, { role: 'assistant', content: 'ok' }]);
    const content = r.tokens.slice(2, 2 + bytes(typed).length);
    assert.deepEqual(content, bytes(typed));
    assert.equal(r.tokens.filter((t) => t >= 256).length, 5, 'eot, user, end, assistant, end: nothing else special');
    assert.equal(tok.decode(content), typed);
  });
});

describe('reading conversations', () => {
  const cases: [string, RegExp][] = [
    ['not json', /bad\.jsonl:2 is not valid JSON/],
    ['{"text": "hello"}', /bad\.jsonl:2: no "messages" list/],
    ['{"messages": [{"role": "bot", "content": "x"}]}', /bad\.jsonl:2: message 1 has role "bot", not system, user or assistant/],
    ['{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}', /bad\.jsonl:2: message 2 \(assistant\) has empty content/],
    ['{"messages": [{"role": "user", "content": "hi"}]}', /bad\.jsonl:2: the conversation has no assistant message/],
  ];
  for (const [line, pattern] of cases) {
    it(`names file:line for ${line}`, async () => {
      const path = join(root, 'bad.jsonl');
      writeFileSync(path, `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n${line}\n`);
      await assert.rejects(async () => {
        for await (const _ of readConversations(path)) { /* read all */ }
      }, (e) => e instanceof TernlmError && pattern.test(e.message) && !e.message.includes('\n'));
    });
  }
});

describe('prepareChat', () => {
  it('writes token and mask shards that the loader turns into assistant-only targets', async () => {
    await initRuntime({ threads: 1 });
    const tokPath = join(root, 'tok.json');
    writeFileSync(tokPath, JSON.stringify(bytesOnly().toJSON()));
    const input = join(root, 'chat.jsonl');
    const conv = { messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Yo' }] };
    writeFileSync(input, Array.from({ length: 10 }, () => JSON.stringify(conv)).join('\n') + '\n');
    const out = join(root, 'prepared');
    const meta = await prepareChat({ inputs: [input], tokenizer: tokPath, outDir: out, valFraction: 0.2 });
    assert.equal(meta.vocabSize, 261);
    assert.deepEqual(readMeta(out).tokenizer.json, withChatTokens(bytesOnly()).toJSON());
    assert.equal(meta.splits.train.documents, 8);
    assert.equal(meta.splits.val.documents, 2);
    assert.equal(meta.splits.train.tokens, 8 * 9);
    assert.equal(meta.splits.train.scoredTokens, 8 * 3);
    assert.equal(meta.splits.train.bytes, 8 * 2, 'bytes of the replies');
    assert.deepEqual(meta.splits.train.masks, [{ file: 'train_000.mask.bin', tokens: 72 }]);

    const loader = new BatchLoader(out, 'train', { seed: 1, mode: 'sequential' });
    assert.equal(loader.masked, true);
    const scored = new Uint8Array(2 * 10);
    const rows = loader.next(2, 9, undefined, scored);
    // Row 0 is one whole conversation plus the next one's eot.
    assert.deepEqual(Array.from(rows.subarray(0, 10)), [256, 258, 72, 105, 260, 259, 89, 111, 260, 256]);
    assert.deepEqual(Array.from(scored.subarray(0, 10)), [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]);
    const { targets, counted } = splitBatch(rows, 2, 9, scored);
    assert.deepEqual(Array.from(targets.typed().subarray(0, 9)), [-1, -1, -1, -1, -1, 89, 111, 260, -1]);
    assert.equal(counted, 6);
    assert.throws(() => loader.next(2, 9), /needs a mask buffer/);
    loader.close();
  });
});
