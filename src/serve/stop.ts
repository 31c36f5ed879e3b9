// Stop strings over streamed text: text is let out as soon as it can no longer be the start
// of a stop string; at the first stop string found, everything from it on is dropped.

export class StopMatcher {
  /** Text received but not yet let out: it ends with what may be the start of a stop string. */
  private held = '';
  private stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** True once a stop string has been seen; later pieces are ignored. */
  get done(): boolean {
    return this.stopped;
  }

  /** Add a piece of generated text; returns the text that may be sent now (may be empty). */
  push(piece: string): string {
    if (this.stopped) return '';
    const text = this.held + piece;
    let cut = -1;
    for (const s of this.stops) {
      const at = text.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.stopped = true;
      this.held = '';
      return text.slice(0, cut);
    }
    // Hold back the longest tail of `text` that is a proper prefix of some stop string.
    let keep = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
        if (text.endsWith(s.slice(0, n))) {
          keep = n;
          break;
        }
      }
    }
    this.held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** The text still held back, at the end of generation (none after a stop string). */
  flush(): string {
    const text = this.held;
    this.held = '';
    return text;
  }
}
