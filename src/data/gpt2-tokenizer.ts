import r50k from 'gpt-tokenizer/encoding/r50k_base';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import type { Tokenizer } from './tokenizer.js';
import { EOT_TEXT, splitOnSpecials } from './pretokenize.js';

const EOT_ID = 50256;
const NO_SPECIALS = { disallowedSpecial: new Set<string>() };
const utf8 = new TextEncoder();

/**
 * OpenAI's GPT-2 byte-level BPE (r50k_base: 50,257 tokens, `<|endoftext|>` = 50256), via
 * gpt-tokenizer. The literal text `<|endoftext|>` encodes to the EOT id, as with tiktoken's
 * `allowed_special="all"`; everything else encodes as ordinary text.
 */
export class Gpt2Tokenizer implements Tokenizer {
  readonly kind = 'gpt2';
  readonly vocabSize = 50257;
  readonly eotId = EOT_ID;
  /** Raw bytes per token, built on first use of decodeToken. */
  private tokenBytes: Uint8Array[] | undefined;

  encode(text: string): number[] {
    if (!text.includes(EOT_TEXT)) return r50k.encode(text, NO_SPECIALS);
    const ids: number[] = [];
    splitOnSpecials(
      text,
      [EOT_TEXT],
      (piece) => {
        for (const id of r50k.encode(piece, NO_SPECIALS)) ids.push(id);
      },
      () => ids.push(EOT_ID),
    );
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    return r50k.decode(Array.from(ids));
  }

  decodeToken(id: number): Uint8Array {
    this.tokenBytes ??= r50kRanks.map((t) => (typeof t === 'string' ? utf8.encode(t) : Uint8Array.from(t)));
    if (id === EOT_ID) return utf8.encode(EOT_TEXT);
    const bytes = this.tokenBytes[id];
    if (!bytes) throw new RangeError(`GPT-2 token id ${id} is out of range [0, ${this.vocabSize})`);
    return bytes;
  }

  toJSON(): object {
    return { kind: 'gpt2', encoding: 'r50k_base', vocabSize: this.vocabSize, eotId: this.eotId };
  }
}
