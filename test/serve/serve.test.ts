// ternlm serve: stop strings on their own, then the server over
// stories260K driven by the official openai client and raw fetch (errors, 24 concurrent
// streams, a client that leaves, a full queue, shutdown), a chat-template model, and the CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { BpeTokenizer } from '../../src/data/bpe-tokenizer.js';
import { chatTokenIds, renderConversation, withChatTokens } from '../../src/data/chat.js';
import type { Tokenizer } from '../../src/data/tokenizer.js';
import type { InferenceModel, InferenceState } from '../../src/infer/model.js';
import { ModelServer } from '../../src/serve/server.js';
import { StopMatcher } from '../../src/serve/stop.js';
import { assertRefused, ternlm } from '../cli/run-cli.js';
import { CLI, loadStories, needsStories, recordedModel, STORIES260K } from '../infer/fixtures.js';

describe('StopMatcher', () => {
  const run = (stops: string[], pieces: string[]): { out: string[]; done: boolean } => {
    const m = new StopMatcher(stops);
    const out = pieces.map((p) => m.push(p));
    if (!m.done) out.push(m.flush());
    return { out, done: m.done };
  };
  it('cuts at a stop string split over pieces, holding back only a possible start', () => {
    assert.deepEqual(run(['END'], ['abc E', 'N', 'Dxyz', 'more']), { out: ['abc ', '', '', ''], done: true });
    assert.deepEqual(run(['END'], ['abc E', 'x']), { out: ['abc ', 'Ex', ''], done: false });
    assert.deepEqual(run(['\n\n', 'Lily'], ['a\n', 'b Li', 'ly!']), { out: ['a', '\nb ', ''], done: true });
    assert.deepEqual(run([], ['a', 'b']), { out: ['a', 'b', ''], done: false });
  });
  it('the earliest of several stop strings wins', () => {
    assert.deepEqual(run(['cd', 'b'], ['abcd']), { out: ['a'], done: true });
  });
});

interface Running { server: ModelServer; base: string; client: OpenAI; logs: string[] }

async function start(model: InferenceModel, tokenizer: Tokenizer, modelName: string, queueLimit?: number, maxBatch?: number): Promise<Running> {
  const logs: string[] = [];
  const server = new ModelServer({ model, tokenizer, modelName, queueLimit, maxBatch, log: (l) => logs.push(l) });
  const { port } = await server.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  return { server, base, client: new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 }), logs };
}

/** POST `body` (an object, or raw text) to `path`; the status and the parsed JSON answer. */
async function post(base: string, path: string, body: unknown, method = 'POST'): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(base + path, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'GET' ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** Read a server-sent event stream to its end; `onFirst` runs at the first content event. */
async function readEvents(res: Response, onFirst?: () => void): Promise<string[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  let first = true;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    if (first && text.includes('"text":"') && onFirst) {
      first = false;
      onFirst();
    }
  }
  return text.split('\n\n').filter((e) => e !== '').map((e) => e.replace(/^data: /, ''));
}

const assertError = (r: { status: number; json: Record<string, any> }, status: number, message: RegExp, param: string | null = null): void => {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type']);
  assert.match(r.json.error.message, message);
  assert.equal(r.json.error.param, param);
};

const GREEDY = ', there was a little girl named Lily. She loved to play outside in the park.';

describe('ternlm serve over stories260K', { skip: needsStories }, () => {
  let model: InferenceModel;
  let tokenizer: Tokenizer;
  let s: Running;
  before(async () => {
    ({ model, tokenizer } = await loadStories(1));
    s = await start(model, tokenizer, 'stories260K');
  });
  after(async () => {
    await s.server.shutdown();
    model.dispose();
  });

  it('lists the model and answers /health', async () => {
    const list = await s.client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['stories260K']);
    assert.equal((await s.client.models.retrieve('stories260K')).owned_by, 'ternlm');
    const health = await post(s.base, '/health', null, 'GET');
    assert.deepEqual(health, { status: 200, json: { status: 'ok', model: 'stories260K', running: 0, waiting: 0 } });
  });

  it('completes a prompt, whole and streamed, with usage', async () => {
    const r = await s.client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
    assert.ok(GREEDY.startsWith(r.choices[0].text) && r.choices[0].text.length > 40, r.choices[0].text);
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.deepEqual(r.usage, { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 });
    const stream = await s.client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: unknown = null;
    for await (const chunk of stream) {
      if (chunk.choices[0]) {
        text += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, r.choices[0].text);
    assert.equal(finish, 'length');
    assert.deepEqual(usage, r.usage);
  });

  it('chats, whole and streamed (plain format: the messages one per line)', async () => {
    const messages = [{ role: 'user' as const, content: 'Once upon a time' }];
    const r = await s.client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 15, temperature: 0.8, seed: 3 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content!.length > 0);
    const stream = await s.client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 15, temperature: 0.8, seed: 3, stream: true });
    let text = '';
    let role = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      role ||= chunk.choices[0]?.delta.role ?? '';
    }
    assert.equal(role, 'assistant');
    assert.equal(text, r.choices[0].message.content);
    const greedy = await s.client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 20, temperature: 0 });
    const plain = await s.client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
    assert.equal(greedy.choices[0].message.content, plain.choices[0].text);
  });

  it('stops at a stop string, whole and streamed', async () => {
    const r = await s.client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: ['Lily', 'xyz'] });
    assert.equal(r.choices[0].text, ', there was a little girl named ');
    assert.equal(r.choices[0].finish_reason, 'stop');
    const stream = await s.client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: 'Lily', stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, r.choices[0].text);
  });

  it('answers bad requests with the status and OpenAI error JSON', async () => {
    const long = 'x '.repeat(600);
    assertError(await post(s.base, '/v1/completions', '{"prompt": '), 400, /not valid JSON/);
    assertError(await post(s.base, '/v1/completions', '[1, 2]'), 400, /must be a JSON object/);
    assertError(await post(s.base, '/v1/completions', { prompt: 5 }), 400, /'prompt' must be a string/, 'prompt');
    assertError(await post(s.base, '/v1/completions', { prompt: 'a', temperature: 'hot' }), 400, /'temperature' must be a number from 0 to 2/, 'temperature');
    assertError(await post(s.base, '/v1/completions', { prompt: 'a', max_tokens: 0 }), 400, /'max_tokens' must be an integer/, 'max_tokens');
    assertError(await post(s.base, '/v1/completions', { prompt: 'a', stream: 'yes' }), 400, /'stream' must be true or false/, 'stream');
    assertError(await post(s.base, '/v1/completions', { prompt: 'a', stop: [1] }), 400, /'stop' must be/, 'stop');
    assertError(await post(s.base, '/v1/chat/completions', { messages: [] }), 400, /'messages' must be a non-empty list/, 'messages');
    assertError(await post(s.base, '/v1/chat/completions', { messages: [{ role: 'robot', content: 'hi' }] }), 400, /'messages\[0\]\.role' must be/, 'messages[0].role');
    assertError(await post(s.base, '/v1/completions', { model: 'gpt-4', prompt: 'a' }), 404, /the model 'gpt-4' does not exist/, 'model');
    assertError(await post(s.base, '/v1/completions', { prompt: long }), 400, /the prompt is 1202 tokens but the model's context holds 512/, 'prompt');
    assertError(await post(s.base, '/v1/chat/completions', { messages: [{ role: 'user', content: long }] }), 400, /context holds 512/, 'messages');
    assertError(await post(s.base, '/v2/nothing', {}), 404, /no route POST \/v2\/nothing/);
    assertError(await post(s.base, '/v1/completions', null, 'GET'), 405, /takes POST, not GET/);
    assertError(await post(s.base, '/v1/models', {}, 'DELETE'), 405, /takes GET, not DELETE/);
    await assert.rejects(s.client.completions.create({ model: 'nope', prompt: 'a' }), (err: unknown) => err instanceof OpenAI.NotFoundError && err.status === 404);
    await assert.rejects(s.client.completions.create({ model: 'stories260K', prompt: long }), (err: unknown) => err instanceof OpenAI.BadRequestError && /context/.test(err.message));
    const ok = await s.client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 3 });
    assert.equal(ok.usage!.completion_tokens, 3, 'still serving after the errors');
  });

  it('serves 24 concurrent streaming clients, each stream intact and its own', async () => {
    const requests = Array.from({ length: 24 }, (_, i) => ({ model: 'stories260K', prompt: ['Once upon a time', 'The cat', 'Tom and Sue'][i % 3], max_tokens: 10 + (i % 7) * 5, temperature: 0.9, seed: 100 + i }));
    const streamed = await Promise.all(requests.map(async (r) => {
      const stream = await s.client.completions.create({ ...r, stream: true });
      let text = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0].text;
        finish = chunk.choices[0].finish_reason ?? finish;
      }
      return { text, finish };
    }));
    for (let i = 0; i < requests.length; i++) {
      const whole = await s.client.completions.create(requests[i]);
      assert.equal(streamed[i].text, whole.choices[0].text, `request ${i}`);
      assert.equal(streamed[i].finish, whole.choices[0].finish_reason, `request ${i}`);
    }
    assert.equal(new Set(streamed.map((r) => r.text)).size > 12, true, 'the seeds give different texts');
  });
});

describe('ternlm serve: concurrent requests share decoding passes', { skip: needsStories }, () => {
  it('decodes eight concurrent requests together, and each gets the reply it gets alone', async () => {
    const { model, tokenizer } = await loadStories(1);
    const recorded = recordedModel(model, 2);
    const s = await start(recorded, tokenizer, 'stories260K');
    try {
      const requests = Array.from({ length: 8 }, (_, i) => ({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, temperature: 1, seed: i }));
      const together = await Promise.all(requests.map((r) => s.client.completions.create(r)));
      assert.ok(Math.max(...recorded.sizes) >= 4, `largest batch ${Math.max(...recorded.sizes)}: the requests were not decoded together`);
      for (let i = 0; i < requests.length; i++) {
        const alone = await s.client.completions.create(requests[i]);
        assert.equal(together[i].choices[0].text, alone.choices[0].text, `request ${i}`);
      }
    } finally {
      await s.server.shutdown();
      model.dispose();
    }
  });
});

describe('ternlm serve: clients that leave, a full queue, shutdown', { skip: needsStories }, () => {
  let model: InferenceModel;
  let tokenizer: Tokenizer;
  before(async () => {
    ({ model, tokenizer } = await loadStories(1));
  });
  after(() => model.dispose());
  const request = { prompt: 'Once upon a time', max_tokens: 400, temperature: 1, seed: 1 };

  it('aborts the generation of a client that disconnects, then serves the next', async () => {
    const s = await start(recordedModel(model, 1), tokenizer, 'slow');
    try {
      const stream = await s.client.completions.create({ ...request, model: 'slow', stream: true });
      for await (const chunk of stream) {
        if (chunk.choices[0].text) break; // leaving the loop aborts the request
      }
      const next = await s.client.completions.create({ model: 'slow', prompt: 'Once', max_tokens: 5, temperature: 0 });
      assert.equal(next.usage!.completion_tokens, 5);
      const gone = s.logs.find((l) => l.includes('client disconnected'));
      assert.ok(gone, s.logs.join('\n'));
      assert.ok(Number(/\+ (\d+) new tokens/.exec(gone)![1]) < 100, gone);
    } finally {
      await s.server.shutdown();
    }
  });

  it('refuses a request beyond the queue with 429', async () => {
    const s = await start(recordedModel(model, 1), tokenizer, 'slow', 1, 1);
    try {
      const leave = new AbortController();
      const running = await fetch(`${s.base}/v1/completions`, { method: 'POST', body: JSON.stringify({ ...request, stream: true }), signal: leave.signal });
      const waiting = post(s.base, '/v1/completions', { prompt: 'Once', max_tokens: 4 });
      while ((await post(s.base, '/health', null, 'GET')).json.waiting < 1) await new Promise((r) => setTimeout(r, 5));
      assertError(await post(s.base, '/v1/completions', { prompt: 'Once', max_tokens: 4 }), 429, /busy: 1 requests are already waiting/);
      leave.abort();
      await running.body?.cancel().catch(() => {});
      assert.equal((await waiting).status, 200);
    } finally {
      await s.server.shutdown();
    }
  });

  it('on shutdown ends an open stream with finish_reason and [DONE], refuses the queued request with 503', async () => {
    const s = await start(recordedModel(model, 1), tokenizer, 'slow', undefined, 1);
    const res = await fetch(`${s.base}/v1/completions`, { method: 'POST', body: JSON.stringify({ ...request, stream: true }) });
    let queued: Promise<{ status: number; json: Record<string, any> }> | null = null;
    let closed: Promise<void> | null = null;
    const events = await readEvents(res, () => {
      queued = post(s.base, '/v1/completions', { prompt: 'Once', max_tokens: 4 });
      setTimeout(() => (closed = s.server.shutdown()), 20);
    });
    assert.equal(events.at(-1), '[DONE]');
    const last = JSON.parse(events.at(-2)!);
    assert.equal(last.choices[0].finish_reason, 'stop');
    const tokens = events.slice(0, -2).map((e) => JSON.parse(e).choices[0].text as string);
    assert.ok(tokens.length > 1 && tokens.length < 300, `${tokens.length} pieces`);
    assertError(await queued!, 503, /shutting down/);
    await closed;
    await assert.rejects(fetch(`${s.base}/health`), 'no longer listening');
  });
});

/** A model that answers with the bytes of 'ok' then <|end|> after <|assistant|>; it records what it was fed. */
function scriptedChatModel(tok: Tokenizer, fed: number[]): InferenceModel {
  const { assistant, end } = chatTokenIds(tok);
  const script = [...new TextEncoder().encode('ok'), end];
  const logitsAfter = (state: { pos: number }, token: number): Float32Array => {
    fed.push(token);
    state.pos++;
    const since = fed.length - 1 - fed.lastIndexOf(assistant);
    const logits = new Float32Array(tok.vocabSize);
    logits[fed.includes(assistant) && since < script.length ? script[since] : 'z'.charCodeAt(0)] = 10;
    return logits;
  };
  return {
    family: 'scripted', config: {}, vocabSize: tok.vocabSize, contextLength: 1000,
    newState: (): InferenceState => ({ pos: 0, dispose: () => {} }),
    reset: (s) => void ((s as { pos: number }).pos = 0),
    step: (s, t) => logitsAfter(s as { pos: number }, t),
    prefill: (s, ids) => {
      let logits: Float32Array = new Float32Array(0);
      for (let i = 0; i < ids.length; i++) logits = logitsAfter(s as { pos: number }, ids[i]);
      return logits;
    },
    dispose: () => {},
  };
}

describe('ternlm serve with a chat-template model', () => {
  it('feeds the training rendering of the messages, then <|assistant|>, and stops at <|end|>', async () => {
    const tok = withChatTokens(new BpeTokenizer(new Int32Array(0)));
    const fed: number[] = [];
    const s = await start(scriptedChatModel(tok, fed), tok, 'chatty');
    try {
      const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi' }, { role: 'assistant' as const, content: 'Hello.' }, { role: 'user' as const, content: 'Q?' }];
      const r = await s.client.chat.completions.create({ model: 'chatty', messages, temperature: 0 });
      assert.equal(r.choices[0].message.content, 'ok');
      assert.equal(r.choices[0].finish_reason, 'stop');
      const want = [...renderConversation(tok, messages).tokens, chatTokenIds(tok).assistant];
      assert.deepEqual(fed.slice(0, want.length), want);
      assert.equal(r.usage!.prompt_tokens, want.length);
    } finally {
      await s.server.shutdown();
    }
  });
});

describe('ternlm serve (the command)', () => {
  it('refuses bad flags on one line', async () => {
    assertRefused(await ternlm(['serve', '--port', '70000', '--model', 'x.bin']), /^Error: --port must be an integer from 0 to 65535, got '70000'$/);
    assertRefused(await ternlm(['serve', '--queue', '-1', '--model', 'x.bin']), /^Error: --queue must be an integer from 0 to 10000, got '-1'$/);
    assertRefused(await ternlm(['serve', '--tokenizer', 'gpt2']), /^Error: --tokenizer goes with --model <file> — see `ternlm serve --help`$/);
    assertRefused(await ternlm(['serve', '--nosuch']), /^Error: unknown option --nosuch for ternlm serve — see `ternlm serve --help`$/);
    assertRefused(await ternlm(['serve', '--model', '/nonexistent/m.bin']), /model file .*m\.bin does not exist/);
  });

  it('serves on a free port and exits 0 on SIGTERM, ending the open stream with [DONE]', { skip: needsStories }, async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--model', STORIES260K, '--port', '0', '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /at http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.on('close', () => reject(new Error(`the server exited: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 500, stream: true }) });
    const events = await readEvents(res, () => child.kill('SIGTERM'));
    assert.equal(events.at(-1), '[DONE]');
    assert.ok(JSON.parse(events.at(-2)!).choices[0].finish_reason !== null);
    assert.equal(await exited, 0, stderr);
    assert.match(stderr, /SIGTERM: ending open requests and stopping/);
  });
});
