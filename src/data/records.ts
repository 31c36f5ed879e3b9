// Records (JSON objects) of a .jsonl file, line by line, or of a .parquet file, row by row, each
// with the place it came from for error messages: `file:line` or `file row N`.
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { TernlmError } from '../core/errors.js';
import { readTextChunks } from './utf8.js';

export interface FileRecord {
  /** Where the record is, for messages: `data.jsonl:12` or `data.parquet row 11`. */
  where: string;
  record: Record<string, unknown>;
}

/** Every non-blank line of a .jsonl file as an object; a line that is not one is an error naming it. */
export async function* readJsonlRecords(path: string, opts: { onBytes?: (n: number) => void } = {}): AsyncGenerator<FileRecord> {
  let pending = '';
  let lineNo = 0;
  const parse = (line: string): FileRecord | null => {
    lineNo++;
    if (!/\S/.test(line)) return null;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new TernlmError(`${path}:${lineNo} is not valid JSON (${(err as Error).message}) — each line of a .jsonl file must be one JSON object`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new TernlmError(`${path}:${lineNo} is not a JSON object — each line of a .jsonl file must be one`);
    return { where: `${path}:${lineNo}`, record: row as Record<string, unknown> };
  };
  for await (const text of readTextChunks(path, opts)) {
    pending += text;
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
      const r = parse(pending.slice(start, nl));
      if (r) yield r;
      start = nl + 1;
    }
    pending = pending.slice(start);
  }
  const r = parse(pending);
  if (r) yield r;
}

/**
 * The rows of a .parquet file as objects of the named columns (each must exist; `missingHint`
 * ends the error when one does not) and of the `optional` ones the file has, a row group at a time.
 */
export async function* readParquetRecords(
  path: string, required: readonly string[],
  opts: { optional?: readonly string[]; missingHint?: string; onBytes?: (n: number) => void } = {},
): AsyncGenerator<FileRecord> {
  let file;
  let metadata;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (err) {
    throw new TernlmError(`${path} is not a readable Parquet file (${(err as Error).message})`);
  }
  const present = metadata.schema.slice(1).map((s) => s.name);
  const missing = required.filter((c) => !present.includes(c));
  if (missing.length > 0) throw new TernlmError(`${path} has no column ${missing.map((c) => `"${c}"`).join(', ')} (columns: ${present.join(', ')})${opts.missingHint ? ` — ${opts.missingHint}` : ''}`);
  const columns = [...required, ...(opts.optional ?? []).filter((c) => present.includes(c) && !required.includes(c))];
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    let rows: unknown[][] = [];
    await parquetRead({ file, metadata, columns, rowStart, rowEnd, onComplete: (r: unknown[][]) => (rows = r) });
    for (let i = 0; i < rows.length; i++) {
      yield { where: `${path} row ${rowStart + i}`, record: Object.fromEntries(columns.map((c, k) => [c, rows[i][k]])) };
    }
    opts.onBytes?.(Number(group.total_compressed_size ?? group.total_byte_size));
    rowStart = rowEnd;
  }
}
