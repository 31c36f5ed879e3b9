// The generation loop: encode the prompt, prefill it, then sample / stream / step one token at
// a time until a stop token, the token budget, the end of the context or an abort.
import { TernlmError } from '../core/errors.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { InferenceModel, InferenceState } from './model.js';
import { Sampler, type SamplingOptions } from '../heads/sampling.js';
import { TokenTextStream } from './text-stream.js';

export interface GenerateOptions extends SamplingOptions {
  /** Most new tokens. Default 256. */
  maxTokens?: number;
  /** Tokens that end the reply (not emitted). Default: the tokenizer's end-of-text and BOS ids. */
  stopTokens?: readonly number[];
  /**
   * Start a fresh state with the document-start token (see `startTokenOf`), as the model saw at
   * the start of every training document. Default true; ignored when continuing a state.
   */
  bos?: boolean;
  /** Continue this state (its tokens stay as context); the caller owns and disposes it. */
  state?: InferenceState;
  /** Earlier tokens of `state`, for the repetition penalty. */
  history?: readonly number[];
  /** Stops the loop between two tokens (stopReason 'aborted'). */
  signal?: AbortSignal;
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
const YIELD_MS = 2;

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
 * Generate a continuation of `prompt` (text, or token ids), calling `onToken` with each piece
 * of text as soon as it is complete. The prompt plus the state's tokens must fit the context;
 * generation stops when the context is full.
 */
export async function generate(
  model: InferenceModel, tokenizer: Tokenizer, prompt: string | readonly number[], opts: GenerateOptions = {},
  onToken?: (text: string, token: number) => void,
): Promise<GenerateResult> {
  const maxTokens = opts.maxTokens ?? 256;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new TernlmError(`max tokens must be a positive integer, got ${maxTokens}`);
  const state = opts.state ?? model.newState();
  try {
    const ids = promptIds(model, tokenizer, prompt, state.pos === 0 && (opts.bos ?? true));
    if (ids.length === 0) throw new TernlmError('the prompt is empty and the state holds no tokens to continue from — give a prompt or allow the BOS token');
    checkPromptFits(model, ids.length, state.pos);
    let sampler: Sampler;
    try {
      sampler = new Sampler(Math.min(model.vocabSize, tokenizer.vocabSize), opts);
    } catch (err) {
      throw err instanceof RangeError ? new TernlmError(err.message) : err;
    }
    const stops = new Set(opts.stopTokens ?? [tokenizer.eotId, ...(tokenizer.bosId === undefined ? [] : [tokenizer.bosId])]);
    const history = [...(opts.history ?? []), ...ids];
    const stream = new TokenTextStream(tokenizer, ids[ids.length - 1]);
    const tokens: number[] = [];
    let text = '';
    const emit = (piece: string, id: number): void => {
      if (piece.length === 0) return;
      text += piece;
      onToken?.(piece, id);
    };

    const t0 = performance.now();
    let logits = model.prefill(state, ids);
    let tFirst = t0;
    let lastYield = t0;
    let stopReason: StopReason = 'length';
    for (;;) {
      if (opts.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      const next = sampler.sample(logits, history);
      if (tokens.length === 0) tFirst = performance.now();
      if (stops.has(next)) {
        stopReason = 'stop';
        break;
      }
      tokens.push(next);
      history.push(next);
      emit(stream.push(next), next);
      if (tokens.length === maxTokens) break;
      if (state.pos >= model.contextLength) {
        stopReason = 'context';
        break;
      }
      logits = model.step(state, next);
      if (performance.now() - lastYield > YIELD_MS) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
    const tEnd = performance.now();
    emit(stream.flush(), tokens[tokens.length - 1] ?? -1);
    return { tokens, text, promptTokens: ids.length, stopReason, firstTokenMs: tFirst - t0, decodeMs: tEnd - tFirst };
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
