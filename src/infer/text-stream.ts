// Token ids in, text out as soon as it is complete: a character whose UTF-8 bytes are split
// over several tokens is held back until its last byte arrives.
import type { Tokenizer } from '../data/tokenizer.js';

export class TokenTextStream {
  private readonly decoder = new TextDecoder('utf-8');
  /** Without `decodeToken`: every id so far, re-decoded each time, and the text already given out. */
  private readonly ids: number[] = [];
  private emitted = 0;

  /** `prevId`: the token before the first one pushed (tokenizers drop a space after BOS). */
  constructor(private readonly tokenizer: Tokenizer, private prevId?: number) {}

  /** Text completed by token `id` (may be empty). */
  push(id: number): string {
    const t = this.tokenizer;
    if (t.decodeToken) {
      const text = this.decoder.decode(t.decodeToken(id, this.prevId), { stream: true });
      this.prevId = id;
      return text;
    }
    this.ids.push(id);
    const full = t.decode(this.ids);
    // A trailing U+FFFD may be a character still missing bytes: wait for the next token.
    let end = full.length;
    while (end > this.emitted && full.charCodeAt(end - 1) === 0xfffd) end--;
    const text = full.slice(this.emitted, end);
    this.emitted = end;
    return text;
  }

  /** Whatever is held back, at the end of the stream (incomplete bytes become U+FFFD). */
  flush(): string {
    if (this.tokenizer.decodeToken) return this.decoder.decode();
    const text = this.tokenizer.decode(this.ids).slice(this.emitted);
    this.emitted += text.length;
    return text;
  }
}
