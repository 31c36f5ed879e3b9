// `ternlm serve`'s HTTP server: OpenAI's completions and chat completions API over one loaded
// model, with server-sent events for `stream: true`.
//
//   GET  /health                 {"status": "ok", "model", "running", "waiting"}
//   GET  /v1/models[/<id>]       the one model, as OpenAI lists models
//   POST /v1/completions         continue `prompt`
//   POST /v1/chat/completions    reply to `messages` (the chat template, or plain text: see chatPrompt)
//   GET  /                       the page that trains a model in the browser tab (page.ts)
//
// Without a model the page and /health still answer, /v1/models lists nothing, and generation
// requests get an error saying how to start the server with one.
//
// Generation requests are decoded together by a BatchDecoder (src/infer/batch.ts): up to
// `maxBatch` replies share each pass over the model's weights, and more wait in arrival order
// (at most `queueLimit`; beyond that, 429). A client that disconnects aborts its generation (or
// leaves the queue). `shutdown()` stops accepting, ends open streams with finish_reason "stop"
// and [DONE], refuses the waiting requests with 503, and resolves when every connection is closed.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TernlmError } from '../core/errors.js';
import { chatTokenIds, renderConversation, replyStopIds, type ChatMessage } from '../data/chat.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { BatchDecoder, QueueFullError } from '../infer/batch.js';
import { promptIds, startTokenOf } from '../infer/generate.js';
import type { InferenceModel } from '../infer/model.js';
import { pageFile, sendPageFile } from './page.js';
import { ApiError, chatRequest, completionRequest, type GenerationRequest } from './requests.js';
import { StopMatcher } from './stop.js';

/** The model a server generates from: its engine, its tokenizer, and the id clients name it by. */
interface ServedModel {
  model: InferenceModel;
  tokenizer: Tokenizer;
  /** The id clients name the model by (`model` field, /v1/models). */
  modelName: string;
}

export type ServeOptions = (ServedModel | { model?: undefined; tokenizer?: undefined; modelName?: undefined }) & {
  /** Most replies decoded together (one pass over the weights per token for all). Default 32. */
  maxBatch?: number;
  /** Most requests waiting for room in the batch; more are refused with 429. Default 64. */
  queueLimit?: number;
  /** One line per finished generation and per server error (default: none). */
  log?: (line: string) => void;
};

/** New tokens when a request gives no max_tokens (generation also ends at the context's end). */
export const DEFAULT_MAX_TOKENS = 256;
/** Largest request body read. */
const MAX_BODY_BYTES = 1 << 20;

type Kind = 'completion' | 'chat';
type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export class ModelServer {
  /** The model and its batch decoder, or null: the server then only serves the page. */
  private readonly served: (ServedModel & { decoder: BatchDecoder }) | null;
  private readonly log: (line: string) => void;
  private readonly http: Server;
  private readonly created = Math.floor(Date.now() / 1000);
  /** Abort controllers of the generations in the batch now. */
  private readonly active = new Set<AbortController>();
  /** Requests being handled, and the wake-up of shutdown() waiting for them to end. */
  private inflight = 0;
  private drained: (() => void) | null = null;
  private closing = false;
  private closed: Promise<void> | null = null;

  constructor(opts: ServeOptions) {
    this.served = opts.model ? { model: opts.model, tokenizer: opts.tokenizer, modelName: opts.modelName, decoder: new BatchDecoder(opts.model, opts.tokenizer, { maxBatch: opts.maxBatch ?? 32, maxWaiting: opts.queueLimit ?? 64 }) } : null;
    this.log = opts.log ?? (() => {});
    this.http = createServer((req, res) => void this.handle(req, res));
  }

  private get model(): InferenceModel {
    return this.need().model;
  }

  private get tokenizer(): Tokenizer {
    return this.need().tokenizer;
  }

  private get modelName(): string {
    return this.need().modelName;
  }

  /** The served model, or the error that says how to start the server with one. */
  private need(): ServedModel & { decoder: BatchDecoder } {
    if (this.served) return this.served;
    throw new ApiError(404, 'this server has no model — start it with `ternlm serve --model <file>` (a file from `ternlm export`, or one the page downloads)', 'invalid_request_error', 'model', 'model_not_found');
  }

  /** Start listening; resolves with the address (port 0 picks a free port). */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND' ? 'no such local address' : err.code === 'EACCES' ? 'permission denied' : err.message;
        reject(new TernlmError(`cannot listen on ${host}:${port}: ${why}`));
      };
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  /** Stop accepting, end open streams cleanly, refuse queued requests; resolves once all is closed. */
  shutdown(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    const listening = new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const c of this.active) c.abort();
    this.served?.decoder.refuseWaiting(new ApiError(503, 'the server is shutting down', 'server_error'));
    this.closed = (async () => {
      if (this.inflight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      this.http.closeAllConnections();
      await listening;
    })();
    return this.closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inflight++;
    try {
      const handler = this.route(req);
      if (this.closing) throw new ApiError(503, 'the server is shutting down', 'server_error');
      await handler(req, res);
    } catch (err) {
      this.fail(res, err);
    } finally {
      this.inflight--;
      if (this.inflight === 0 && this.drained) this.drained();
    }
  }

  /** The handler of the request's path and method, or a 404 / 405. */
  private route(req: IncomingMessage): Handler {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
    const routes: Record<string, Partial<Record<string, Handler>>> = {
      '/health': { GET: async (_q, res) => this.health(res) },
      '/v1/models': { GET: async (_q, res) => sendJSON(res, 200, { object: 'list', data: this.served ? [this.modelCard()] : [] }) },
      '/v1/completions': { POST: (q, res) => this.complete(q, res, 'completion') },
      '/v1/chat/completions': { POST: (q, res) => this.complete(q, res, 'chat') },
    };
    if (path.startsWith('/v1/models/')) {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      routes[path] = { GET: async (_q, res) => (id === this.modelName ? sendJSON(res, 200, this.modelCard()) : this.unknownModel(id)) };
    }
    const file = pageFile(path);
    if (file) routes[path] = { GET: async (_q, res) => sendPageFile(res, file) };
    const methods = routes[path];
    if (!methods) throw new ApiError(404, `no route ${req.method ?? ''} ${path} — this server has / (the training page), /health, /v1/models, /v1/completions and /v1/chat/completions`, 'invalid_request_error', null, 'not_found');
    const handler = methods[req.method ?? ''];
    if (!handler) throw new ApiError(405, `${path} takes ${Object.keys(methods).join(', ')}, not ${req.method ?? ''}`, 'invalid_request_error', null, 'method_not_allowed');
    return handler;
  }

  private health(res: ServerResponse): void {
    sendJSON(res, 200, { status: 'ok', model: this.served?.modelName ?? null, running: this.served?.decoder.active ?? 0, waiting: this.served?.decoder.pending ?? 0 });
  }

  private modelCard(): object {
    return { id: this.modelName, object: 'model', created: this.created, owned_by: 'ternlm' };
  }

  private unknownModel(name: string): never {
    throw new ApiError(404, `the model '${name}' does not exist — this server has '${this.modelName}'`, 'invalid_request_error', 'model', 'model_not_found');
  }

  /** POST /v1/completions and /v1/chat/completions: check the request, then wait for its turn. */
  private async complete(req: IncomingMessage, res: ServerResponse, kind: Kind): Promise<void> {
    this.need();
    const body = await readJSON(req);
    let r: GenerationRequest;
    let ids: number[];
    let stopTokens: number[] | undefined;
    if (kind === 'chat') {
      const chat = chatRequest(body);
      r = chat;
      ({ ids, stopTokens } = this.chatPrompt(chat.messages));
    } else {
      const completion = completionRequest(body);
      r = completion;
      ids = this.ids(completion.prompt);
    }
    if (r.model !== undefined && r.model !== this.modelName) this.unknownModel(r.model);
    const C = this.model.contextLength;
    if (ids.length > C) {
      throw new ApiError(400, `the prompt is ${ids.length} tokens but the model's context holds ${C} — shorten it`, 'invalid_request_error', kind === 'chat' ? 'messages' : 'prompt', 'context_length_exceeded');
    }
    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort();
    };
    res.on('close', onClose);
    try {
      if (this.closing) throw new ApiError(503, 'the server is shutting down', 'server_error');
      await this.reply(res, kind, r, ids, stopTokens, controller);
    } finally {
      res.off('close', onClose);
      this.active.delete(controller);
    }
  }

  /** A completion prompt's ids: the document-start token, then the prompt's tokens. */
  private ids(prompt: string): number[] {
    return promptIds(this.model, this.tokenizer, prompt, true);
  }

  /**
   * A chat prompt. With the tokenizer's chat template, the messages rendered as in chat
   * fine-tuning, then <|assistant|>: the reply stops at <|end|> (or any other marker). Without
   * one (a story model), the messages' contents one per line, which the model continues: the
   * same plain format as `ternlm chat`.
   */
  private chatPrompt(messages: ChatMessage[]): { ids: number[]; stopTokens: number[] | undefined } {
    const t = this.tokenizer;
    if (!t.chatTemplate) return { ids: this.ids(messages.map((m) => m.content).join('\n')), stopTokens: undefined };
    const rendered = renderConversation(t, messages).tokens;
    const ids = [startTokenOf(this.model, t), ...rendered.slice(1), chatTokenIds(t).assistant];
    return { ids: promptIds(this.model, t, ids, false), stopTokens: replyStopIds(t) };
  }

  /**
   * Generate one reply in the batch and send it, as one JSON answer or as server-sent events
   * (their head goes out when the reply joins the batch).
   */
  private async reply(res: ServerResponse, kind: Kind, r: GenerationRequest, ids: number[], stopTokens: number[] | undefined, controller: AbortController): Promise<void> {
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    const head = { id, object: r.stream ? `${object}${kind === 'chat' ? '.chunk' : ''}` : object, created: Math.floor(Date.now() / 1000), model: this.modelName };
    const choice = (text: string | null, finish: string | null): object =>
      kind === 'chat'
        ? { index: 0, ...(r.stream ? { delta: text === null ? {} : { content: text } } : { message: { role: 'assistant', content: text } }), logprobs: null, finish_reason: finish }
        : { index: 0, text: text ?? '', logprobs: null, finish_reason: finish };
    const event = (data: object): void => {
      if (!res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
    };
    const start = (): void => {
      this.active.add(controller);
      if (!r.stream || res.destroyed) return;
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
      if (kind === 'chat') event({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
    };
    const stopper = new StopMatcher(r.stop);
    let text = '';
    const send = (piece: string): void => {
      if (piece.length === 0) return;
      text += piece;
      if (r.stream) event({ ...head, choices: [choice(piece, null)] });
    };
    const t0 = performance.now();
    const result = await this.need().decoder.generate(ids, {
      temperature: r.temperature,
      topP: r.topP,
      seed: r.seed,
      maxTokens: r.maxTokens ?? DEFAULT_MAX_TOKENS,
      stopTokens,
      signal: controller.signal,
      onStart: start,
    }, (piece) => {
      send(stopper.push(piece));
      if (stopper.done) controller.abort();
    });
    if (!stopper.done) send(stopper.flush());
    const clientGone = res.destroyed || (controller.signal.aborted && !stopper.done && !this.closing);
    // 'aborted' here is a stop string or the server shutting down: both end the reply normally.
    const finish = result.stopReason === 'length' || result.stopReason === 'context' ? 'length' : 'stop';
    const usage = { prompt_tokens: ids.length, completion_tokens: result.tokens.length, total_tokens: ids.length + result.tokens.length };
    this.log(`${kind === 'chat' ? '/v1/chat/completions' : '/v1/completions'}: ${usage.prompt_tokens} prompt + ${usage.completion_tokens} new tokens in ${(performance.now() - t0).toFixed(0)} ms, ${clientGone ? 'client disconnected' : `finish ${finish}`}${this.closing ? ' (shutting down)' : ''}`);
    if (clientGone) return;
    if (r.stream) {
      event({ ...head, choices: [choice(null, finish)] });
      if (r.streamUsage) event({ ...head, choices: [], usage });
      res.end('data: [DONE]\n\n');
    } else {
      sendJSON(res, 200, { ...head, choices: [choice(text, finish)], usage });
    }
  }

  /** Answer an error in OpenAI's format; a stream already under way gets it as its last event. */
  private fail(res: ServerResponse, err: unknown): void {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err instanceof QueueFullError) e = new ApiError(429, err.message, 'rate_limit_error', null, 'queue_full');
    else if (err instanceof TernlmError) e = new ApiError(400, err.message);
    else {
      const message = err instanceof Error ? err.message : String(err);
      this.log(`internal error: ${err instanceof Error && err.stack ? err.stack : message}`);
      e = new ApiError(500, `internal error: ${message}`, 'server_error');
    }
    if (res.destroyed) return;
    if (!res.headersSent) sendJSON(res, e.status, e.toJSON());
    else res.end(`data: ${JSON.stringify(e.toJSON())}\n\ndata: [DONE]\n\n`);
  }
}

function sendJSON(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body parsed as JSON: 413 when over MAX_BODY_BYTES, 400 when not JSON. */
async function readJSON(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError(413, `the request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `the request body is not valid JSON: ${(err as Error).message}`);
  }
}
