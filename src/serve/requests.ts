// The OpenAI request bodies the server accepts, checked field by field: a wrong type or range
// becomes an ApiError (status 400) that names the field, in OpenAI's error format.
import type { ChatMessage, ChatRole } from '../data/chat.js';

/** An error answered as `{"error": {"message", "type", "param", "code"}}` with `status`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** What both endpoints share: the model asked for, sampling and stopping. */
export interface GenerationRequest {
  /** The `model` field, or undefined when absent (the one loaded model is meant). */
  model: string | undefined;
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with the token counts. */
  streamUsage: boolean;
  maxTokens: number | undefined;
  temperature: number;
  topP: number;
  seed: number | undefined;
  stop: string[];
}

export interface CompletionRequest extends GenerationRequest {
  prompt: string;
}

export interface ChatRequest extends GenerationRequest {
  messages: ChatMessage[];
}

type Body = Record<string, unknown>;

const invalid = (param: string, what: string): ApiError => new ApiError(400, `'${param}' ${what}`, 'invalid_request_error', param);

/** The parsed JSON body as an object, or a 400. */
export function requestObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApiError(400, 'the request body must be a JSON object');
  return body as Body;
}

function optionalNumber(b: Body, name: string, min: number, max: number, integer: boolean, aboveMin = false): number | undefined {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  const ok = typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v)) && (aboveMin ? v > min : v >= min) && v <= max;
  if (!ok) throw invalid(name, `must be ${integer ? 'an integer' : 'a number'} ${aboveMin ? 'above' : 'from'} ${min} ${aboveMin ? 'and at most' : 'to'} ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function optionalBoolean(b: Body, name: string): boolean {
  const v = b[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(name, `must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** `stop`: a string or a list of at most 4 non-empty strings, as OpenAI allows. */
function stopStrings(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw invalid('stop', 'must be a non-empty string or a list of at most 4 of them');
  }
  return list as string[];
}

function generationRequest(b: Body): GenerationRequest {
  if (b.model !== undefined && typeof b.model !== 'string') throw invalid('model', 'must be a string');
  const n = optionalNumber(b, 'n', 1, 1, true);
  if (n !== undefined && n !== 1) throw invalid('n', 'must be 1');
  const options = b.stream_options;
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) throw invalid('stream_options', 'must be an object');
  return {
    model: b.model as string | undefined,
    stream: optionalBoolean(b, 'stream'),
    streamUsage: options ? optionalBoolean(options as Body, 'include_usage') : false,
    // max_completion_tokens is the newer name of the same limit in the chat API.
    maxTokens: optionalNumber(b, 'max_tokens', 1, 1_000_000, true) ?? optionalNumber(b, 'max_completion_tokens', 1, 1_000_000, true),
    temperature: optionalNumber(b, 'temperature', 0, 2, false) ?? 1,
    topP: optionalNumber(b, 'top_p', 0, 1, false, true) ?? 1,
    seed: optionalNumber(b, 'seed', 0, 2 ** 32 - 1, true),
    stop: stopStrings(b),
  };
}

/** POST /v1/completions: `prompt` is a string (or a list holding one string). */
export function completionRequest(body: unknown): CompletionRequest {
  const b = requestObject(body);
  let prompt = b.prompt ?? '';
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (typeof prompt !== 'string') throw invalid('prompt', 'must be a string (one prompt per request)');
  return { ...generationRequest(b), prompt };
}

const ROLES: readonly string[] = ['system', 'user', 'assistant'];

/** POST /v1/chat/completions: `messages` with roles system/user/assistant and text content. */
export function chatRequest(body: unknown): ChatRequest {
  const b = requestObject(body);
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw invalid('messages', 'must be a non-empty list of {"role", "content"}');
  const messages = b.messages.map((m: unknown, i: number): ChatMessage => {
    const param = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw invalid(param, 'must be an object with "role" and "content"');
    const { role, content } = m as Body;
    if (typeof role !== 'string' || !ROLES.includes(role)) throw invalid(`${param}.role`, `must be system, user or assistant, got ${JSON.stringify(role)}`);
    return { role: role as ChatRole, content: messageText(content, `${param}.content`) };
  });
  return { ...generationRequest(b), messages };
}

/** A message's content: a string, or a list of `{"type": "text", "text"}` parts joined. */
function messageText(content: unknown, param: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts = content.map((p: unknown) => (typeof p === 'object' && p !== null && (p as Body).type === 'text' && typeof (p as Body).text === 'string' ? ((p as Body).text as string) : null));
    if (texts.every((t) => t !== null)) return texts.join('');
  }
  throw invalid(param, 'must be a string or a list of {"type": "text", "text": "..."} parts');
}
