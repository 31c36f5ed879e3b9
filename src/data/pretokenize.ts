/**
 * Text splitting shared by the BPE tokenizers and the corpus readers: GPT-2's pre-token
 * pattern, special-token splitting, and safe places to cut a long document into pieces.
 */

/**
 * GPT-2's pre-tokenization pattern. Its alternatives cover every code point (letters,
 * numbers, whitespace, everything else), so concatenating the matches gives back the text.
 */
export const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/**
 * GPT-2's pattern with every Han character a pre-token of its own (with the space before it, if
 * any): `ternlm tokenizer train --split-han`. Chinese has no spaces, so GPT-2's ` ?\p{L}+` takes a
 * whole clause as one pre-token, and the distinct pre-tokens grow with the corpus (306,141 in the
 * 8.9 MB of ../shared/data/chinese; a JavaScript Map holds at most 2^24, reached near 0.5 GB).
 * Split, Chinese gets a character-level vocabulary (as BERT's Chinese tokenizer has) and the
 * counting table stays the size of the character set. Text without Han characters splits exactly
 * as with GPT-2's pattern, and the matches still cover every code point.
 */
export const HAN_SPLIT_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{Script=Han}| ?(?:(?!\p{Script=Han})\p{L})+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/** A fresh global, Unicode-aware RegExp for `pattern` (RegExps with /g carry state). */
export function pretokenRegExp(pattern: string = GPT2_PATTERN): RegExp {
  return new RegExp(pattern, 'gu');
}

export const EOT_TEXT = '<|endoftext|>';

/**
 * Call `onText` for the ordinary text between occurrences of the special tokens and
 * `onSpecial` for each occurrence, in order. Empty text pieces are skipped.
 */
export function splitOnSpecials(
  text: string,
  specials: readonly string[],
  onText: (piece: string) => void,
  onSpecial: (special: string) => void,
): void {
  let start = 0;
  for (;;) {
    let best = -1;
    let which = '';
    for (const s of specials) {
      const at = text.indexOf(s, start);
      if (at !== -1 && (best === -1 || at < best)) {
        best = at;
        which = s;
      }
    }
    if (best === -1) break;
    if (best > start) onText(text.slice(start, best));
    onSpecial(which);
    start = best + which.length;
  }
  if (start < text.length) onText(start === 0 ? text : text.slice(start));
}

function isWhitespaceCode(c: number): boolean {
  // The ASCII and common Unicode whitespace that `\s` matches; a miss here only makes a cut
  // less exact, never lossy.
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000 || c === 0x2028 || c === 0x2029 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0xfeff || c === 0x85;
}

/**
 * An index in (0, text.length) at or before `limit` where `text` can be cut into two pieces
 * that pre-tokenize (GPT-2 pattern, or split-at-space sentencepiece) exactly as the whole
 * would: before the last '\n' of a whitespace run that is followed by a non-space character,
 * or else before a ' ' between two non-space characters. Falls back to a code-point boundary
 * near `limit` (lossless, but the tokens at that cut may differ from an uncut encode).
 */
export function safeCutPoint(text: string, limit: number): number {
  limit = Math.min(limit, text.length - 2);
  // Search back at most 1/4 of the window for a newline cut, then for a space cut.
  const floor = Math.max(1, limit - Math.max(1, limit >> 2));
  for (let i = limit; i >= floor; i--) {
    if (text.charCodeAt(i) === 10 && !isWhitespaceCode(text.charCodeAt(i + 1))) return i;
  }
  for (let i = limit; i >= floor; i--) {
    if (text.charCodeAt(i) === 32 && !isWhitespaceCode(text.charCodeAt(i - 1)) && !isWhitespaceCode(text.charCodeAt(i + 1))) return i;
  }
  // Never cut between the two halves of a surrogate pair.
  const c = text.charCodeAt(limit);
  return c >= 0xdc00 && c <= 0xdfff ? limit - 1 : limit;
}
