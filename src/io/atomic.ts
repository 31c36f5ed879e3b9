// Atomic file writes: a temp file beside the target, fsync, optional verification, rename. A
// crash leaves either the old file or the new one, never half of one; a temp file left by a
// killed writer is removed by the next write of the same target (or `removeStaleTemps`).
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TEMP_PATTERN = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

/** A temp path beside `path` (so that the final rename stays on one file system), named for this process. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

/** True while a process with this id exists (on this machine). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Delete the temp files in `dir` that writers which no longer run left behind (of every target,
 * or only of `target`'s base name). Returns the paths removed.
 */
export function removeStaleTemps(dir: string, target?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_PATTERN.exec(name);
    if (!m || (target !== undefined && m[1] !== target)) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || isProcessAlive(pid)) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

export interface AtomicWriteOptions {
  /** Called with the temp file once it is written and synced; throwing abandons the write (the target is untouched). */
  verify?: (tempPath: string) => void;
  /** Before the rename, move the file being replaced to this path: the last good copy stays on disk. */
  keepPreviousAs?: string;
}

/**
 * Write `chunks` to `path` atomically: write a temp file beside it, fsync, verify, then rename
 * over the target.
 */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[], opts: AtomicWriteOptions = {}): void {
  removeStaleTemps(dirname(path), basename(path));
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const chunk of chunks) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    opts.verify?.(tmp);
    if (opts.keepPreviousAs !== undefined && existsSync(path)) renameSync(path, opts.keepPreviousAs);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(dirname(path));
}

/** fsync a folder so that a rename in it survives a power cut (a no-op where folders cannot be opened). */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    /* some file systems refuse fsync on folders */
  } finally {
    closeSync(fd);
  }
}

/** Atomically write UTF-8 text. */
export function writeTextAtomic(path: string, text: string): void {
  writeFileAtomic(path, [new TextEncoder().encode(text)]);
}
