// The built-in demo corpus as a file, so that `ternlm train` with no arguments has something to
// learn without a download. The stories themselves come from story-generator.ts.
import { join } from 'node:path';
import { writeTextAtomic } from '../io/atomic.js';
import { ensureDir } from '../io/fs.js';
import { generateStories, storiesText } from './story-generator.js';

export { generateStories };

export interface DemoCorpusOptions {
  /** Number of stories (default 20,000: about 7.5 MB of text, 420 distinct words). */
  stories?: number;
  /** Default 1. */
  seed?: number;
}

/**
 * Write `dir/demo-stories.txt`: the stories, each followed by a line holding `<|endoftext|>`
 * (the layout of TinyStories, which `ternlm prepare --separator auto` splits on).
 */
export function writeDemoCorpus(dir: string, opts: DemoCorpusOptions = {}): { path: string; bytes: number } {
  const stories = generateStories(opts.stories ?? 20_000, opts.seed ?? 1);
  ensureDir(dir);
  const path = join(dir, 'demo-stories.txt');
  const text = storiesText(stories);
  writeTextAtomic(path, text);
  return { path, bytes: Buffer.byteLength(text, 'utf8') };
}
