import { TernlmError } from '../core/errors.js';
import type { InputFile } from './inputs.js';
import { EOT_TEXT, safeCutPoint } from './pretokenize.js';
import { readJsonlRecords, readParquetRecords } from './records.js';
import { readTextChunks } from './utf8.js';

/**
 * Corpus readers: turn .txt, .jsonl and .parquet files into a stream of document pieces,
 * reading in bounded chunks so memory stays flat however large the input. A document longer
 * than `maxPieceChars` arrives as several pieces, cut where tokenization is unaffected
 * (see `safeCutPoint`).
 */

export interface DocumentPiece {
  text: string;
  /** True for the first piece of a document. */
  docStart: boolean;
}

/** How a .txt file is split into documents. */
export type Separator =
  | { kind: 'auto' }
  | { kind: 'literal'; text: string }
  | { kind: 'blank-line' }
  | { kind: 'line' }
  | { kind: 'single-newline' }
  | { kind: 'none' };

/**
 * Parse `--separator`: auto | blank-line | line | single-newline | none | eot | any literal
 * string (\n, \t escapes). `single-newline` splits at a line break between two non-blank lines,
 * for files that put one document per line group with blank lines between its paragraphs.
 */
export function parseSeparator(s: string): Separator {
  switch (s) {
    case 'auto':
    case 'blank-line':
    case 'line':
    case 'single-newline':
    case 'none':
      return { kind: s };
    case 'eot':
      return { kind: 'literal', text: EOT_TEXT };
    default:
      if (s.length === 0) throw new TernlmError('--separator must not be empty — use none to keep each file whole');
      return { kind: 'literal', text: s.replace(/\\n/g, '\n').replace(/\\t/g, '\t') };
  }
}

/** A line break followed by one or more blank (empty or whitespace-only) lines. */
const BLANK_LINES = /\r?\n(?:[ \t]*\r?\n)+/g;

/** Inside a document: each run of blank lines becomes one line break. */
export function collapseBlankLines(text: string): string {
  return text.replace(BLANK_LINES, '\n');
}

export function describeSeparator(s: Separator): string {
  return s.kind === 'literal' ? JSON.stringify(s.text) : s.kind;
}

/**
 * The separator `auto` picks from a file's first chunk: `<|endoftext|>` if it occurs,
 * otherwise blank lines if there are any, otherwise one document per line.
 */
export function resolveAutoSeparator(head: string): Separator {
  if (head.includes(EOT_TEXT)) return { kind: 'literal', text: EOT_TEXT };
  if (/\n[ \t]*\r?\n/.test(head)) return { kind: 'blank-line' };
  return { kind: 'line' };
}

export interface ReadOptions {
  separator: Separator;
  textField: string;
  /** Longest piece handed on (UTF-16 code units); default 1 MiB. */
  maxPieceChars?: number;
  /** Bytes per file read; default 1 MiB. */
  chunkBytes?: number;
  /** Called with the number of input bytes consumed since the last call. */
  onBytes?: (n: number) => void;
  /** Called once per file with the separator used for it (.txt only). */
  onSeparator?: (s: Separator) => void;
}

const DEFAULT_PIECE_CHARS = 1 << 20;

/** All document pieces of one input file, in order. */
export function readDocuments(file: InputFile, opts: ReadOptions): AsyncGenerator<DocumentPiece> {
  switch (file.format) {
    case 'txt':
      return readTextFile(file.path, opts);
    case 'jsonl':
      return readJsonlFile(file.path, opts);
    case 'parquet':
      return readParquetFile(file.path, opts);
  }
}

const isBlank = (s: string): boolean => !/\S/.test(s);

/**
 * Splits a stream of text into document pieces at a separator. Text is held only until its
 * document ends or it exceeds `maxPieceChars`, when a piece is cut off at a safe point.
 */
export class DocumentSplitter {
  private pending = '';
  /** Whether a piece of the current document was already emitted. */
  private inDoc = false;
  private searchFrom = 0;
  private readonly re: RegExp | undefined;

  constructor(
    private readonly separator: Exclude<Separator, { kind: 'auto' }>,
    private readonly maxPieceChars = DEFAULT_PIECE_CHARS,
  ) {
    if (separator.kind === 'blank-line') this.re = new RegExp(BLANK_LINES);
    else if (separator.kind === 'line') this.re = /\r?\n/g;
    else if (separator.kind === 'single-newline') this.re = /(?<!\n[ \t]*\r?)\r?\n(?![ \t]*\r?\n)/g;
  }

  /** Feed more text; returns the pieces now complete. */
  push(text: string, out: DocumentPiece[] = []): DocumentPiece[] {
    this.pending += text;
    this.splitComplete(false, out);
    while (this.pending.length > this.maxPieceChars) {
      const cut = safeCutPoint(this.pending, this.maxPieceChars);
      this.emit(this.pending.slice(0, cut), false, out);
      this.pending = this.pending.slice(cut);
    }
    // A separator may straddle the next chunk boundary: re-scan the tail next time.
    this.searchFrom = Math.max(0, this.pending.length - 256);
    return out;
  }

  /** Flush the last document at the end of the input. */
  end(out: DocumentPiece[] = []): DocumentPiece[] {
    this.splitComplete(true, out);
    this.emit(this.pending, true, out);
    this.pending = '';
    return out;
  }

  /**
   * Emit every document whose separator is in `pending`. A pattern separator followed only
   * by spaces up to the end of the text so far might grow with the next chunk, so it waits
   * unless `final`.
   */
  private splitComplete(final: boolean, out: DocumentPiece[]): void {
    for (;;) {
      const m = this.findSeparator();
      if (m === null || (!final && this.re !== undefined && /^[ \t\r]*$/.test(this.pending.slice(m[1])))) break;
      this.emit(this.pending.slice(0, m[0]), true, out);
      this.pending = this.pending.slice(m[1]);
      this.searchFrom = 0;
    }
  }

  /** [start, end) of the next separator in `pending`, or null. */
  private findSeparator(): [number, number] | null {
    const s = this.separator;
    if (s.kind === 'none') return null;
    if (s.kind === 'literal') {
      const at = this.pending.indexOf(s.text, this.searchFrom);
      return at === -1 ? null : [at, at + s.text.length];
    }
    const re = this.re!;
    re.lastIndex = this.searchFrom;
    const m = re.exec(this.pending);
    return m === null ? null : [m.index, m.index + m[0].length];
  }

  private emit(text: string, docEnds: boolean, out: DocumentPiece[]): void {
    const docStart = !this.inDoc;
    if (docStart) text = text.replace(/^[\r\n]+/, '');
    if (docEnds) text = text.replace(/[\r\n]+$/, '');
    const wholeBlankDoc = docStart && docEnds && isBlank(text);
    if (text.length > 0 && !wholeBlankDoc) {
      out.push({ text, docStart });
      this.inDoc = !docEnds;
    } else if (docEnds) {
      this.inDoc = false;
    }
  }
}

async function* readTextFile(path: string, opts: ReadOptions): AsyncGenerator<DocumentPiece> {
  let splitter: DocumentSplitter | undefined;
  const out: DocumentPiece[] = [];
  for await (const text of readTextChunks(path, opts)) {
    if (splitter === undefined) {
      const sep = opts.separator.kind === 'auto' ? resolveAutoSeparator(text) : opts.separator;
      opts.onSeparator?.(sep);
      splitter = new DocumentSplitter(sep as Exclude<Separator, { kind: 'auto' }>, opts.maxPieceChars);
    }
    splitter.push(text, out);
    yield* out;
    out.length = 0;
  }
  if (splitter) yield* splitter.end(out);
}

/** Split one long document into pieces of at most `maxChars` at safe points. */
export function* pieces(text: string, maxChars = DEFAULT_PIECE_CHARS): Generator<DocumentPiece> {
  let docStart = true;
  while (text.length > maxChars) {
    const cut = safeCutPoint(text, maxChars);
    yield { text: text.slice(0, cut), docStart };
    docStart = false;
    text = text.slice(cut);
  }
  if (text.length > 0) yield { text, docStart };
}

async function* readJsonlFile(path: string, opts: ReadOptions): AsyncGenerator<DocumentPiece> {
  const field = opts.textField;
  for await (const { where, record } of readJsonlRecords(path, opts)) {
    if (!(field in record)) throw new TernlmError(`${where} has no field "${field}" — pass --text-field with the name of the text field`);
    const text = record[field];
    if (text === null) continue; // a missing value: no document
    if (typeof text !== 'string') throw new TernlmError(`${where} field "${field}" is a ${typeof text}, not a string`);
    yield* pieces(text, opts.maxPieceChars);
  }
}

async function* readParquetFile(path: string, opts: ReadOptions): AsyncGenerator<DocumentPiece> {
  for await (const { where, record } of readParquetRecords(path, [opts.textField], { ...opts, missingHint: 'pass --text-field' })) {
    const text = record[opts.textField];
    if (text === null || text === undefined) continue;
    if (typeof text !== 'string') throw new TernlmError(`${where}: column "${opts.textField}" is not a string column`);
    yield* pieces(text, opts.maxPieceChars);
  }
}
