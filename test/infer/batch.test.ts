// BatchDecoder: replies decoded together equal replies generated alone; the batch holds at most
// maxBatch replies and admits waiting ones as others end; a full queue, an abort while waiting or
// running, refusing the waiting replies, a model without stepBatch, and states freed at the end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rt } from '../../src/core/runtime.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import { BatchDecoder, PREFILL_CHUNK, QueueFullError } from '../../src/infer/batch.js';
import { generate, promptIds } from '../../src/infer/generate.js';
import type { InferenceModel } from '../../src/infer/model.js';
import { loadStories, needsStories, recordedModel } from './fixtures.js';

describe('BatchDecoder on stories260K', { skip: needsStories }, () => {
  let model: InferenceModel;
  let tokenizer: Tokenizer;
  before(async () => {
    ({ model, tokenizer } = await loadStories(1));
  });
  after(() => model.dispose());

  const prompts = ['Once upon a time', 'The cat', 'Tom and Sue', 'One day, a girl', 'The sun was', 'Lily'];
  const idsOf = (text: string): number[] => promptIds(model, tokenizer, text, true);

  it('gives every reply the tokens it gets alone, decoding them together', async () => {
    const m = recordedModel(model, 0);
    const decoder = new BatchDecoder(m, tokenizer, { maxBatch: 8 });
    const requests = prompts.map((p, i) => ({ ids: idsOf(p), opts: { temperature: 0.9, topP: 0.9, seed: 10 + i, maxTokens: 20 + 7 * i, stopTokens: [] } }));
    const pieces: string[][] = requests.map(() => []);
    const together = await Promise.all(requests.map((r, i) => decoder.generate(r.ids, r.opts, (text) => pieces[i].push(text))));
    for (let i = 0; i < requests.length; i++) {
      const alone = await generate(model, tokenizer, requests[i].ids, { ...requests[i].opts, bos: false });
      assert.deepEqual(together[i].tokens, alone.tokens, `reply ${i}`);
      assert.equal(together[i].text, alone.text);
      assert.equal(pieces[i].join(''), alone.text, `reply ${i}'s streamed pieces`);
      assert.equal(together[i].stopReason, 'length');
      assert.equal(together[i].promptTokens, requests[i].ids.length);
    }
    assert.equal(Math.max(...m.sizes), prompts.length, 'all six replies shared passes');
    assert.equal(decoder.active + decoder.pending, 0);
  });

  it('holds at most maxBatch replies, admits waiting ones as others end, and refuses beyond maxWaiting', async () => {
    const m = recordedModel(model, 1);
    const decoder = new BatchDecoder(m, tokenizer, { maxBatch: 2, maxWaiting: 2 });
    const replies = [0, 1, 2, 3].map((i) => decoder.generate(idsOf(prompts[i]), { seed: i, maxTokens: 5 + i, stopTokens: [] }));
    assert.throws(() => decoder.generate(idsOf('x'), {}), (e: unknown) => e instanceof QueueFullError && /2 requests are already waiting/.test(e.message));
    const results = await Promise.all(replies);
    results.forEach((r, i) => assert.equal(r.tokens.length, 5 + i));
    assert.equal(Math.max(...m.sizes), 2);
    assert.ok(m.sizes.filter((n) => n === 2).length >= 4, `batch sizes ${m.sizes.join(' ')}`);
  });

  it('an abort while waiting leaves the queue with no tokens; an abort while running ends the reply', async () => {
    const decoder = new BatchDecoder(recordedModel(model, 1), tokenizer, { maxBatch: 1 });
    const stopRunning = new AbortController(), stopWaiting = new AbortController();
    let started = 0;
    const running = decoder.generate(idsOf('Once'), { maxTokens: 400, stopTokens: [], signal: stopRunning.signal, onStart: () => started++ }, () => {
      if (!stopWaiting.signal.aborted) stopWaiting.abort();
      else stopRunning.abort();
    });
    const waiting = decoder.generate(idsOf('Once'), { maxTokens: 400, signal: stopWaiting.signal, onStart: () => started++ });
    const w = await waiting;
    assert.deepEqual([w.tokens.length, w.stopReason], [0, 'aborted']);
    const r = await running;
    assert.equal(r.stopReason, 'aborted');
    assert.ok(r.tokens.length >= 2 && r.tokens.length < 10, `${r.tokens.length} tokens`);
    assert.equal(started, 1, 'the aborted waiting reply never started');
  });

  it('reads a long prompt a chunk a pass while the others go on decoding', async () => {
    const decoder = new BatchDecoder(recordedModel(model, 0), tokenizer);
    let othersTokens = 0, atStart = -1, atFirst = -1;
    const other = decoder.generate(idsOf('Once'), { maxTokens: 200, stopTokens: [] }, () => othersTokens++);
    await new Promise((resolve) => setImmediate(resolve)); // the first pass admits it
    const long = [...idsOf('x'), ...Array.from({ length: 5 * PREFILL_CHUNK }, (_, i) => 10 + (i % 300))];
    const longReply = decoder.generate(long, { maxTokens: 3, stopTokens: [], seed: 5, onStart: () => (atStart = othersTokens) }, () => {
      if (atFirst < 0) atFirst = othersTokens;
    });
    const [, r] = await Promise.all([other, longReply]);
    assert.equal(r.tokens.length, 3);
    assert.ok(atFirst - atStart >= 4, `the other reply got ${atFirst - atStart} tokens while a ${long.length}-token prompt was read`);
    const alone = await generate(model, tokenizer, long, { maxTokens: 3, stopTokens: [], bos: false, seed: 5 });
    assert.deepEqual(r.tokens, alone.tokens, 'read in chunks, the prompt gives the reply it gives read at once');
  });

  it('refuseWaiting rejects the waiting replies and lets the running one finish', async () => {
    const decoder = new BatchDecoder(recordedModel(model, 1), tokenizer, { maxBatch: 1 });
    const running = decoder.generate(idsOf('Once'), { maxTokens: 20, stopTokens: [] });
    const waiting = decoder.generate(idsOf('Once'), { maxTokens: 20 });
    await new Promise((resolve) => setImmediate(resolve)); // the first pass admits the first reply
    assert.deepEqual([decoder.active, decoder.pending], [1, 1]);
    decoder.refuseWaiting(new Error('shutting down'));
    await assert.rejects(waiting, /shutting down/);
    assert.equal((await running).tokens.length, 20);
  });

  it('decodes with a model that has no stepBatch, one step per reply', async () => {
    const m = recordedModel(model, 0, false);
    const decoder = new BatchDecoder(m, tokenizer);
    const [a, b] = await Promise.all([decoder.generate(idsOf('The cat'), { seed: 1, maxTokens: 12, stopTokens: [] }), decoder.generate(idsOf('Lily'), { seed: 2, maxTokens: 12, stopTokens: [] })]);
    assert.deepEqual([a.tokens.length, b.tokens.length], [12, 12]);
    assert.ok(m.sizes.every((n) => n === 1));
  });

  it('reports a bad reply to its caller only, and frees every state', async () => {
    const decoder = new BatchDecoder(model, tokenizer);
    const inUse = rt().heap.stats().inUse;
    const good = decoder.generate(idsOf('Once'), { maxTokens: 30, stopTokens: [] });
    let pieces = 0;
    await assert.rejects(decoder.generate(idsOf('Once'), { maxTokens: 30, stopTokens: [] }, () => {
      if (++pieces === 3) throw new Error('the client callback failed');
    }), /the client callback failed/);
    await assert.rejects(decoder.generate(idsOf('Once'), { maxTokens: 0 }), /max tokens must be a positive integer/);
    await assert.rejects(decoder.generate(idsOf('x '.repeat(600)), {}), /context holds 512/);
    assert.equal((await good).tokens.length, 30);
    assert.equal(rt().heap.stats().inUse, inUse, 'every state was freed');
  });
});
