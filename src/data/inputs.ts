import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { globToRegExp, hasGlobChars } from './glob.js';

export type InputFormat = 'txt' | 'jsonl' | 'parquet';

export interface InputFile {
  path: string;
  format: InputFormat;
  bytes: number;
}

const EXTENSIONS: Record<string, InputFormat> = {
  '.txt': 'txt',
  '.text': 'txt',
  '.md': 'txt',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
};

/** The format of a file from its extension, or undefined when the extension is not known. */
export function formatOf(path: string): InputFormat | undefined {
  const dot = path.lastIndexOf('.');
  return dot === -1 ? undefined : EXTENSIONS[path.slice(dot).toLowerCase()];
}

function walk(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
}

/**
 * Expand command-line inputs into a sorted, de-duplicated file list. A file is taken as
 * given (unknown extensions are read as plain text); a directory contributes, recursively,
 * its .txt/.text/.md/.jsonl/.ndjson/.parquet files; a glob (`data/**\/*.jsonl`) its matches.
 */
export function expandInputs(inputs: readonly string[]): InputFile[] {
  const seen = new Set<string>();
  const files: InputFile[] = [];
  const add = (path: string, format: InputFormat): void => {
    if (seen.has(path)) return;
    seen.add(path);
    files.push({ path, format, bytes: statSync(path).size });
  };
  for (const input of inputs) {
    let st;
    try {
      st = statSync(input);
    } catch {
      st = undefined;
    }
    if (st?.isFile()) {
      add(input, formatOf(input) ?? 'txt');
    } else if (st?.isDirectory()) {
      const found: string[] = [];
      walk(input, found);
      const known = found.filter((p) => formatOf(p) !== undefined);
      if (known.length === 0) throw new TernlmError(`input directory ${input} has no .txt, .jsonl or .parquet files`);
      for (const p of known) add(p, formatOf(p)!);
    } else if (hasGlobChars(input)) {
      const matches = expandGlob(input);
      if (matches.length === 0) throw new TernlmError(`input pattern ${input} matches no files`);
      for (const p of matches) add(p, formatOf(p) ?? 'txt');
    } else {
      throw new TernlmError(`input ${input} does not exist`);
    }
  }
  return files;
}

/** Files matching a glob, walking from its longest literal directory prefix. */
function expandGlob(pattern: string): string[] {
  const parts = pattern.split(/[\\/]/);
  const firstGlob = parts.findIndex(hasGlobChars);
  const base = parts.slice(0, firstGlob).join(sep) || '.';
  const re = globToRegExp(parts.slice(firstGlob).join('/'));
  let found: string[] = [];
  try {
    walk(base, found);
  } catch {
    return [];
  }
  found = found.filter((p) => re.test(relative(base, p).split(sep).join('/')));
  return found.sort();
}
