// Conversations for chat fine-tuning: checking one (a JSONL line, read by prepare-chat.ts), the chat
// template's special tokens (added to a base model's BPE tokenizer), and rendering a
// conversation into token ids with the mask of the tokens the loss scores.
//
//   <eot><|system|>Be brief.<|end|><|user|>Hi!<|end|><|assistant|>Hello.<|end|>
//                                                                   ^^^^^^^^^^^^^ scored
//
// Only the assistant's content and its closing <|end|> are targets; everything else is context.
// Message content is encoded as plain text: a literal "<|end|>" typed by a user stays the
// characters "<|end|>", never the special token.
import { TernlmError } from '../core/errors.js';
import { BpeTokenizer, type BpeJSON } from './bpe-tokenizer.js';
import type { ChatTemplate, Tokenizer } from './tokenizer.js';

export type { ChatTemplate };

/** The template ternlm adds to a base tokenizer that has none. */
export const CHAT_TEMPLATE: ChatTemplate = { system: '<|system|>', user: '<|user|>', assistant: '<|assistant|>', end: '<|end|>' };

export type ChatRole = 'system' | 'user' | 'assistant';
const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant'];

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** The special-token ids of a tokenizer's chat template. */
export interface ChatTokenIds {
  system: number;
  user: number;
  assistant: number;
  end: number;
}

/**
 * The tokenizer of a chat model grown from `base`: the base itself when it already has a chat
 * template, else the base with the template's markers appended as special tokens (ids from the
 * base's vocabSize on, so every base id keeps its meaning). Only a ternlm BPE tokenizer can grow.
 */
export function withChatTokens(base: Tokenizer): Tokenizer {
  if (base.chatTemplate) return base;
  if (!(base instanceof BpeTokenizer)) {
    throw new TernlmError(`a ${base.kind} tokenizer cannot grow the chat template's special tokens — chat fine-tuning needs a base model trained with a ternlm BPE tokenizer (tok.json from \`ternlm tokenizer train\`)`);
  }
  const json: BpeJSON = base.toJSON();
  const specialTokens = { ...json.specialTokens };
  let next = json.vocabSize;
  for (const text of Object.values(CHAT_TEMPLATE)) if (specialTokens[text] === undefined) specialTokens[text] = next++;
  return BpeTokenizer.fromJSON({ ...json, vocabSize: next, specialTokens, chatTemplate: CHAT_TEMPLATE }, 'the chat tokenizer');
}

/** Tokens that end a templated reply: <|end|>, any other chat marker (a new turn), the end of text. */
export function replyStopIds(tokenizer: Tokenizer): number[] {
  const ids = chatTokenIds(tokenizer);
  return [ids.end, ids.user, ids.assistant, ids.system, tokenizer.eotId];
}

/** The ids of a tokenizer's chat markers; a tokenizer without a template is refused. */
export function chatTokenIds(tokenizer: Tokenizer): ChatTokenIds {
  const t = tokenizer.chatTemplate;
  if (!t || !tokenizer.encodePlain) throw new TernlmError('the tokenizer has no chat template — prepare the conversations with `ternlm prepare --chat`');
  const id = (text: string): number => {
    const ids = tokenizer.encode(text);
    if (ids.length !== 1) throw new TernlmError(`chat marker ${JSON.stringify(text)} is not one special token of the tokenizer`);
    return ids[0];
  };
  return { system: id(t.system), user: id(t.user), assistant: id(t.assistant), end: id(t.end) };
}

/** Content as plain tokens (special-token text inside it stays text). */
function contentIds(tokenizer: Tokenizer, content: string): number[] {
  return tokenizer.encodePlain!(content);
}

/**
 * One conversation as training tokens: the document-start token (EOT, as before every prepared
 * document), then each message framed by its role's marker and <|end|>. `scored[i]` is 1 where
 * tokens[i] is a target of the loss (assistant content and its <|end|>), else 0.
 */
export function renderConversation(tokenizer: Tokenizer, messages: readonly ChatMessage[]): { tokens: number[]; scored: number[] } {
  const ids = chatTokenIds(tokenizer);
  const tokens = [tokenizer.eotId];
  const scored = [0];
  for (const m of messages) {
    tokens.push(ids[m.role]);
    scored.push(0);
    const body = [...contentIds(tokenizer, m.content), ids.end];
    const target = m.role === 'assistant' ? 1 : 0;
    for (const t of body) {
      tokens.push(t);
      scored.push(target);
    }
  }
  return { tokens, scored };
}

/** The prompt of one chat turn: <|user|>message<|end|><|assistant|>, after which the model writes its reply. */
export function userTurnIds(tokenizer: Tokenizer, message: string): number[] {
  const ids = chatTokenIds(tokenizer);
  return [ids.user, ...contentIds(tokenizer, message), ids.end, ids.assistant];
}

/** A system message at the start of a conversation: <|system|>text<|end|>. */
export function systemTurnIds(tokenizer: Tokenizer, text: string): number[] {
  const ids = chatTokenIds(tokenizer);
  return [ids.system, ...contentIds(tokenizer, text), ids.end];
}

/** Validate one JSONL record as a conversation; `where` (file:line) names it in the error. */
export function parseConversation(record: Record<string, unknown>, where: string): ChatMessage[] {
  const bad = (what: string): never => {
    throw new TernlmError(`${where}: ${what} — each line must be {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}`);
  };
  const list = record.messages;
  if (!Array.isArray(list) || list.length === 0) bad('no "messages" list');
  const messages = (list as unknown[]).map((m, i): ChatMessage => {
    if (typeof m !== 'object' || m === null) return bad(`message ${i + 1} is not an object`);
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (!ROLES.includes(role as ChatRole)) return bad(`message ${i + 1} has role ${JSON.stringify(role)}, not system, user or assistant`);
    if (typeof content !== 'string' || content.trim() === '') return bad(`message ${i + 1} (${role as string}) has empty content`);
    return { role: role as ChatRole, content };
  });
  if (!messages.some((m) => m.role === 'assistant')) bad('the conversation has no assistant message, so nothing to learn from');
  return messages;
}
