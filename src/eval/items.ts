// The items of a task file: one JSON object per line of a .jsonl file, or one row of a
// .parquet file (the Hugging Face hub's format), with helpers that name the file and line of a
// field that is missing or of the wrong type.
import { TernlmError } from '../core/errors.js';
import type { InputFile } from '../data/inputs.js';
import { readJsonlRecords, readParquetRecords, type FileRecord } from '../data/records.js';

/**
 * Every record of the files, in order; `required` are the columns a .parquet file must have,
 * `optional` those read when it has them.
 */
export async function readItems(
  files: readonly InputFile[], required: readonly string[], optional: readonly string[], task: string,
): Promise<(FileRecord & { file: string })[]> {
  const items: (FileRecord & { file: string })[] = [];
  for (const file of files) {
    if (file.format === 'txt') throw new TernlmError(`${file.path}: ${task} reads .jsonl or .parquet files (one item per line or row), not text`);
    const records = file.format === 'jsonl' ? readJsonlRecords(file.path) : readParquetRecords(file.path, required, { optional });
    const before = items.length;
    for await (const r of records) items.push({ ...r, file: file.path });
    if (items.length === before) throw new TernlmError(`${file.path} has no items — it is empty`);
  }
  return items;
}

/** A non-empty string field of a record. */
export function stringField(r: FileRecord, name: string): string {
  const v = r.record[name];
  if (v === undefined || v === null) throw new TernlmError(`${r.where} has no field "${name}"`);
  if (typeof v !== 'string') throw new TernlmError(`${r.where}: field "${name}" is a ${Array.isArray(v) ? 'list' : typeof v}, not a string`);
  if (v.trim() === '') throw new TernlmError(`${r.where}: field "${name}" is empty`);
  return v;
}

/** An optional string field (absent or null -> undefined). */
export function optionalString(r: FileRecord, name: string): string | undefined {
  const v = r.record[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new TernlmError(`${r.where}: field "${name}" is a ${typeof v}, not a string`);
  return v;
}
