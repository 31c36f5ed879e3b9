// The generation loop: encode the prompt, prefill it, then sample / stream / step one token at
// a time until a stop token, the token budget, the end of the context or an abort.
import { TernlmError } from '../core/errors.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { InferenceModel, InferenceState } from './model.js';
import { Sampler, type SamplingOptions } from '../heads/sampling.js';
import { TokenTextStream } from './text-stream.js';

/** What one reply is generated with, alone (`generate`) or in a batch (BatchDecoder). */
export interface ReplyOptions extends SamplingOptions {
  /** Most new tokens. Default 256. */
  maxTokens?: number;
  /** Tokens that end the reply (not emitted). Default: the tokenizer's end-of-text and BOS ids. */
  stopTokens?: readonly number[];
  /** Stops the reply between two tokens (stopReason 'aborted'). */
  signal?: AbortSignal;
}

export interface GenerateOptions extends ReplyOptions {
  /**
   * Start a fresh state with the document-start token (see `startTokenOf`), as the model saw at
   * the start of every training document. Default true; ignored when continuing a state.
   */
  bos?: boolean;
  /** Continue this state (its tokens stay as context); the caller owns and disposes it. */
  state?: InferenceState;
  /** Earlier tokens of `state`, for the repetition penalty. */
  history?: readonly number[];
}

export type StopReason = 'stop' | 'length' | 'context' | 'aborted';

export interface GenerateResult {
  /** Ids of the new tokens (the stop token excluded). All were fed to the state but the last. */
  tokens: number[];
  text: string;
  /** Tokens fed before the first new one (BOS included). */
  promptTokens: number;
  stopReason: StopReason;
  /** Milliseconds: prompt in -> first new token out, and first -> last new token. */
  firstTokenMs: number;
  decodeMs: number;
}

/**
 * Between two tokens, let timers, signals and input run at least this often (Ctrl-C in chat). A
 * small model writes a whole 500-token reply in under 20 ms, so the turn comes every 2 ms: a
 * setImmediate costs a few µs, under 0.5% of the time.
 */
export const YIELD_MS = 2;

/** One turn of the event loop (timers, messages, input run), in Node and in a browser. */
export function yieldToEventLoop(): Promise<void> {
  // A browser has no setImmediate, and its setTimeout waits 4 ms once nested: a message to itself is a turn.
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/**
 * One reply being generated into `state` after its prompt `ids`: it samples each next token from
 * the logits the model gives, streams the reply's text to `onToken` as pieces complete, and
 * decides when the reply ends. The caller feeds the model: prefill(ids), then one step per token
 * `next` returns. Checks its options when made (a TernlmError names a bad one).
 */
export class Generation {
  readonly tokens: number[] = [];
  text = '';
  /** Why the reply ended; null while it goes on. */
  stopReason: StopReason | null = null;
  private readonly sampler: Sampler;
  private readonly stops: Set<number>;
  private readonly history: number[];
  private readonly stream: TokenTextStream;
  private readonly maxTokens: number;
  private readonly t0 = performance.now();
  private tFirst = this.t0;
  private tEnd = this.t0;

  constructor(
    private readonly model: InferenceModel, tokenizer: Tokenizer, private readonly state: InferenceState, private readonly ids: readonly number[],
    private readonly opts: ReplyOptions, private readonly onToken?: (text: string, token: number) => void, history: readonly number[] = [],
  ) {
    this.maxTokens = opts.maxTokens ?? 256;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 1) throw new TernlmError(`max tokens must be a positive integer, got ${this.maxTokens}`);
    if (ids.length === 0) throw new TernlmError('the prompt is empty and the state holds no tokens to continue from — give a prompt or allow the BOS token');
    checkPromptFits(model, ids.length, state.pos);
    try {
      this.sampler = new Sampler(Math.min(model.vocabSize, tokenizer.vocabSize), opts);
    } catch (err) {
      throw err instanceof RangeError ? new TernlmError(err.message) : err;
    }
    this.stops = new Set(opts.stopTokens ?? [tokenizer.eotId, ...(tokenizer.bosId === undefined ? [] : [tokenizer.bosId])]);
    this.history = [...history, ...ids];
    this.stream = new TokenTextStream(tokenizer, ids[ids.length - 1]);
  }

  /**
   * The logits after the last token fed: sample the next token and stream it. Returns the token
   * to feed next, or null when the reply has ended (stopReason says why).
   */
  next(logits: Float32Array): number | null {
    const token = this.choose(logits);
    if (token === null) {
      this.tEnd = performance.now();
      this.emit(this.stream.flush(), this.tokens[this.tokens.length - 1] ?? -1);
    }
    return token;
  }

  /** The reply so far, with its timings (call once `next` has returned null). */
  result(): GenerateResult {
    return { tokens: this.tokens, text: this.text, promptTokens: this.ids.length, stopReason: this.stopReason ?? 'aborted', firstTokenMs: this.tFirst - this.t0, decodeMs: this.tEnd - this.tFirst };
  }

  private choose(logits: Float32Array): number | null {
    if (this.opts.signal?.aborted) return this.end('aborted');
    const token = this.sampler.sample(logits, this.history);
    if (this.tokens.length === 0) this.tFirst = performance.now();
    if (this.stops.has(token)) return this.end('stop');
    this.tokens.push(token);
    this.history.push(token);
    this.emit(this.stream.push(token), token);
    if (this.tokens.length === this.maxTokens) return this.end('length');
    if (this.state.pos >= this.model.contextLength) return this.end('context');
    return token;
  }

  private end(reason: StopReason): null {
    this.stopReason = reason;
    return null;
  }

  private emit(piece: string, token: number): void {
    if (piece.length === 0) return;
    this.text += piece;
    this.onToken?.(piece, token);
  }
}

/**
 * Generate a continuation of `prompt` (text, or token ids), calling `onToken` with each piece
 * of text as soon as it is complete. The prompt plus the state's tokens must fit the context;
 * generation stops when the context is full.
 */
export async function generate(
  model: InferenceModel, tokenizer: Tokenizer, prompt: string | readonly number[], opts: GenerateOptions = {},
  onToken?: (text: string, token: number) => void,
): Promise<GenerateResult> {
  const state = opts.state ?? model.newState();
  try {
    const ids = promptIds(model, tokenizer, prompt, state.pos === 0 && (opts.bos ?? true));
    const reply = new Generation(model, tokenizer, state, ids, opts, onToken, opts.history);
    let token = reply.next(model.prefill(state, ids));
    let lastYield = performance.now();
    while (token !== null) {
      token = reply.next(model.step(state, token));
      if (performance.now() - lastYield > YIELD_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
    return reply.result();
  } finally {
    if (!opts.state) state.dispose();
  }
}

/** The token a new document starts with: the model's own, else the tokenizer's BOS, else its end-of-text. */
export function startTokenOf(model: InferenceModel, tokenizer: Tokenizer): number {
  return model.startToken ?? tokenizer.bosId ?? tokenizer.eotId;
}

/** Prompt token ids, checked against the model's vocabulary; the start token first when asked. */
/** Refuse a prompt of `count` tokens that does not fit the context after the `held` tokens already in it. */
export function checkPromptFits(model: InferenceModel, count: number, held = 0): void {
  if (held + count <= model.contextLength) return;
  const already = held > 0 ? ` (${held} already in the context)` : '';
  throw new TernlmError(`the prompt is ${count} tokens${already} but the model's context holds ${model.contextLength} — shorten the prompt`);
}

/** The ids fed to the model for `prompt`: the start token first when `bos`, then the prompt's tokens. */
export function promptIds(model: InferenceModel, tokenizer: Tokenizer, prompt: string | readonly number[], bos: boolean): number[] {
  const ids: number[] = [];
  if (bos) ids.push(startTokenOf(model, tokenizer));
  if (typeof prompt === 'string') {
    if (prompt.length > 0) ids.push(...tokenizer.encode(prompt));
  } else {
    ids.push(...prompt);
  }
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= model.vocabSize) {
      throw new TernlmError(`prompt token ${id} is not in the model's vocabulary [0, ${model.vocabSize})`);
    }
  }
  return ids;
}
