import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/data beside the repository (compiled tests live in dist/test/data/). */
export const SHARED_DATA = fileURLToPath(new URL('../../../../shared/data/', import.meta.url));
export const LLAMA2C_TOKENIZER = join(SHARED_DATA, 'models/llama2c/tok512.bin');

/** Skip reason for tests that need a file from ../shared/data, or false when it is there. */
export function needsShared(path: string): string | false {
  return existsSync(path) ? false : `needs ${path} (the shared data folder beside the repository) — absent here`;
}

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'ternlm-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Mixed-script sample text written for these tests. */
export const SAMPLE_TEXT = [
  'The little robot counted the apples twice, because the first count felt wrong.',
  "It's raining again; we'll stay in and read the old map we found in the attic.",
  '小猫在窗台上睡觉，阳光照在它的背上。我们明天去公园散步吧！',
  'Emoji weather report: ☀️ then 🌧️, later 🌈 — bring an umbrella 🌂.',
  'Numbers 12345 and 3.14159, tabs\tand  double  spaces, a trailing newline\n',
  'Ünïcödé façade, naïve café, Ελληνικά, русский текст, עברית, हिन्दी.',
].join('\n');
