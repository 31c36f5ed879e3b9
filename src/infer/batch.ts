// Many replies generated together: each reply joins the running batch as soon as there is room,
// and every decoding step feeds one token of each reply to the model in one pass
// (InferenceModel.stepBatch), so that serving many clients costs less than serving each alone.
//
//   loop while replies run or wait:
//     admit waiting replies up to maxBatch
//     a reply still reading its prompt reads the next PREFILL_CHUNK tokens of it (the last
//       chunk gives its first token), so a long prompt delays the others by one chunk a pass
//     one step for the replies past their prompts: logits = stepBatch(states, tokens);
//       sample each reply's next token
//     a reply that ends (stop token, max tokens, context, abort) leaves and frees its state
//
// Replies beyond maxBatch wait in arrival order; more than maxWaiting waiting are refused at once.
import { TernlmError } from '../core/errors.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { Generation, yieldToEventLoop, YIELD_MS, type GenerateResult, type ReplyOptions } from './generate.js';
import type { InferenceModel, InferenceState } from './model.js';

/** Thrown by `BatchDecoder.generate` when `maxWaiting` replies already wait for room in the batch. */
export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`the server is busy: ${limit} requests are already waiting — retry later`);
    this.name = 'QueueFullError';
  }
}

export interface BatchOptions {
  /** Most replies decoded together. Default 32. */
  maxBatch?: number;
  /** Most replies waiting for room in the batch; more are refused with QueueFullError. Default 64. */
  maxWaiting?: number;
}

export interface BatchReplyOptions extends ReplyOptions {
  /** Called when the reply joins the batch, just before its prompt is read. */
  onStart?: () => void;
}

/** Prompt tokens a reply reads per pass while the others decode (a multiple of the transformers' 32-row prefill chunk). */
export const PREFILL_CHUNK = 64;

/** One token of each state, in one pass when the model has stepBatch, else one step each. */
export function stepAll<S extends InferenceState>(model: InferenceModel<S>, states: readonly S[], tokens: readonly number[]): Float32Array[] {
  if (model.stepBatch) return model.stepBatch(states, tokens);
  return states.map((s, i) => model.step(s, tokens[i]));
}

/** A reply waiting for room in the batch. */
interface Waiting {
  ids: readonly number[];
  opts: BatchReplyOptions;
  onToken?: (text: string, token: number) => void;
  resolve: (r: GenerateResult) => void;
  reject: (err: unknown) => void;
}

/** A reply in the batch: its state, its generation, the prompt tokens it has still to read, and the token it feeds next. */
interface Running {
  state: InferenceState;
  reply: Generation;
  prompt: readonly number[];
  token: number;
  resolve: (r: GenerateResult) => void;
  reject: (err: unknown) => void;
}

export class BatchDecoder {
  readonly maxBatch: number;
  readonly maxWaiting: number;
  private readonly waiting: Waiting[] = [];
  private readonly running: Running[] = [];
  /** Whether the decoding loop runs (it ends when no reply runs or waits). */
  private decoding = false;

  constructor(private readonly model: InferenceModel, private readonly tokenizer: Tokenizer, opts: BatchOptions = {}) {
    this.maxBatch = opts.maxBatch ?? 32;
    this.maxWaiting = opts.maxWaiting ?? 64;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new TernlmError(`the batch must hold at least one reply, got ${this.maxBatch}`);
    if (!Number.isInteger(this.maxWaiting) || this.maxWaiting < 0) throw new TernlmError(`the waiting limit must be a non-negative integer, got ${this.maxWaiting}`);
  }

  /** Replies being decoded now. */
  get active(): number {
    return this.running.length;
  }

  /** Replies waiting for room in the batch (not those the next pass admits). */
  get pending(): number {
    return Math.max(0, this.waiting.length - (this.maxBatch - this.running.length));
  }

  /**
   * Generate a reply to the prompt `ids` (the start token included) in the batch, calling
   * `onToken` with each piece of text. Throws QueueFullError at once when the batch is full and
   * maxWaiting replies wait; a reply whose signal aborts while it waits leaves the queue and
   * resolves with no tokens.
   */
  generate(ids: readonly number[], opts: BatchReplyOptions = {}, onToken?: (text: string, token: number) => void): Promise<GenerateResult> {
    if (this.pending >= this.maxWaiting && this.running.length + this.waiting.length >= this.maxBatch) throw new QueueFullError(this.maxWaiting);
    return new Promise<GenerateResult>((resolve, reject) => {
      const entry: Waiting = { ids, opts, onToken, resolve, reject };
      this.waiting.push(entry);
      opts.signal?.addEventListener('abort', () => {
        const i = this.waiting.indexOf(entry);
        if (i < 0) return; // already admitted: the generation sees the signal itself
        this.waiting.splice(i, 1);
        resolve({ tokens: [], text: '', promptTokens: ids.length, stopReason: 'aborted', firstTokenMs: 0, decodeMs: 0 });
      }, { once: true });
      if (!this.decoding) void this.decode();
    });
  }

  /** Refuse every waiting reply with `err` (the running ones go on). */
  refuseWaiting(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  /** The decoding loop: runs while replies run or wait, letting the event loop in every YIELD_MS. */
  private async decode(): Promise<void> {
    this.decoding = true;
    try {
      await yieldToEventLoop(); // the caller goes on first, and replies asked for meanwhile join the first pass
      await this.passes();
    } finally {
      this.decoding = false;
    }
  }

  /** Admit waiting replies and run passes until none runs or waits. Every error goes to the replies it concerns. */
  private async passes(): Promise<void> {
    let lastYield = performance.now();
    while (this.running.length > 0 || this.waiting.length > 0) {
      while (this.running.length < this.maxBatch && this.waiting.length > 0) this.admit(this.waiting.shift()!);
      const decoding = this.running.filter((r) => r.prompt.length === 0);
      for (const r of this.running.filter((r) => r.prompt.length > 0)) this.readPrompt(r);
      if (decoding.length > 0) {
        let logits: Float32Array[] = [];
        try {
          logits = stepAll(this.model, decoding.map((r) => r.state), decoding.map((r) => r.token));
        } catch (err) {
          // A model failure (out of memory, say) ends every decoding reply with it; waiting ones get their turn.
          for (const r of decoding) this.leave(r, err);
        }
        for (let i = 0; i < logits.length; i++) this.advance(decoding[i], logits[i]);
      }
      if (performance.now() - lastYield > YIELD_MS || this.running.length === 0) {
        await yieldToEventLoop();
        lastYield = performance.now();
      }
    }
  }

  /** A waiting reply joins the batch with a fresh state; it reads its prompt in the passes that follow. */
  private admit(w: Waiting): void {
    let state: InferenceState | null = null;
    try {
      w.opts.onStart?.();
      state = this.model.newState();
      const reply = new Generation(this.model, this.tokenizer, state, w.ids, w.opts, w.onToken);
      this.running.push({ state, reply, prompt: w.ids, token: -1, resolve: w.resolve, reject: w.reject });
    } catch (err) {
      state?.dispose();
      w.reject(err);
    }
  }

  /** The next PREFILL_CHUNK tokens of a reply's prompt; after the last chunk, its first token (or its end). */
  private readPrompt(r: Running): void {
    let logits: Float32Array;
    try {
      logits = this.model.prefill(r.state, r.prompt.slice(0, PREFILL_CHUNK));
    } catch (err) {
      this.leave(r, err);
      return;
    }
    r.prompt = r.prompt.slice(PREFILL_CHUNK);
    if (r.prompt.length === 0) this.advance(r, logits);
  }

  /** Sample a running reply's next token from `logits`; it leaves the batch when it has ended (or failed). */
  private advance(r: Running, logits: Float32Array): void {
    try {
      const token = r.reply.next(logits);
      if (token !== null) {
        r.token = token;
        return;
      }
    } catch (err) {
      this.leave(r, err);
      return;
    }
    this.leave(r);
  }

  /** A running reply leaves the batch: its state is freed, and it resolves with its result (or rejects with `err`). */
  private leave(r: Running, err?: unknown): void {
    const i = this.running.indexOf(r);
    if (i >= 0) this.running.splice(i, 1);
    r.state.dispose();
    if (err === undefined) r.resolve(r.reply.result());
    else r.reject(err);
  }
}
