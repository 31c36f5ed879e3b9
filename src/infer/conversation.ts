// A conversation with a model: the token history of alternating user messages and replies,
// kept in one inference state so that a new turn costs only its own tokens. When a turn would
// not fit the context, the oldest turns are dropped and the rest is fed again.
//
// Plain format (models without a chat template, e.g. story models): the first message starts
// the document, each later message follows the text so far after a newline, and the reply is
// whatever the model writes next.
//
// Chat template (a tokenizer with one, from chat fine-tuning, data/chat.ts): the conversation is
// rendered as in training, `<eot>[<|system|>…<|end|>]<|user|>message<|end|><|assistant|>`, the
// reply is written after <|assistant|> and stops at <|end|>, which then closes the turn.
import { TernlmError } from '../core/errors.js';
import { chatTokenIds, replyStopIds, systemTurnIds, userTurnIds } from '../data/chat.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { generate, startTokenOf, type GenerateOptions, type GenerateResult } from './generate.js';
import type { InferenceModel, InferenceState } from './model.js';

export interface ConversationOptions extends Omit<GenerateOptions, 'state' | 'history' | 'signal' | 'bos'> {
  /** Tokens kept free for each reply when deciding which old turns to drop. Default: min(maxTokens, context / 4). */
  replyReserve?: number;
  /** A system message that opens the conversation (chat-template models only); it is never dropped. */
  system?: string;
}

export class Conversation {
  /** Every token of the conversation; tokens[0..state.pos) are in the state, the rest pending. */
  private tokens: number[] = [];
  /** Index in `tokens` where each turn (a message and its reply) starts. */
  private turnStarts: number[] = [];
  private readonly state: InferenceState;
  /** What every conversation starts with: the document-start token (and the system message). */
  private readonly start: number[];
  /** The tokenizer's chat template's <|end|> id, or null for the plain format. */
  private readonly endId: number | null;
  /** Tokens that end a templated reply (replyStopIds). */
  private readonly replyStops: number[] = [];

  constructor(
    private readonly model: InferenceModel,
    private readonly tokenizer: Tokenizer,
    private readonly opts: ConversationOptions = {},
  ) {
    this.state = model.newState();
    this.start = [startTokenOf(model, tokenizer)];
    this.endId = tokenizer.chatTemplate ? chatTokenIds(tokenizer).end : null;
    if (this.endId !== null) this.replyStops = replyStopIds(tokenizer);
    if (opts.system !== undefined) {
      if (this.endId === null) throw new TernlmError('a system message needs a model with a chat template (one fine-tuned with ternlm train --init on ternlm prepare --chat data)');
      this.start.push(...systemTurnIds(tokenizer, opts.system));
    }
  }

  /** True when messages are wrapped in the model's chat template. */
  get templated(): boolean {
    return this.endId !== null;
  }

  /** Turns currently remembered. */
  get turns(): number {
    return this.turnStarts.length;
  }

  /** Tokens of the conversation so far (start token included). */
  get length(): number {
    return this.tokens.length;
  }

  /** The conversation's token ids (start token first). */
  get tokenIds(): readonly number[] {
    return this.tokens;
  }

  /** Tokens the model has consumed (the last reply token waits for the next turn). */
  get fed(): number {
    return this.state.pos;
  }

  /** Send a message; `onText` receives the reply as it is written. */
  async reply(message: string, onText?: (text: string) => void, signal?: AbortSignal): Promise<GenerateResult> {
    const C = this.model.contextLength;
    const maxTokens = this.opts.maxTokens ?? 256;
    const reserve = this.opts.replyReserve ?? Math.min(maxTokens, Math.floor(C / 4));
    const ids = this.encodeMessage(message);
    if (this.start.length + ids.length + reserve > C) {
      throw new TernlmError(`the message is ${ids.length} tokens; with the reply's ${reserve} it does not fit the model's context of ${C} — send a shorter one`);
    }
    if (this.tokens.length + ids.length + reserve > C) this.dropOldestTurns(ids.length + reserve);

    if (this.tokens.length === 0) this.tokens.push(...this.start);
    this.turnStarts.push(this.tokens.length);
    this.tokens.push(...ids);
    const pending = this.tokens.slice(this.state.pos);
    const result = await generate(this.model, this.tokenizer, pending, {
      ...this.opts,
      ...(this.endId !== null && this.opts.stopTokens === undefined ? { stopTokens: this.replyStops } : {}),
      maxTokens,
      state: this.state,
      bos: false,
      history: this.tokens.slice(0, this.state.pos),
      signal,
    }, onText);
    this.tokens.push(...result.tokens);
    // The reply's <|end|> closes the turn (also when the reply was cut short), as in training.
    if (this.endId !== null) this.tokens.push(this.endId);
    return result;
  }

  /** Forget every turn. */
  clear(): void {
    this.tokens = [];
    this.turnStarts = [];
    this.model.reset(this.state);
  }

  dispose(): void {
    this.state.dispose();
  }

  private encodeMessage(message: string): number[] {
    const t = this.tokenizer;
    if (this.endId !== null) return userTurnIds(t, message);
    if (this.tokens.length === 0) return t.encode(message);
    return t.encodeContinuation ? t.encodeContinuation('\n' + message) : t.encode('\n' + message);
  }

  /** Drop whole turns from the front until `need` more tokens fit; the state is rebuilt lazily. */
  private dropOldestTurns(need: number): void {
    const C = this.model.contextLength;
    let drop = 0;
    while (drop < this.turnStarts.length) {
      const keepFrom = drop + 1 < this.turnStarts.length ? this.turnStarts[drop + 1] : this.tokens.length;
      drop++;
      if (this.start.length + (this.tokens.length - keepFrom) + need <= C) break;
    }
    const from = drop < this.turnStarts.length ? this.turnStarts[drop] : this.tokens.length;
    const kept = this.tokens.slice(from);
    this.turnStarts = this.turnStarts.slice(drop).map((s) => s - from + this.start.length);
    this.tokens = [...this.start, ...kept];
    this.model.reset(this.state); // everything is fed again by the next reply
  }
}
