import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** A temp path beside `path`, so that the final rename stays on one file system. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

/**
 * Write `chunks` to `path` atomically: write a temp file beside it, fsync, then rename over
 * the target. A crash leaves either the old file or the new one, never half of one.
 */
export function writeFileAtomic(path: string, ...chunks: Uint8Array[]): void {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'w');
  try {
    for (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/** Atomically write UTF-8 text. */
export function writeTextAtomic(path: string, text: string): void {
  writeFileAtomic(path, new TextEncoder().encode(text));
}
